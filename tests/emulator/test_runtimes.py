"""Per-task run times: seeded lognormal draws, overrides and scale, and every reader of a task's own duration
(status records, callbacks, files, credits) (runtimes.py, tasks.py)."""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kiecore.emulator import Emulator, RunTimes
from tests.emulator.helpers import CREDIT, MARKET_CREATE, MARKET_STATUS, call, create, fetch, market_body, status
from tests.emulator.models import MARKET, emulated_registry
from tests.emulator.test_callbacks import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def timed(run_times: RunTimes, task_seconds: float = 100.0) -> Emulator:
    """An emulator of the test models whose tasks draw their durations from ``run_times``."""
    return Emulator(emulated_registry(), task_seconds=task_seconds, run_times=run_times)


def move(emulator: Emulator, task_id: str, seconds: float) -> None:
    """Move a task's clock ``seconds`` past its start."""
    emulator.tasks[task_id].started = time.monotonic() - seconds


# -- RunTimes ----------------------------------------------------------------------------------------


def test_draws_are_reproducible_per_seed() -> None:
    def draws(seed: int | None) -> list[float]:
        run_times = RunTimes(spread=0.4, seed=seed)
        return [run_times.draw("m", 10.0) for _ in range(50)]

    assert draws(7) == draws(7) != draws(8)
    assert draws(None) != draws(None)  # unseeded
    assert len(set(draws(7))) == 50 and all(d > 0 for d in draws(7))


def test_many_draws_have_the_asked_median_and_cv() -> None:
    run_times = RunTimes(scale=2.0, spread=0.5, seed=1)
    draws = [run_times.draw("m", 10.0) for _ in range(20_000)]
    assert statistics.median(draws) == pytest.approx(20.0, rel=0.03)
    assert statistics.pstdev(draws) / statistics.fmean(draws) == pytest.approx(0.5, rel=0.06)


def test_no_spread_is_exactly_the_median() -> None:
    assert {RunTimes().draw("m", 30.0) for _ in range(10)} == {30.0}
    assert RunTimes(scale=0.25).draw("m", 30.0) == 7.5
    assert RunTimes(scale=3, spread=0.9).draw("m", 0.0) == 0.0


def test_per_model_override_and_scale() -> None:
    run_times = RunTimes(scale=0.5, seconds={"fast": 4.0, "instant": 0})
    assert run_times.draw("fast", 30.0) == 2.0 and run_times.draw("other", 30.0) == 15.0
    assert run_times.draw("instant", 30.0) == 0.0 and run_times.median("fast", 30.0) == 2.0
    scaled, overridden = RunTimes(scale=0.5, spread=0.3, seconds={"fast": 4.0}), RunTimes(spread=0.3)
    assert [scaled.draw("fast", 30.0) for _ in range(20)] == [overridden.draw("fast", 2.0) for _ in range(20)]


def test_draws_from_many_threads_are_the_seeded_stream() -> None:
    shared, alone = RunTimes(spread=0.5, seed=3), RunTimes(spread=0.5, seed=3)
    drawn: list[float] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [shared.draw("m", 1.0) for _ in range(500)]
        with lock:
            drawn.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(drawn) == sorted(alone.draw("m", 1.0) for _ in range(4000))


@pytest.mark.parametrize(
    "options",
    [
        {"scale": 0},
        {"scale": -1.0},
        {"scale": math.inf},
        {"scale": math.nan},
        {"spread": -0.1},
        {"spread": math.inf},
        {"seconds": {"m": -1.0}},
        {"seconds": {"m": math.nan}},
    ],
)
def test_bad_run_times_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RunTimes(**options)


def test_run_times_are_frozen_values() -> None:
    run_times = RunTimes(seconds={"m": 2})
    with pytest.raises(AttributeError):
        run_times.scale = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        run_times.seconds["m"] = 3.0  # type: ignore[index]
    assert run_times == RunTimes(seconds={"m": 2.0}) and hash(run_times) == hash(RunTimes(seconds={"m": 2.0}))
    with pytest.raises(TypeError):
        RunTimes(seed="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RunTimes(scale=1e308).draw("m", 1e308)


# -- tasks with their own durations -----------------------------------------------------------------


def test_each_task_draws_its_duration_at_creation() -> None:
    run_times = RunTimes(scale=0.01, spread=0.5, seed=5)
    expected = RunTimes(scale=0.01, spread=0.5, seed=5)
    with timed(run_times) as emulator:
        assert emulator.run_times is run_times
        ids = [create(emulator, MARKET_CREATE, market_body()) for _ in range(3)]
        tasks = emulator.tasks
        assert [tasks[i].seconds for i in ids] == [expected.draw(MARKET.id, MARKET.typical_seconds) for _ in ids]
        assert all(tasks[i].duration(100.0) == tasks[i].seconds for i in ids)


def test_market_times_agree_with_the_tasks_own_duration() -> None:
    with timed(RunTimes(spread=0.5, seed=2, seconds={MARKET.id: 7.0})) as emulator:
        task_id = create(emulator, MARKET_CREATE, market_body())
        seconds = emulator.tasks[task_id].seconds
        assert seconds is not None and seconds != 7.0 and seconds != emulator.task_seconds
        move(emulator, task_id, seconds * 0.5)
        data = status(emulator, MARKET_STATUS, task_id)["data"]
        assert data["state"] == "generating" and data["completeTime"] is None and data["costTime"] is None
        move(emulator, task_id, seconds * 1.001)
        data = status(emulator, MARKET_STATUS, task_id)["data"]
        assert data["state"] == "success" and data["costTime"] == round(seconds)
        assert abs(data["completeTime"] - data["createTime"] - seconds * 1000) <= 1
        assert data["updateTime"] == data["completeTime"]


def test_task_seconds_does_not_move_a_task_with_its_own_duration() -> None:
    with timed(RunTimes(seconds={MARKET.id: 50.0}), task_seconds=0.0) as emulator:
        task_id = create(emulator, MARKET_CREATE, market_body())
        assert status(emulator, MARKET_STATUS, task_id)["data"]["state"] == "waiting"
        emulator.task_seconds = 100.0
        move(emulator, task_id, 50.0)
        assert status(emulator, MARKET_STATUS, task_id)["data"]["state"] == "success"


def test_files_and_credits_follow_the_tasks_own_duration() -> None:
    with timed(RunTimes(seconds={MARKET.id: 0.0})) as emulator:  # task_seconds is 100: only own durations end
        task_id = create(emulator, MARKET_CREATE, market_body(num_images="2"))
        assert call(emulator, "GET", CREDIT)[1]["data"] == 998 == emulator.credits
        [url, _] = emulator.tasks[task_id].urls
        assert fetch(url).status == 200
        reply = call(emulator, "POST", "/api/v1/common/download-url", {"url": url})[1]
        assert reply["code"] == 200 and fetch(reply["data"]).status == 200


def test_a_callback_fires_after_the_tasks_own_duration(receiver: Receiver) -> None:
    with timed(RunTimes(seconds={MARKET.id: 0.3})) as emulator:
        started = time.monotonic()
        task_id = create(emulator, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
        emulator.task_seconds = 0.01  # re-arms the timer, for the task's own 0.3 s
        time.sleep(0.15)
        assert emulator.callbacks == [] and emulator.pending_callbacks == 1
        [delivery] = emulator.wait_for_callbacks(1, timeout=3)
        assert 0.28 <= time.monotonic() - started < 2.0
        assert delivery.task_id == task_id and delivery.status == 200
        data = delivery.json()["data"]
        assert data["state"] == "success" and data["completeTime"] - data["createTime"] == pytest.approx(300, abs=1)


def test_many_tasks_without_callback_urls_schedule_nothing() -> None:
    with timed(RunTimes(scale=0.001, spread=0.5)) as emulator:
        threads = threading.active_count()
        ids = [create(emulator, MARKET_CREATE, market_body()) for _ in range(200)]
        assert emulator.pending_callbacks == 0 and threading.active_count() <= threads + 1  # + the connection's
        time.sleep(0.1)
        assert all(status(emulator, MARKET_STATUS, i)["data"]["state"] == "success" for i in ids)
        assert emulator.callbacks == [] and emulator.pending_callbacks == 0


# -- without run times ------------------------------------------------------------------------------


def test_without_run_times_every_task_runs_task_seconds(emulator: Emulator) -> None:
    assert emulator.run_times is None
    task_id = create(emulator, MARKET_CREATE, market_body())
    task = emulator.tasks[task_id]
    assert task.seconds is None and task.duration(emulator.task_seconds) == 100.0
    move(emulator, task_id, 1.0)
    assert status(emulator, MARKET_STATUS, task_id)["data"]["state"] == "waiting"
    emulator.task_seconds = 1.0  # read at query time: the running task is done now
    data = status(emulator, MARKET_STATUS, task_id)["data"]
    assert data["state"] == "success" and data["costTime"] == 1
    assert abs(data["completeTime"] - data["createTime"] - 1000) <= 1
