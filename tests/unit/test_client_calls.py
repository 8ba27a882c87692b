"""The client's single calls against a scripted transport: credits, fresh links, notify, task requests, batches."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kiecore.client import Client, _request_fields
from kiecore.errors import DeadlineExceededError, InvalidParameterError, ServerError, UsageError
from kiecore.events import RetryEvent
from kiecore.journal import Journal
from kiecore.model import GenerationRequest, GenerationResult, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.naming import Naming
from kiecore.registry import Registry
from kiecore.testing.scripted import Script, ScriptedTransport
from tests.unit.test_client_policy import CREATE, STATUS, handle, ok

CREDIT = ("GET", "/api/v1/chat/credit")
FOUR_O_CREATE = ("POST", "/api/v1/gpt4o-image/generate")
FOUR_O_STATUS = ("GET", "/api/v1/gpt4o-image/record-info")
RUNNING = ok({"state": "generating", "resultJson": ""})
SUCCEEDED = ok({"state": "success", "resultJson": '{"resultUrls": ["https://cdn.example/a.png"]}'})


class Recording(ScriptedTransport):
    """A scripted transport that also keeps the keyword arguments of every send."""

    def __init__(self, script: Script, *, base_url: str = "https://kie.test") -> None:
        super().__init__(script, base_url=base_url)
        self.options: list[dict[str, Any]] = []

    def send(self, request: Any, **options: Any) -> Any:
        self.options.append(options)
        return super().send(request, **options)


class Hooked(Recording):
    """A recording transport that runs ``before_send`` (once) when the next request is sent."""

    before_send: Callable[[], object] | None = None

    def send(self, request: Any, **options: Any) -> Any:
        hook, self.before_send = self.before_send, None
        if hook is not None:
            hook()
        return super().send(request, **options)


def scripted(registry: Registry, script: Script, **options: Any) -> tuple[Client, Recording]:
    """A client of ``script`` polling at once (no rate limits), and its transport."""
    transport = Recording(script)
    settings: dict[str, Any] = {"rate_limits": None, "poll_interval": 0.01, **options}
    return Client(transport=transport, registry=registry, **settings), transport


# -- credits and fresh links ---------------------------------------------------------------------------------------


def test_credits_are_one_idempotent_query_in_the_clients_profile_within_the_deadline(
    sample_registry: Registry,
) -> None:
    kie, transport = scripted(sample_registry, {CREDIT: [ok(60.62)]}, profile="reference")
    assert kie.credits(deadline=12.5) == Decimal("60.62")
    ((request, idempotent),) = transport.requests
    assert (request.method, request.path, request.body, idempotent) == ("GET", "/api/v1/chat/credit", None, True)
    assert transport.options == [{"profile": Profile.REFERENCE, "idempotent": True, "deadline": 12.5}]


def test_a_fresh_link_is_asked_for_the_tasks_result_by_its_dialect(sample_registry: Registry) -> None:
    link = ("POST", "/api/v1/gpt4o-image/download-url")
    kie, transport = scripted(sample_registry, {link: [ok("https://cdn.example/fresh.png")]})
    task = TaskHandle(model="test/4o", task_id="g7", submitted_at=0.0)
    assert kie.fresh_link(task, "https://cdn.example/old.png") == "https://cdn.example/fresh.png"
    (sent,) = transport.sent(*link)
    assert sent.body == {"taskId": "g7", "url": "https://cdn.example/old.png"}


# -- notify -------------------------------------------------------------------------------------------------------


def test_notify_is_false_for_a_task_nobody_waits_for(sample_registry: Registry) -> None:
    kie, transport = scripted(sample_registry, {})
    with kie:
        assert kie.notify("t1") is False
    assert transport.requests == []


def test_notify_pokes_a_task_being_waited_for(sample_registry: Registry) -> None:
    kie, _ = scripted(sample_registry, {STATUS: [RUNNING]}, poll_interval=2.0)
    with kie:
        waiting = kie.start_wait(handle(), 30.0, None)
        try:
            assert kie.notify("t1") is True
            assert kie.notify("t2") is False
        finally:
            waiting.cancel()


# -- task requests ------------------------------------------------------------------------------------------------


def test_task_requests_split_a_prompt_into_one_request_per_task(sample_registry: Registry) -> None:
    kie, transport = scripted(sample_registry, {})
    assert kie.task_requests("test/flux", "a fox", num_images=3) == (GenerationRequest(prompt="a fox"),) * 3
    assert kie.task_requests("test/market", "a fox", num_images=3) == (GenerationRequest(prompt="a fox", num_images=3),)
    assert transport.requests == []


def test_task_requests_take_a_whole_request_with_fields_overridden(sample_registry: Registry) -> None:
    kie, _ = scripted(sample_registry, {})
    asked = GenerationRequest(prompt="a cat", num_images=2, seed=1)
    assert kie.task_requests("test/flux", asked, seed=4) == (GenerationRequest(prompt="a cat", seed=4),) * 2
    assert kie.task_requests("test/market", prompt=None, num_images=1) == (GenerationRequest(num_images=1),)


def test_task_requests_use_the_profile_asked_for_else_the_clients(sample_registry: Registry) -> None:
    kie, _ = scripted(sample_registry, {}, profile="reference")
    assert (
        kie.task_requests("test/flux", "a fox", num_images=2, profile="live")
        == (GenerationRequest(prompt="a fox"),) * 2
    )
    with pytest.raises(LookupError, match="test/flux has no reference profile"):
        kie.task_requests("test/flux", "a fox", num_images=2)
    with pytest.raises(LookupError, match="test/flux has no reference profile"):
        scripted(sample_registry, {})[0].task_requests("test/flux", "a fox", num_images=2, profile="reference")


# -- generate_many ------------------------------------------------------------------------------------------------


def test_the_request_fields_of_a_batch_item_leave_its_options_out() -> None:
    item = {"model": "test/market", "prompt": "a fox", "seed": 3, "output_dir": "out", "download": False}
    assert _request_fields(item) == {"seed": 3, "prompt": "a fox"}
    assert _request_fields({"model": "test/market", "aspect_ratio": "1:1", "item_key": "k"}) == {"aspect_ratio": "1:1"}


def test_a_batch_items_whole_request_gives_its_fields_and_the_items_own_override_them() -> None:
    asked = GenerationRequest(prompt="a cat", seed=1, image_urls=("https://img.example/a.png",))
    fields = _request_fields({"model": "m", "prompt": asked, "seed": 2})
    assert GenerationRequest(**fields) == GenerationRequest(prompt="a cat", seed=2, image_urls=asked.image_urls)
    assert fields["image_urls"] == ("https://img.example/a.png",)  # the request's own values, as they are


def test_a_bad_batch_item_is_refused_with_its_index_before_anything_is_sent(sample_registry: Registry) -> None:
    kie, transport = scripted(sample_registry, {CREATE: [ok({"taskId": "m1"})]})
    items = [
        {"model": "test/market", "prompt": "a fox", "download": False},
        {"model": "test/market", "prompt": "a fox", "aspect_ratio": "7:3", "download": False},
    ]
    with pytest.raises(InvalidParameterError, match=r"^item 1: .*aspect_ratio") as caught:
        next(kie.generate_many(items))
    assert type(caught.value) is InvalidParameterError
    assert (caught.value.parameter, caught.value.value, caught.value.common) == ("image_size", "7:3", "aspect_ratio")
    assert transport.requests == []


def batch_script() -> Script:
    """A quick task of test/market and a test/4o task that never finishes."""
    return {
        CREATE: [ok({"taskId": "m1"})],
        STATUS: [SUCCEEDED],
        FOUR_O_CREATE: [ok({"taskId": "g1"})],
        FOUR_O_STATUS: [ok({"taskId": "g1", "successFlag": 0, "status": "GENERATING", "progress": "0.1"})],
    }


BATCH = [
    {"model": "test/4o", "prompt": GenerationRequest(prompt="slow"), "download": False, "timeout": 0.05},
    {"model": "test/market", "prompt": "quick", "download": False},
]


def test_a_batch_yields_each_result_as_it_finishes(sample_registry: Registry) -> None:
    kie, transport = scripted(sample_registry, batch_script())
    with kie:
        outcomes = list(kie.generate_many(BATCH))
    assert [index for index, _ in outcomes] == [1, 0]
    (_, quick), (_, slow) = outcomes
    assert isinstance(quick, GenerationResult) and quick.handle.task_id == "m1"
    assert quick.status.state is TaskState.SUCCEEDED and quick.files == ()
    assert isinstance(slow, DeadlineExceededError) and "g1" in str(slow)
    assert [r.body["input"]["prompt"] for r in transport.sent(*CREATE)] == ["quick"]
    assert [r.body["prompt"] for r in transport.sent(*FOUR_O_CREATE)] == ["slow"]


def test_an_ordered_batch_yields_in_the_order_given(sample_registry: Registry) -> None:
    kie, _ = scripted(sample_registry, batch_script())
    with kie:
        outcomes = list(kie.generate_many(BATCH, ordered=True))
    assert [(index, type(outcome)) for index, outcome in outcomes] == [
        (0, DeadlineExceededError),
        (1, GenerationResult),
    ]


# -- submit and wait -----------------------------------------------------------------------------------------------


def test_submit_sends_a_whole_request_with_fields_overridden_in_the_profile_asked_for(
    sample_registry: Registry,
) -> None:
    reference_create = ("POST", "/api/v1/test/market")
    kie, transport = scripted(sample_registry, {reference_create: [ok({"taskId": "r1"})]})
    task = kie.submit("test/market", GenerationRequest(prompt="a fox", num_images=2), profile="reference", num_images=3)
    assert (task.model, task.task_id, task.profile) == ("test/market", "r1", Profile.REFERENCE)
    (sent,) = transport.sent(*reference_create)
    assert sent.body == {"prompt": "a fox", "num_images": 3}


def test_wait_reports_each_status_and_each_retry_of_its_queries(sample_registry: Registry) -> None:
    kie, transport = scripted(sample_registry, {STATUS: [ServerError("boom", code=500), RUNNING, SUCCEEDED]})
    seen: list[TaskStatus] = []
    retries: list[RetryEvent] = []
    with kie:
        status = kie.wait(handle(), timeout=5, on_status=seen.append, on_retry=retries.append)
    assert (status.state, status.urls) == (TaskState.SUCCEEDED, ("https://cdn.example/a.png",))
    assert [status.state for status in seen] == [TaskState.RUNNING, TaskState.SUCCEEDED]
    assert [(event.what, event.host, event.attempt) for event in retries] == [("query", "kie.test", 2)]
    assert len(transport.sent(*STATUS)) == 3


# -- start: what a generation is started with ----------------------------------------------------------------------


def test_a_generation_sends_a_whole_request_and_asks_kie_to_call_back_when_told(sample_registry: Registry) -> None:
    kie, transport = scripted(sample_registry, {CREATE: [ok({"taskId": "m1"})], STATUS: [SUCCEEDED]})
    with kie:
        done = kie.generate(
            "test/market",
            GenerationRequest(prompt="a fox", seed=5),
            callback_url="https://hooks.example/kie",
            download=False,
        )
    assert done.files == () and done.status.state is TaskState.SUCCEEDED
    (sent,) = transport.sent(*CREATE)
    assert sent.body == {
        "model": "test/market",
        "callBackUrl": "https://hooks.example/kie",
        "input": {"prompt": "a fox", "seed": 5, "style": "AUTO"},
    }


def test_a_generation_without_download_still_journals_its_naming_and_item_key(
    sample_registry: Registry, tmp_path: Path
) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        kie, _ = scripted(sample_registry, {CREATE: [ok({"taskId": "m1"})], STATUS: [SUCCEEDED]}, journal=journal)
        with kie:
            done = kie.start("test/market", "a fox", download=False, name="{prompt_slug}-{task}", item_key="row-1")
            assert done.result(timeout=5).handle.task_id == "m1"
        found = journal.find_item("row-1")
    assert found is not None and found.task_id == "m1"
    assert found.naming == Naming(template="{prompt_slug}-{task}") and found.output_dir is None


def test_an_exact_output_file_is_refused_where_it_cannot_work_before_anything_is_sent(
    sample_registry: Registry, tmp_path: Path
) -> None:
    kie, transport = scripted(sample_registry, {})
    with pytest.raises(UsageError) as nothing_saved:
        kie.start("test/market", "a fox", output_file=tmp_path / "pic.png", download=False)
    assert str(nothing_saved.value) == "-O (output_file) saves a file, and nothing is downloaded (--no-download)"
    with pytest.raises(UsageError) as two:
        kie.start("test/market", "a fox", output_file=tmp_path / "pic.png", num_images=2)
    assert str(two.value).startswith("-O (output_file) pic.png saves one image, and this request can make 2 images;")
    with pytest.raises(UsageError, match="not both"):
        kie.start("test/market", "a fox", output_file=tmp_path / "pic.png", name="{task}-x")
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"mine")
    with pytest.raises(UsageError) as exists:
        kie.start("test/market", "a fox", output_file=taken)
    assert str(exists.value) == f"{taken} already exists; not overwriting it (choose another -O file)"
    assert transport.requests == [] and taken.read_bytes() == b"mine"


def test_prepare_uses_the_profile_asked_for_else_the_clients_and_sends_nothing(sample_registry: Registry) -> None:
    kie, transport = scripted(sample_registry, {}, profile="reference")
    asked = kie.prepare("market", GenerationRequest(prompt="a fox", num_images=2), num_images=3)
    assert (asked.profile, asked.wire.path, asked.wire.body) == (
        Profile.REFERENCE,
        "/api/v1/test/market",
        {"prompt": "a fox", "num_images": 3},
    )
    live = kie.prepare("market", profile="live", prompt="a fox")
    assert (live.profile, live.model.spec.id, live.wire.path) == (
        Profile.LIVE,
        "test/market",
        "/api/v1/jobs/createTask",
    )
    assert live.request == GenerationRequest(prompt="a fox") and live.uploads == ()
    assert transport.requests == []


def ticking() -> Callable[[], float]:
    """A clock that is ten seconds later at every look: deadlines pass after a few queries, not in real time."""
    ticks = itertools.count(0.0, 10.0)
    return lambda: next(ticks)


def test_a_wait_ends_at_the_models_default_deadline_unless_told_another(sample_registry: Registry) -> None:
    kie, transport = scripted(sample_registry, {STATUS: [RUNNING]}, clock=ticking())
    with kie:
        with pytest.raises(DeadlineExceededError, match=r"did not finish within 180s") as caught:
            kie.wait(handle())
        assert caught.value.timeout == 180.0
        with pytest.raises(DeadlineExceededError, match=r"did not finish within 30s"):
            kie.wait(handle(), timeout=30)
        asked = len(transport.requests)
        with pytest.raises(UsageError) as refused:
            kie.wait(handle(), timeout=-1)
    assert str(refused.value) == "the timeout must be more than 0 seconds, not -1"
    assert len(transport.requests) == asked


def test_with_a_callback_url_the_first_query_waits_for_kies_call(sample_registry: Registry) -> None:
    now = [0.0]  # the engine's clock, moved by hand: nothing is queried before it says so
    script = {CREATE: [ok({"taskId": "m1"})], STATUS: [SUCCEEDED]}
    kie, transport = scripted(sample_registry, script, poll_interval=0.1, clock=lambda: now[0])
    with kie:
        future = kie.start("test/market", "a fox", callback_url="https://hooks.example/kie", download=False)
        for _ in range(200):
            if transport.sent(*CREATE):
                break
            time.sleep(0.001)
        now[0] = 0.05  # past the first query of a task without a callback (about 0.03 s after its create)
        time.sleep(0.05)  # the engine's next look at the clock
        assert transport.sent(*STATUS) == []
        assert kie.notify("m1") is True  # the callback came: query now
        assert future.result(timeout=5).status.state is TaskState.SUCCEEDED
    assert len(transport.sent(*STATUS)) == 1
