"""The client against the emulator: every dialect, both profiles, every injected fault."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import kiecore.client
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.errors import (
    AuthenticationError,
    DeadlineExceededError,
    DownloadError,
    InsufficientCreditsError,
    InvalidParameterError,
    InvalidRequestError,
    MissingAPIKeyError,
    NotFoundError,
    ParseError,
    SubmitUncertainError,
    TaskFailedError,
    UsageCapError,
    UsageError,
)
from kiecore.events import RetryEvent
from kiecore.model import Profile, TaskHandle, TaskState
from kiecore.registry import Registry
from kiecore.serialization import from_json, to_json
from kiecore.testing.endtoend import FAST_RETRY, check_image

KEY = "test-key"


def creates(emulator: Emulator) -> list[object]:
    return [r for r in emulator.requests if r.server == "api" and r.method == "POST"]


@pytest.mark.parametrize(
    ("model", "profile", "params", "count", "kind"),
    [
        ("test/market", Profile.LIVE, {"num_images": 2, "output_format": "jpeg"}, 2, "JPEG"),
        ("test/market", Profile.REFERENCE, {"num_images": 3}, 3, "PNG"),
        ("test/4o", Profile.LIVE, {"num_images": 2}, 2, "PNG"),
        ("test/flux", Profile.LIVE, {"aspect_ratio": "1:1"}, 1, "PNG"),
    ],
)
def test_generate_in_every_dialect(
    client: Client, tmp_path: Path, model: str, profile: Profile, params: dict[str, object], count: int, kind: str
) -> None:
    result = client.generate(model, "a red fox", output_dir=tmp_path, profile=profile, **params)
    assert result.status.state is TaskState.SUCCEEDED
    assert len(result.files) == count
    assert all(check_image(path) == kind for path in result.files)
    assert all(path.name.startswith(result.handle.task_id) for path in result.files)


def test_the_key_goes_only_to_the_api_host(client: Client, emulator: Emulator, tmp_path: Path) -> None:
    client.generate("test/market", "a red fox", output_dir=tmp_path, profile=Profile.REFERENCE)
    api = [r for r in emulator.requests if r.server == "api"]
    files = [r for r in emulator.requests if r.server == "files"]
    assert api and files
    assert all(r.headers.get("Authorization") == f"Bearer {KEY}" for r in api)
    assert all(r.headers.get("X-API-KEY") == KEY for r in api)
    assert not [r for r in files if any(KEY in value for value in r.headers.values())]


def test_progress_is_reported(client: Client, emulator: Emulator, tmp_path: Path) -> None:
    emulator.task_seconds = 0.6
    seen = []
    client.generate("test/4o", "a fox", output_dir=tmp_path, on_status=seen.append)
    states = [status.state for status in seen]
    assert states[-1] is TaskState.SUCCEEDED
    assert any(status.progress is not None and 0 <= status.progress < 1 for status in seen[:-1])


def test_a_handle_can_be_stored_and_resumed(
    client: Client, sample_registry: Registry, emulator: Emulator, tmp_path: Path
) -> None:
    handle = client.submit("market", prompt="a fox", profile="reference")
    stored = json.dumps(to_json(handle))
    with Client(api_key=KEY, base_url=emulator.base_url, registry=sample_registry, poll_interval=0.05) as other:
        resumed = from_json(TaskHandle, json.loads(stored))
        assert resumed == handle
        status = other.wait(resumed)
        assert other.download(resumed, status, tmp_path)
    assert len(emulator.tasks) == 1


@pytest.mark.parametrize(
    ("kind", "on", "times"),
    [
        ("rate_limit", "submit", 2),
        ("rate_limit", "status", 2),
        ("server_error", "status", 2),
        ("drop", "status", 2),
        ("non_json", "status", 2),
        ("invisible", "status", 3),
        ("server_error", "download", 2),
        ("drop", "download", 1),
        ("slow", "status", 1),
    ],
)
def test_recoverable_faults_are_survived_without_duplicates(
    client: Client, emulator: Emulator, tmp_path: Path, kind: str, on: str, times: int
) -> None:
    emulator.inject(kind, on=on, times=times, seconds=0.2)
    result = client.generate("test/market", "a fox", output_dir=tmp_path, num_images=2)
    assert len(result.files) == 2
    assert len(emulator.tasks) == 1
    assert emulator.faults.fired(kind) == times


@pytest.mark.parametrize("kind", ["drop", "drop_after_create"])
def test_a_lost_submit_answer_is_never_resubmitted(client: Client, emulator: Emulator, kind: str) -> None:
    emulator.inject(kind, on="submit")
    with pytest.raises(SubmitUncertainError, match="may have been created"):
        client.submit("test/market", prompt="a fox")
    assert len(creates(emulator)) == 1
    assert len(emulator.tasks) == (1 if kind == "drop_after_create" else 0)


@pytest.mark.parametrize("kind", ["non_json", "server_error"])
def test_an_unreadable_or_failed_submit_reply_is_not_resubmitted(client: Client, emulator: Emulator, kind: str) -> None:
    emulator.inject(kind, on="submit")
    with pytest.raises(SubmitUncertainError, match="may have been created"):
        client.submit("test/market", prompt="a fox")
    assert len(creates(emulator)) == 1


def test_a_failed_task_reports_kies_message(client: Client, emulator: Emulator, tmp_path: Path) -> None:
    emulator.inject("fail_task", message="Invalid prompt: prohibited content")
    with pytest.raises(TaskFailedError, match="prohibited content") as caught:
        client.generate("test/market", "a fox", output_dir=tmp_path)
    assert caught.value.exit_code == 4
    assert caught.value.status.state is TaskState.FAILED


@pytest.mark.parametrize("model", ["test/4o", "test/flux"])
def test_failed_tasks_in_the_dedicated_dialects(client: Client, emulator: Emulator, model: str) -> None:
    emulator.inject("fail_task")
    with pytest.raises(TaskFailedError):
        client.generate(model, "a fox", download=False)


@pytest.mark.parametrize(
    ("kind", "error"),
    [("auth", AuthenticationError), ("credits", InsufficientCreditsError), ("usage_cap", UsageCapError)],
)
def test_refusals_in_the_body_of_an_http_200(client: Client, emulator: Emulator, kind: str, error: type) -> None:
    emulator.inject(kind, on="submit")
    with pytest.raises(error) as caught:
        client.submit("test/market", prompt="a fox")
    assert caught.value.exit_code == 3
    assert KEY not in str(caught.value)


def test_a_task_invisible_beyond_the_grace_period_is_an_error(sample_registry: Registry, emulator: Emulator) -> None:
    emulator.inject("invisible", on="status", times=50)
    with Client(
        api_key=KEY,
        base_url=emulator.base_url,
        registry=sample_registry,
        poll_interval=0.05,
        visibility_grace=0.0,
        retry=FAST_RETRY,
    ) as client:
        handle = client.submit("test/market", prompt="a fox")
        with pytest.raises(InvalidRequestError, match="recordInfo is null"):
            client.wait(handle)


def test_the_deadline_is_kept(client: Client, emulator: Emulator) -> None:
    emulator.task_seconds = 30
    handle = client.submit("test/market", prompt="a fox")
    with pytest.raises(DeadlineExceededError, match=handle.task_id) as caught:
        client.wait(handle, timeout=0.5)
    assert caught.value.exit_code == 5


def test_bad_input_sends_nothing(client: Client, emulator: Emulator) -> None:
    with pytest.raises(InvalidParameterError):
        client.submit("test/market", prompt="a fox", aspect_ratio="7:3")
    with pytest.raises(InvalidParameterError):
        client.submit("test/flux", prompt="a fox", negative_prompt="blur")
    assert emulator.requests == []


def test_no_key_is_a_clear_usage_error(sample_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIE_API_KEY", raising=False)
    with Client(registry=sample_registry) as client, pytest.raises(MissingAPIKeyError, match="--emulator"):
        client.submit("test/market", prompt="a fox")


def test_the_key_is_never_sent_over_plain_http_to_a_remote_host(sample_registry: Registry) -> None:
    with (
        Client(api_key=KEY, base_url="http://api.example.com", registry=sample_registry) as client,
        pytest.raises(UsageError, match="plain http"),
    ):
        client.submit("test/market", prompt="a fox")


def test_existing_files_are_not_overwritten(client: Client, emulator: Emulator, tmp_path: Path) -> None:
    result = client.generate("test/flux", "a fox", output_dir=tmp_path)
    before = result.files[0].read_bytes()
    with pytest.raises(DownloadError, match="already exists"):
        client.download(result.handle, result.status, tmp_path)
    assert result.files[0].read_bytes() == before
    assert client.download(result.handle, result.status, tmp_path, if_exists="overwrite") == result.files
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


# -- edges: replies, keys, local checks (issue: edges) -------------------------------------------------


def test_a_status_reply_with_null_data_is_not_visible_yet_then_an_error(
    client: Client, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.inject("invisible", times=3, reply="null_data")
    result = client.generate("test/market", "a fox", output_dir=tmp_path)
    assert result.files and emulator.faults.fired("invisible") == 3
    client.visibility_grace = 0.0
    emulator.inject("invisible", times=1, reply="null_data")
    handle = client.submit("test/market", prompt="a fox")
    with pytest.raises(NotFoundError, match="no record"):
        client.status(handle)


def test_a_status_reply_about_another_task_is_a_parse_error(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = client.submit("test/market", prompt="a fox")
    real = client.transport.send

    def other_task(request: Any, **kwargs: Any) -> Any:
        reply = real(request, **kwargs)
        reply["data"]["taskId"] = "someone-elses-task"
        return reply

    monkeypatch.setattr(client.transport, "send", other_task)
    with pytest.raises(ParseError, match="another task"):
        client.status(handle)


def test_too_many_result_urls_are_refused(client: Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator.task_seconds = 0.0
    handle = client.submit("test/market", prompt="a fox")
    real = client.transport.send

    def flood(request: Any, **kwargs: Any) -> Any:
        reply = real(request, **kwargs)
        reply["data"]["resultJson"] = json.dumps({"resultUrls": [f"https://cdn.example/{n}.png" for n in range(65)]})
        return reply

    monkeypatch.setattr(client.transport, "send", flood)
    with pytest.raises(ParseError, match="65 result URLs"):
        client.status(handle)


@pytest.mark.parametrize("key", [f" {KEY}\n", f"{KEY}\r\n", f"\t{KEY} "])
def test_surrounding_white_space_is_stripped_from_the_key(
    emulator: Emulator, sample_registry: Registry, tmp_path: Path, key: str
) -> None:
    with Client(api_key=key, base_url=emulator.base_url, registry=sample_registry, poll_interval=0.05) as client:
        assert client.generate("test/market", "a fox", output_dir=tmp_path).files
    assert all(r.headers.get("Authorization") == f"Bearer {KEY}" for r in emulator.requests if r.server == "api")


@pytest.mark.parametrize("key", [f"{KEY}\rX", f"{KEY}\x00", f"a\nb{KEY}"])
def test_a_key_with_a_control_character_is_refused_before_anything_is_sent(
    emulator: Emulator, sample_registry: Registry, tmp_path: Path, key: str
) -> None:
    with (
        Client(api_key=key, base_url=emulator.base_url, registry=sample_registry) as client,
        pytest.raises(UsageError) as caught,
    ):
        client.generate("test/market", "a fox", output_dir=tmp_path)
    assert KEY not in str(caught.value) and repr(key)[1:-1] not in str(caught.value)
    assert emulator.requests == []


@pytest.mark.parametrize("timeout", [-1.0, 0.0, float("nan"), float("inf")])
def test_a_bad_timeout_is_refused_before_anything_is_sent(
    client: Client, emulator: Emulator, tmp_path: Path, timeout: float
) -> None:
    with pytest.raises(UsageError, match="timeout"):
        client.generate("test/market", "a fox", output_dir=tmp_path, timeout=timeout)
    assert emulator.requests == []


def test_a_folder_is_proved_writable_once_per_few_seconds_not_per_generation(
    client: Client, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proofs: list[Path] = []
    real = kiecore.client.check_output_dir

    def counting(folder: str | os.PathLike[str]) -> Path:
        proofs.append(Path(folder))
        return real(folder)

    monkeypatch.setattr(kiecore.client, "check_output_dir", counting)
    now = [100.0]
    monkeypatch.setattr(client, "_clock", lambda: now[0])
    for prompt in ("a fox", "a cat"):
        client.start("test/market", prompt, output_dir=tmp_path / "out").cancel()
    assert proofs == [tmp_path / "out"]
    client.start("test/market", "a dog", output_dir=tmp_path / "other").cancel()
    now[0] += kiecore.client.FOLDER_CHECK_SECONDS
    client.start("test/market", "an owl", output_dir=tmp_path / "out").cancel()
    assert proofs == [tmp_path / "out", tmp_path / "other", tmp_path / "out"]


@pytest.mark.parametrize("interval", [-2.0, 0.0, float("nan")])
def test_a_bad_poll_interval_is_refused(emulator: Emulator, interval: float) -> None:
    with pytest.raises(UsageError, match="poll interval"):
        Client(api_key=KEY, base_url=emulator.base_url, poll_interval=interval)


def test_an_output_folder_that_cannot_be_written_is_refused_before_anything_is_sent(
    client: Client, emulator: Emulator, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(UsageError, match="cannot save images"):
        client.generate("test/market", "a fox", output_dir=not_a_folder / "sub")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UsageError, match="cannot save images"):
            client.generate("test/market", "a fox", output_dir=locked)
    assert emulator.requests == []


# -- what generate() passes on: where and how results are saved, and who is told what ---------------------------


def test_generate_names_results_as_asked_or_saves_the_one_as_the_file_given(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = client.generate("test/market", "a red fox", output_dir=tmp_path, name="{prompt_slug}-{task}")
    assert named.files == (tmp_path / f"a-red-fox-{named.handle.task_id}.png",)
    exact = client.generate("test/flux", "a red fox", output_file=tmp_path / "fox.png")
    assert exact.files == (tmp_path / "fox.png",) and check_image(exact.files[0]) == "PNG"
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    here = client.generate("test/market", "a red fox")
    assert here.files == (tmp_path / "sub" / f"{here.handle.task_id}.png",)


def test_generate_without_download_fetches_nothing(client: Client, emulator: Emulator, tmp_path: Path) -> None:
    result = client.generate("test/market", "a fox", output_dir=tmp_path, download=False)
    assert result.files == () and result.sidecar is None and list(tmp_path.iterdir()) == []
    assert [r for r in emulator.requests if r.server == "files"] == []


def test_generate_tells_of_its_task_and_of_each_retry(client: Client, emulator: Emulator, tmp_path: Path) -> None:
    emulator.inject("server_error", on="status", times=1)
    handles: list[TaskHandle] = []
    retries: list[RetryEvent] = []
    result = client.generate(
        "test/market", "a fox", output_dir=tmp_path, on_submit=handles.append, on_retry=retries.append
    )
    assert handles == [result.handle]
    assert [(event.what, event.attempt, event.code) for event in retries] == [("query", 2, 500)]
