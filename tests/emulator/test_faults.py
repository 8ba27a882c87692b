"""Injected faults, request-level and task-level (faults.py)."""

from __future__ import annotations

import time

import pytest
import urllib3

from kiecore.emulator import Emulator, FaultKind, parse_fault
from tests.emulator.helpers import (
    GPT4O_CREATE,
    GPT4O_STATUS,
    MARKET_CREATE,
    MARKET_STATUS,
    at,
    call,
    create,
    fetch,
    market_body,
    status,
)


def test_rate_limit_fault(emulator: Emulator) -> None:
    emulator.retry_after = 2
    emulator.inject("rate_limit", on="submit", times=2)
    for _ in range(2):
        status_code, reply, response = call(emulator, "POST", MARKET_CREATE, market_body())
        assert status_code == 429 and response.headers["Retry-After"] == "2"
        assert reply == {"code": 429, "msg": "Rate limit exceeded", "data": None}
    assert emulator.tasks == {}
    create(emulator, MARKET_CREATE, market_body())
    [fault] = emulator.faults.faults
    assert fault.fired == 2 and emulator.faults.fired(FaultKind.RATE_LIMIT) == 2


def test_fault_only_hits_its_target(emulator: Emulator) -> None:
    emulator.inject("server_error", on="status", status=503)
    task_id = create(emulator, MARKET_CREATE, market_body())
    status_code, reply, _ = call(emulator, "GET", f"{MARKET_STATUS}?taskId={task_id}")
    assert status_code == 503 and reply["code"] == 503 and reply["msg"] == "Server Error"
    assert status(emulator, MARKET_STATUS, task_id)["code"] == 200
    assert emulator.faults.faults[0].fired == 1


def test_server_error_fault_does_not_create(emulator: Emulator) -> None:
    emulator.inject(FaultKind.SERVER_ERROR)
    status_code, reply, _ = call(emulator, "POST", MARKET_CREATE, market_body())
    assert status_code == 500 and reply == {"code": 500, "msg": "Server Error", "data": None}
    assert emulator.tasks == {}


def test_drop_fault_closes_without_reply_or_task(emulator: Emulator) -> None:
    emulator.inject("drop", on="submit")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        call(emulator, "POST", MARKET_CREATE, market_body())
    assert emulator.tasks == {} and emulator.faults.fired("drop") == 1
    create(emulator, MARKET_CREATE, market_body())


def test_drop_after_create_creates_exactly_one_task(emulator: Emulator) -> None:
    task_id = create(emulator, GPT4O_CREATE, {"prompt": "x", "size": "1:1"})
    emulator.inject("drop_after_create")
    assert status(emulator, GPT4O_STATUS, task_id)["code"] == 200  # status requests don't spend it
    with pytest.raises(urllib3.exceptions.ProtocolError):
        call(emulator, "POST", GPT4O_CREATE, {"prompt": "y", "size": "1:1"})
    assert len(emulator.tasks) == 2
    assert [t.body["prompt"] for t in emulator.tasks.values()] == ["x", "y"]
    assert emulator.faults.fired("drop_after_create") == 1


def test_non_json_fault(emulator: Emulator) -> None:
    emulator.inject("non_json", on="status")
    status_code, payload, response = call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")
    assert status_code == 200 and payload == b"<html>Bad gateway</html>"
    assert response.headers["Content-Type"].startswith("text/html")


def test_auth_and_credits_faults(emulator: Emulator) -> None:
    emulator.inject("auth", on="submit")
    emulator.inject("credits", on="submit")
    assert call(emulator, "POST", MARKET_CREATE, market_body())[1]["code"] == 401
    _, reply, _ = call(emulator, "POST", MARKET_CREATE, market_body())
    assert reply == {"code": 402, "msg": "Credits insufficient", "data": None}
    assert emulator.tasks == {}
    assert [fault.fired for fault in emulator.faults.faults] == [1, 1]


def test_invisible_fault_hides_the_next_task_for_n_queries(emulator: Emulator) -> None:
    before = create(emulator, MARKET_CREATE, market_body())
    emulator.inject("invisible", times=2)
    task_id = create(emulator, MARKET_CREATE, market_body())
    other = create(emulator, MARKET_CREATE, market_body())
    assert status(emulator, MARKET_STATUS, before)["code"] == 200
    assert status(emulator, MARKET_STATUS, other)["code"] == 200
    for _ in range(2):
        assert status(emulator, MARKET_STATUS, task_id) == {"code": 422, "msg": "recordInfo is null", "data": None}
    assert status(emulator, MARKET_STATUS, task_id)["code"] == 200
    assert emulator.faults.fired("invisible") == 2 and emulator.tasks[task_id].status_queries == 3


def test_slow_fault_delays_the_reply(emulator: Emulator) -> None:
    emulator.inject("slow", on="status", seconds=0.3)
    started = time.monotonic()
    call(emulator, "POST", MARKET_CREATE, market_body())
    assert time.monotonic() - started < 0.25
    started = time.monotonic()
    assert call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")[1]["code"] == 422
    assert time.monotonic() - started >= 0.3 and emulator.faults.fired("slow") == 1


def test_download_faults(emulator: Emulator) -> None:
    task_id = create(emulator, MARKET_CREATE, market_body())
    at(emulator, task_id, 1.0)
    [url] = emulator.tasks[task_id].urls
    emulator.inject("rate_limit", on="download", retry_after=0.5)
    emulator.inject("drop", on="download")
    response = fetch(url)
    assert response.status == 429 and response.headers["Retry-After"] == "0.5"
    with pytest.raises(urllib3.exceptions.ProtocolError):
        fetch(url)
    assert fetch(url).status == 200
    assert emulator.faults.fired("rate_limit") == 1 and emulator.faults.fired("drop") == 1


def test_inject_and_parse_reject_nonsense(emulator: Emulator) -> None:
    with pytest.raises(ValueError):
        emulator.inject("explode")
    with pytest.raises(ValueError):
        emulator.inject("drop", on="everything")
    with pytest.raises(ValueError):
        emulator.inject("drop", times=0)
    with pytest.raises(ValueError):
        emulator.inject("server_error", status=404)
    assert parse_fault("rate_limit:submit:2") == (FaultKind.RATE_LIMIT, "submit", 2)
    assert parse_fault("drop") == (FaultKind.DROP, "any", 1)
    for bad in ("", "nope", "drop:sideways", "drop:any:x", "drop:any:1:2"):
        with pytest.raises(ValueError):
            parse_fault(bad)
