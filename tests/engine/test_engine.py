"""The engine end to end against the emulator: many tasks at once, the budgets kept, cancelling, callbacks,
learned run times, and the asyncio face."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import pytest

from kiecore import AsyncClient, Client
from kiecore.callback_receiver import CallbackReceiver, CallbackServer
from kiecore.emulator import Emulator
from kiecore.errors import UsageError
from kiecore.journal import Journal, JournalState
from kiecore.model import TaskHandle
from kiecore.ratelimit import RateLimits
from kiecore.registry import Registry
from kiecore.testing.endtoend import FAST_RETRY

STATUS_PATH = "/api/v1/jobs/recordInfo"
CREATE_PATH = "/api/v1/jobs/createTask"


def _client(emulator: Emulator, registry: Registry, **options: Any) -> Client:
    settings: dict[str, Any] = {"poll_interval": 0.05, "retry": FAST_RETRY, "rate_limits": None, **options}
    return Client(api_key="test-key", base_url=emulator.base_url, registry=registry, **settings)


def _count(emulator: Emulator, path: str) -> int:
    return sum(1 for request in emulator.requests if request.path == path)


def test_many_generations_run_at_once_on_a_few_threads(
    emulator: Emulator, sample_registry: Registry, tmp_path: Path
) -> None:
    emulator.task_seconds = 60.0  # nothing finishes until every task exists: they run at once, not in turn
    engine_threads = ("kie-api", "kie-files", "kie-scheduler")
    others = {thread for thread in threading.enumerate() if thread.name.startswith(engine_threads)}  # other clients'
    with _client(emulator, sample_registry) as client:
        futures = [client.start("test/market", f"fox {n}", output_dir=tmp_path) for n in range(40)]
        for _ in range(500):
            if len(emulator.tasks) == 40:
                break
            time.sleep(0.02)
        assert len(emulator.tasks) == 40 and not any(future.done() for future in futures)
        emulator.task_seconds = 0.05  # now every task is done
        results = [future.result(timeout=30) for future in futures]
        assert client.engine.threads <= 13
        running = threading.enumerate()
        ours = [thread for thread in running if thread.name.startswith(engine_threads) and thread not in others]
        assert len(ours) == client.engine.threads  # and the emulator's own threads are not the client's
    assert len({result.handle.task_id for result in results}) == 40
    assert all(result.files and result.files[0].is_file() for result in results)


def test_a_burst_keeps_the_rate_limits_exactly(emulator: Emulator, sample_registry: Registry, tmp_path: Path) -> None:
    emulator.task_seconds = 0.1
    emulator.enforce_limits = True
    emulator.create_limit = (4, 0.5)
    emulator.status_limit = (8, 0.25)
    limits = RateLimits(creates=(4, 0.5), status=(8, 0.25), task_status=(3, 1.0))
    with _client(emulator, sample_registry, rate_limits=limits) as client:
        futures = [client.start("test/market", f"fox {n}", download=False) for n in range(12)]
        assert all(future.result(timeout=30).status.urls for future in futures)
    assert emulator.limit_violations == 0
    created = sorted(task.created for task in emulator.tasks.values())
    assert all(created[i + 4] - created[i] >= 0.5 - 0.01 for i in range(len(created) - 4))


def test_a_create_refused_with_429_goes_back_through_the_queue_until_it_is_made(
    emulator: Emulator, sample_registry: Registry
) -> None:
    emulator.inject("rate_limit", on="submit", times=8, retry_after=0.01)  # more than the retry policy's tries
    with _client(emulator, sample_registry) as client:
        result = client.generate("test/market", "a fox", download=False, timeout=20)
    assert result.status.urls and len(emulator.tasks) == 1
    assert emulator.faults.fired("rate_limit") == 8


def test_cancelling_a_generation_stops_its_polling_and_leaves_it_resumable(
    emulator: Emulator, sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    emulator.task_seconds = 30.0
    submitted = threading.Event()
    with _client(emulator, sample_registry, journal=journal) as client:
        future = client.start("test/market", "a fox", output_dir=tmp_path, on_submit=lambda _h: submitted.set())
        assert submitted.wait(10)
        time.sleep(0.3)
        assert future.cancel()
        asked = _count(emulator, STATUS_PATH)
        time.sleep(0.5)
        assert _count(emulator, STATUS_PATH) <= asked + 1  # at most the query already in flight
        with pytest.raises(CancelledError):
            future.result()
    (entry,) = journal.entries()
    assert entry.state is JournalState.SUBMITTED
    emulator.task_seconds = 0.1
    with _client(emulator, sample_registry, journal=journal) as client:
        result = client.resume(entry)
    assert result.files and _count(emulator, CREATE_PATH) == 1


def test_closing_the_client_ends_waiting_jobs_and_records_their_tasks(
    emulator: Emulator, sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    emulator.task_seconds = 30.0
    client = _client(emulator, sample_registry, journal=journal)
    futures = [client.start("test/market", f"fox {n}", output_dir=tmp_path) for n in range(3)]
    for _ in range(250):
        if len(emulator.tasks) == 3:
            break
        time.sleep(0.02)
    client.close()
    for future in futures:
        with pytest.raises(Exception, match="closed"):
            future.result(timeout=5)
    assert {entry.state for entry in journal.entries()} == {JournalState.SUBMITTED}


def test_generate_many_yields_each_result_as_it_finishes(emulator: Emulator, sample_registry: Registry) -> None:
    emulator.task_seconds = 0.1
    items = [{"model": "test/market", "prompt": f"fox {n}", "download": False} for n in range(5)]
    with _client(emulator, sample_registry) as client:
        done = dict(client.generate_many(items))
    assert sorted(done) == list(range(5))
    assert all(not isinstance(outcome, BaseException) for outcome in done.values())


def test_generate_many_sends_nothing_when_one_item_is_invalid(emulator: Emulator, sample_registry: Registry) -> None:
    items = [{"model": "test/market", "prompt": "a fox"}, {"model": "test/market", "prompt": "a fox", "seed": "x"}]
    with _client(emulator, sample_registry) as client, pytest.raises(UsageError, match="item 1"):
        list(client.generate_many(items))
    assert _count(emulator, CREATE_PATH) == 0


def test_run_times_are_learned_and_kept_in_the_journal(
    emulator: Emulator, sample_registry: Registry, journal: Journal
) -> None:
    emulator.task_seconds = 0.3
    with _client(emulator, sample_registry, journal=journal) as client:
        for _ in range(2):
            client.generate("test/market", "a fox", download=False)
    samples = journal.runtimes(emulator.base_url, "test/market")
    assert len(samples) == 2 and all(0.2 <= sample <= 1.5 for sample in samples)


def test_a_known_run_time_needs_few_queries(emulator: Emulator, sample_registry: Registry, journal: Journal) -> None:
    emulator.task_seconds = 1.0
    for _ in range(5):
        journal.record_runtime(emulator.base_url, "test/market", 1.0)
    with _client(emulator, sample_registry, journal=journal, poll_interval=2.0) as client:  # live pacing
        client.generate("test/market", "a fox", download=False)
    assert _count(emulator, STATUS_PATH) <= 3


def test_a_verified_callback_makes_the_engine_query_at_once(
    emulator: Emulator, sample_registry: Registry, tmp_path: Path
) -> None:
    emulator.task_seconds = 0.5
    emulator.webhook_hmac_key = "hmac-secret"
    with _client(emulator, sample_registry, poll_interval=2.0) as client:  # live pacing: only a callback is fast
        receiver = CallbackReceiver(client, hmac_key="hmac-secret")
        with CallbackServer(receiver) as server:
            host, port = server.address
            started = time.monotonic()
            result = client.generate(
                "test/market", "a fox", output_dir=tmp_path, callback_url=f"http://{host}:{port}/kie"
            )
            took = time.monotonic() - started
    assert result.files and took < 2.0
    assert _count(emulator, STATUS_PATH) == 1
    assert emulator.callbacks and emulator.callbacks[0].status == 200


def test_callbacks_are_refused_without_an_hmac_key(emulator: Emulator, sample_registry: Registry) -> None:
    with _client(emulator, sample_registry) as client:
        receiver = CallbackReceiver(client, hmac_key="")
        outcome = receiver({"X-Webhook-Timestamp": "1", "X-Webhook-Signature": "x"}, b'{"data": {"taskId": "t"}}')
    assert outcome.status == 401 and not receiver.configured


def test_a_callback_for_a_task_nobody_waits_for_is_accepted_but_unknown() -> None:
    from kiecore.webhooks import signature

    class Nobody:
        def notify(self, task_id: str) -> bool:
            return False

    now = str(int(time.time()))
    receiver = CallbackReceiver(Nobody(), hmac_key="k")
    headers = {"X-Webhook-Timestamp": now, "X-Webhook-Signature": signature("k", "t1", now)}
    outcome = receiver(headers, b'{"code": 200, "data": {"taskId": "t1"}}')
    assert outcome.status == 200 and outcome.task_id == "t1" and not outcome.known
    assert receiver(headers, b'{"code": 200, "data": {"taskId": "t1"}}').status == 401  # a replay


def test_the_async_client_runs_on_the_same_engine(emulator: Emulator, sample_registry: Registry) -> None:
    emulator.task_seconds = 0.2

    async def main() -> list[str]:
        async with AsyncClient(
            api_key="test-key",
            base_url=emulator.base_url,
            registry=sample_registry,
            poll_interval=0.05,
            retry=FAST_RETRY,
            rate_limits=None,
        ) as client:
            results = await asyncio.gather(
                *(client.generate("test/market", f"fox {n}", download=False) for n in range(10))
            )
            handle = await client.submit("test/market", prompt="a fox")
            status = await client.wait(handle)
            assert status.urls
            return [result.handle.task_id for result in results]

    assert len(set(asyncio.run(main()))) == 10


def test_cancelling_the_awaiting_task_cancels_the_wait(emulator: Emulator, sample_registry: Registry) -> None:
    emulator.task_seconds = 30.0

    async def main() -> TaskHandle:
        async with AsyncClient(
            api_key="test-key",
            base_url=emulator.base_url,
            registry=sample_registry,
            poll_interval=0.05,
            rate_limits=None,
        ) as client:
            handle = await client.submit("test/market", prompt="a fox")
            waiting = asyncio.ensure_future(client.wait(handle))
            await asyncio.sleep(0.3)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert client.client.engine.in_flight == 0 or await _drained(client.client)
            return handle

    asyncio.run(main())
    asked = _count(emulator, STATUS_PATH)
    time.sleep(0.3)
    assert _count(emulator, STATUS_PATH) == asked


async def _drained(client: Client) -> bool:
    for _ in range(50):
        if client.engine.in_flight == 0:
            return True
        await asyncio.sleep(0.02)
    return False


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_kie_generate_listens_for_its_callbacks(
    kie: Any, kie_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KIE_WEBHOOK_HMAC_KEY", "hmac-secret")
    kie_emulator.webhook_hmac_key = "hmac-secret"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/kie"
    code, out, _err = kie(
        "generate",
        "nano-banana-pro",
        "a fox",
        "-o",
        str(tmp_path),
        "--callback-url",
        url,
        "--listen",
        f"127.0.0.1:{port}",
    )
    assert code == 0 and out.strip()
    assert kie_emulator.callbacks and kie_emulator.callbacks[0].status == 200


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--listen", "127.0.0.1:9"], "needs --callback-url"),
        (["--callback-url", "http://127.0.0.1:9/", "--listen", "nowhere"], "HOST:PORT"),
        (["--callback-url", "http://127.0.0.1:9/", "--listen", "127.0.0.1:9"], "KIE_WEBHOOK_HMAC_KEY"),
    ],
)
def test_kie_generate_refuses_to_listen_without_what_it_needs(
    kie: Any, kie_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, options: list[str], message: str
) -> None:
    monkeypatch.delenv("KIE_WEBHOOK_HMAC_KEY", raising=False)
    code, _out, err = kie("generate", "nano-banana-pro", "a fox", *options)
    assert code == 2 and message in err
    assert not kie_emulator.tasks  # nothing was sent


def test_a_generation_cancelled_while_its_create_is_in_flight_is_recorded_and_goes_no_further(
    emulator: Emulator, sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    emulator.inject("slow", on="submit", seconds=0.5)
    told: list[TaskHandle] = []
    with _client(emulator, sample_registry, journal=journal) as client:
        future = client.start("test/market", "a fox", output_dir=tmp_path, on_submit=told.append)
        for _ in range(100):
            if emulator.requests:
                break
            time.sleep(0.01)
        assert future.cancel()
    (entry,) = journal.entries()  # closing waited for the create's answer
    assert entry.state is JournalState.SUBMITTED and entry.task_id
    assert told == [] and _count(emulator, STATUS_PATH) == 0


# -- a failing budget store, a failing scheduler --------------------------------------------------------------


def test_a_budget_store_that_cannot_be_opened_leaves_the_limits_local_and_says_so_once(
    emulator: Emulator, sample_registry: Registry, tmp_path: Path, journal: Journal
) -> None:
    (tmp_path / "budgets.sqlite3").mkdir()  # beside the journal, where the shared store would be
    notices = io.StringIO()
    limits = RateLimits(creates=(20, 1.0), status=(50, 1.0), task_status=(3, 1.0))
    with _client(emulator, sample_registry, rate_limits=limits, journal=journal, notices=notices) as client:
        futures = [client.start("test/market", f"fox {n}", output_dir=tmp_path / "out") for n in range(3)]
        assert all(future.result(timeout=30).files for future in futures)
        assert client.status(futures[0].result().handle).urls
    lines = notices.getvalue().splitlines()
    assert len(lines) == 1 and "cannot open the budget store" in lines[0] and "on its own" in lines[0]


def test_a_budget_store_failing_mid_run_does_not_stop_the_generations(
    emulator: Emulator, sample_registry: Registry, tmp_path: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiecore.engine import budgets

    emulator.task_seconds = 0.2
    notices = io.StringIO()
    limits = RateLimits(creates=(20, 1.0), status=(50, 1.0), task_status=(3, 1.0))
    takes = [0]
    real_take = budgets.SharedWindow.take

    def failing_take(window: budgets.SharedWindow) -> Any:
        takes[0] += 1
        if takes[0] > 3:
            raise budgets.BudgetStoreError(f"budget store {window.store.path}: disk I/O error")
        return real_take(window)

    monkeypatch.setattr(budgets.SharedWindow, "take", failing_take)
    with _client(emulator, sample_registry, rate_limits=limits, journal=journal, notices=notices) as client:
        futures = [client.start("test/market", f"fox {n}", output_dir=tmp_path / "out") for n in range(6)]
        assert all(future.result(timeout=30).files for future in futures)
    assert takes[0] > 3 and "disk I/O error" in notices.getvalue() and "on its own" in notices.getvalue()
    assert len(emulator.tasks) == 6


def test_a_scheduler_that_fails_ends_every_waiting_job_instead_of_leaving_it_hanging(
    emulator: Emulator, sample_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiecore.engine import scheduler

    emulator.task_seconds = 60.0
    with _client(emulator, sample_registry) as client:
        first = client.start("test/market", "a fox", download=False)
        for _ in range(500):
            if emulator.tasks:
                break
            time.sleep(0.01)

        def broken(_engine: scheduler.Engine) -> float | None:
            raise RuntimeError("a bug in the scheduler")

        monkeypatch.setattr(scheduler.Engine, "_dispatch", broken)
        second = client.start("test/market", "a cat", download=False)  # wakes the scheduler, which fails
        for future in (first, second):
            with pytest.raises(RuntimeError, match="a bug in the scheduler"):
                future.result(timeout=10)
        with pytest.raises(Exception, match="engine stopped"):
            client.start("test/market", "an owl", download=False)
