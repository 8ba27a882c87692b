"""The live rate limits, enforced on request (limits.py, api.py), by default the client's published ones."""

from __future__ import annotations

import time
from collections.abc import Callable

from kiecore.emulator import Emulator
from kiecore.ratelimit import PUBLISHED_LIMITS
from kiecore.registry import Registry
from tests.emulator.helpers import (
    FLUX_STATUS,
    GPT4O_CREATE,
    GPT4O_STATUS,
    MARKET_CREATE,
    MARKET_STATUS,
    REF,
    call,
    create,
    market_body,
    status,
)
from tests.emulator.models import emulated_registry


def test_limits_are_off_by_default(emulator: Emulator) -> None:
    for _ in range(25):
        create(emulator, MARKET_CREATE, market_body())
    assert all(call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")[0] == 200 for _ in range(15))
    assert emulator.limit_violations == 0


def test_the_kits_fixture_gives_each_test_the_settings_the_emulator_started_with(
    kie_emulator_for: Callable[[Registry], Emulator], sample_registry: Registry
) -> None:
    first = kie_emulator_for(sample_registry)
    first.enforce_limits, first.status_limit, first.webhook_hmac_key, first.task_seconds = True, (1, 9.0), "k", 5.0
    again = kie_emulator_for(sample_registry)  # as the next test would get it
    assert again is first
    assert (again.enforce_limits, again.status_limit, again.webhook_hmac_key, again.task_seconds) == (
        False,
        PUBLISHED_LIMITS.status,
        None,
        0.2,
    )


def test_create_limit_per_key(emulator: Emulator) -> None:
    emulator.enforce_limits = True
    for _ in range(20):
        create(emulator, MARKET_CREATE, market_body())
    status_code, reply, response = call(emulator, "POST", MARKET_CREATE, market_body())
    assert status_code == 429 and response.headers["Retry-After"] == "1"
    assert reply == {"code": 429, "msg": "Rate limit exceeded", "data": None}
    assert len(emulator.tasks) == 20 and emulator.limit_violations == 1
    create(emulator, MARKET_CREATE, market_body(), headers={"Authorization": "Bearer another-key"})
    ref_body = {"model": "test/market", "prompt": "x"}
    assert call(emulator, "POST", MARKET_CREATE, ref_body, headers=REF)[0] == 429  # the same key, by X-API-KEY
    assert emulator.limit_violations == 2 and len(emulator.tasks) == 21
    assert len([r for r in emulator.requests if r.path == MARKET_CREATE]) == 23
    emulator.reset()
    assert emulator.limit_violations == 0
    create(emulator, MARKET_CREATE, market_body())


def test_status_limit_per_key_over_every_status_path(emulator: Emulator) -> None:
    emulator.enforce_limits = True
    paths = [MARKET_STATUS, GPT4O_STATUS, FLUX_STATUS]
    answers = [call(emulator, "GET", f"{paths[i % 3]}?taskId=t{i}")[0] for i in range(11)]
    assert answers == [200] * 10 + [429] and emulator.limit_violations == 1
    assert call(emulator, "GET", f"{MARKET_STATUS}?taskId=x", headers={"Authorization": "Bearer other"})[0] == 200
    # unauthorised queries are refused before they count
    assert call(emulator, "GET", f"{MARKET_STATUS}?taskId=x", headers={})[1]["code"] == 401


def test_gpt4o_record_info_limit_per_task(emulator: Emulator) -> None:
    first = create(emulator, GPT4O_CREATE, {"prompt": "a", "size": "1:1"})
    second = create(emulator, GPT4O_CREATE, {"prompt": "b", "size": "1:1"})
    emulator.enforce_limits = True
    answers = [call(emulator, "GET", f"{GPT4O_STATUS}?taskId={first}")[0] for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    _, reply, response = call(emulator, "GET", f"{GPT4O_STATUS}?taskId={first}")
    assert reply["code"] == 429 and response.headers["Retry-After"] == "1"
    assert status(emulator, GPT4O_STATUS, second)["code"] == 200  # another task has its own window
    market = create(emulator, MARKET_CREATE, market_body())
    assert all(status(emulator, MARKET_STATUS, market)["code"] == 200 for _ in range(4))  # 4o only
    assert emulator.limit_violations == 2


def test_sliding_windows_and_custom_limits() -> None:
    with Emulator(emulated_registry(), enforce_limits=True, status_limit=(2, 0.3), create_limit=(1, 0.3)) as emulator:
        assert [call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")[0] for _ in range(3)] == [200, 200, 429]
        create(emulator, MARKET_CREATE, market_body())
        assert call(emulator, "POST", MARKET_CREATE, market_body())[0] == 429
        time.sleep(0.35)
        assert call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")[0] == 200
        create(emulator, MARKET_CREATE, market_body())
        assert emulator.limit_violations == 2
        emulator.enforce_limits = False
        assert call(emulator, "POST", MARKET_CREATE, market_body())[0] == 200


def test_default_limits_are_the_published_limits() -> None:
    emulator = Emulator(emulated_registry())
    assert emulator.create_limit == PUBLISHED_LIMITS.creates
    assert emulator.status_limit == PUBLISHED_LIMITS.status
    assert emulator.gpt4o_task_status_limit == PUBLISHED_LIMITS.task_status
