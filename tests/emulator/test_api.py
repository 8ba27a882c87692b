"""The API host: auth, routing, status errors, the request record and credits (api.py, routes.py)."""

from __future__ import annotations

import json

import pytest

from kiecore.emulator import Emulator
from tests.emulator.helpers import (
    CREDIT,
    GPT4O_STATUS,
    KEY,
    MARKET_CREATE,
    MARKET_STATUS,
    PRO_CREATE,
    REF,
    at,
    call,
    create,
    market_body,
    status,
)
from tests.emulator.models import emulated_registry

# -- auth, routing, status errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": KEY}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}, {"X-API-KEY": ""}],
)
def test_missing_or_malformed_key_is_refused(emulator: Emulator, headers: dict[str, str]) -> None:
    status_code, reply, _ = call(emulator, "POST", MARKET_CREATE, market_body(), headers=headers)
    assert status_code == 200 and reply == {"code": 401, "msg": "You do not have access permissions", "data": None}
    assert emulator.tasks == {}


def test_api_key_must_match_when_set() -> None:
    with Emulator(emulated_registry(), api_key=KEY) as emulator:
        bad_live = {"Authorization": "Bearer other"}
        assert call(emulator, "POST", MARKET_CREATE, market_body(), headers=bad_live)[1]["code"] == 401
        bad_ref = {"X-API-KEY": "other", "Authorization": f"Bearer {KEY}"}
        ref_body = {"model": "test/market", "prompt": "x"}
        assert call(emulator, "POST", MARKET_CREATE, ref_body, headers=bad_ref)[1]["code"] == 401
        assert create(emulator, MARKET_CREATE, ref_body, headers=REF)
        task_id = create(emulator, MARKET_CREATE, market_body())
        _, reply, _ = call(emulator, "GET", f"{MARKET_STATUS}?taskId={task_id}", headers=bad_live)
        assert reply["code"] == 401
        # reference NBP errors use "message"
        _, reply, _ = call(emulator, "POST", PRO_CREATE, {}, headers=bad_ref)
        assert reply == {"code": 401, "message": "You do not have access permissions", "data": None}


def test_reference_profile_is_chosen_by_x_api_key(emulator: Emulator) -> None:
    # A live-shaped body sent with X-API-KEY is checked against the reference declaration.
    _, reply, _ = call(emulator, "POST", MARKET_CREATE, market_body(), headers=REF)
    assert reply["code"] == 422 and reply["msg"] == "input: unknown parameter"


def test_unknown_path_and_method(emulator: Emulator) -> None:
    for method, path in [("GET", "/api/v1/nothing"), ("GET", MARKET_CREATE), ("POST", MARKET_STATUS)]:
        status_code, reply, _ = call(emulator, method, path)
        assert status_code == 404 and reply == {"code": 404, "msg": "Not Found", "data": None}


def test_status_errors(emulator: Emulator) -> None:
    assert status(emulator, MARKET_STATUS, "nope") == {"code": 422, "msg": "recordInfo is null", "data": None}
    _, reply, _ = call(emulator, "GET", MARKET_STATUS)
    assert reply == {"code": 400, "msg": "taskId parameter is required", "data": None}
    task_id = create(emulator, MARKET_CREATE, market_body())
    assert status(emulator, GPT4O_STATUS, task_id)["msg"] == "recordInfo is null"  # another family's path


def test_requests_are_recorded_and_reset(emulator: Emulator) -> None:
    create(emulator, MARKET_CREATE, market_body())
    [recorded] = emulator.requests
    assert recorded.server == "api" and recorded.method == "POST" and recorded.path == MARKET_CREATE
    assert recorded.headers["Authorization"] == f"Bearer {KEY}" and json.loads(recorded.body) == market_body()
    call(emulator, "GET", f"{MARKET_STATUS}?taskId=abc")
    assert emulator.requests[-1].query == "taskId=abc"
    emulator.inject("drop")
    emulator.reset()
    assert emulator.requests == [] and emulator.tasks == {} and emulator.faults.faults == []


def test_credits() -> None:
    with Emulator(emulated_registry(), task_seconds=100.0, credits=50) as emulator:
        status_code, reply, _ = call(emulator, "GET", CREDIT)
        assert status_code == 200 and reply == {"code": 200, "msg": "success", "data": 50}
        task_id = create(emulator, MARKET_CREATE, market_body(num_images="3"))
        assert call(emulator, "GET", CREDIT)[1]["data"] == 50  # charged when the images exist
        at(emulator, task_id, 1.0)
        assert call(emulator, "GET", CREDIT, headers=REF)[1]["data"] == 47 == emulator.credits
        emulator.inject("fail_task")
        failed = create(emulator, MARKET_CREATE, market_body())
        at(emulator, failed, 1.0)
        assert emulator.credits == 47  # failed tasks cost nothing
        assert call(emulator, "GET", CREDIT, headers={})[1]["code"] == 401
        emulator.credits = 2
        assert call(emulator, "GET", CREDIT)[1]["data"] == 2
        emulator.reset()
        assert emulator.credits == 50
