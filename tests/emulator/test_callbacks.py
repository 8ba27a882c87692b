"""Callbacks: shapes per dialect, signing, timing, loopback only (callbacks.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import pytest

from kiecore.emulator import Emulator
from tests.emulator.helpers import (
    FLUX_CREATE,
    FLUX_STATUS,
    GPT4O_CREATE,
    MARKET_CREATE,
    MARKET_STATUS,
    PRO_CREATE,
    REF,
    at,
    create,
    market_body,
    status,
)
from tests.emulator.models import emulated_registry


@attrs.frozen
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A tiny loopback HTTP server that records the POSTs it gets and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/kie/cb") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


HMAC_KEY = "whsec-test"


@pytest.fixture
def fast() -> Iterator[Emulator]:
    with Emulator(emulated_registry(), task_seconds=0.2, webhook_hmac_key=HMAC_KEY) as running:
        yield running


def verify(headers: dict[str, str], body: bytes, key: str = HMAC_KEY) -> bool:
    """The docs' verification sample (docs/kie-api-notes.md §5), reading ``taskId`` or ``task_id``."""
    data = json.loads(body)["data"]
    task_id = data.get("taskId") or data.get("task_id")
    msg = f"{task_id}.{headers['X-Webhook-Timestamp']}".encode()
    expected = base64.b64encode(hmac.new(key.encode(), msg, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, headers["X-Webhook-Signature"])


def test_market_callback_success_is_signed(fast: Emulator, receiver: Receiver) -> None:
    body = {"model": "test/market", "callBackUrl": receiver.url(), "input": {"prompt": "fox", "num_images": "2"}}
    task_id = create(fast, MARKET_CREATE, body)
    started = time.monotonic()
    [delivery] = fast.wait_for_callbacks(1, timeout=5)
    assert time.monotonic() - started >= 0.1  # not before the task finished
    assert delivery.task_id == task_id and delivery.url == receiver.url()
    assert delivery.status == 200 and delivery.error is None and delivery.delivered
    [got] = receiver.received
    assert got.path == "/kie/cb" and got.body == delivery.body and got.headers["Content-Type"] == "application/json"
    assert verify(got.headers, got.body)
    assert abs(int(got.headers["X-Webhook-Timestamp"]) - time.time()) < 5
    assert not verify(got.headers, got.body, key="other-key")
    reply = got.json()
    assert reply["code"] == 200 and reply["msg"] == "Playground task completed successfully."
    data = reply["data"]
    assert data["taskId"] == task_id and data["state"] == "success" and data["model"] == "test/market"
    assert json.loads(data["resultJson"])["resultUrls"] == list(fast.tasks[task_id].urls)
    assert data["consumeCredits"] == 2 and data["remainedCredits"] == 998 and isinstance(data["costTime"], int)
    assert json.loads(data["param"]) == body and data["failCode"] == "" and data["completeTime"] >= data["createTime"]
    assert fast.pending_callbacks == 0
    time.sleep(0.1)
    status(fast, MARKET_STATUS, task_id)
    assert len(fast.callbacks) == 1 and len(receiver.received) == 1  # once only


def test_market_callback_failure(fast: Emulator, receiver: Receiver) -> None:
    fast.webhook_hmac_key = None
    fast.inject("fail_task", message="flagged", code=422)
    task_id = create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    [delivery] = fast.wait_for_callbacks(1)
    reply = delivery.json()
    assert reply["code"] == 501 and reply["msg"] == "Playground task failed."
    data = reply["data"]
    assert data["taskId"] == task_id and data["state"] == "fail" and data["failCode"] == "422"
    assert data["failMsg"] == "flagged" and data["consumeCredits"] == 0 and data["resultJson"] == ""
    assert "X-Webhook-Signature" not in delivery.headers and "X-Webhook-Timestamp" not in delivery.headers
    assert "X-Webhook-Signature" not in receiver.received[0].headers


def test_gpt4o_callbacks(fast: Emulator, receiver: Receiver) -> None:
    ok = create(fast, GPT4O_CREATE, {"prompt": "fox", "size": "1:1", "nVariants": 2, "callBackUrl": receiver.url()})
    fast.inject("fail_task", message="Your content was flagged")
    failed = create(fast, GPT4O_CREATE, {"prompt": "fox", "size": "1:1", "callBackUrl": receiver.url("/fail")})
    deliveries = {d.task_id: d for d in fast.wait_for_callbacks(2)}
    assert deliveries[ok].json() == {
        "code": 200,
        "msg": "success",
        "data": {"taskId": ok, "info": {"result_urls": list(fast.tasks[ok].urls)}},
    }
    assert deliveries[failed].json() == {
        "code": 400,
        "msg": "Your content was flagged",
        "data": {"taskId": failed, "info": None},
    }
    assert all(verify(d.headers, d.body) for d in deliveries.values())


def test_flux_callbacks(fast: Emulator, receiver: Receiver) -> None:
    ok = create(fast, FLUX_CREATE, {"prompt": "cabin", "model": "flux-kontext-pro", "callBackUrl": receiver.url()})
    fast.inject("fail_task", message="boom")
    fast.inject("fail_task", message="flagged", code=400)
    failed = create(fast, FLUX_CREATE, {"prompt": "c", "model": "flux-kontext-max", "callBackUrl": receiver.url()})
    flagged = create(fast, FLUX_CREATE, {"prompt": "c", "model": "flux-kontext-max", "callBackUrl": receiver.url()})
    deliveries = {d.task_id: d.json() for d in fast.wait_for_callbacks(3)}
    task = fast.tasks[ok]
    assert deliveries[ok] == {
        "code": 200,
        "msg": "BFL image generated successfully.",
        "data": {"taskId": ok, "info": {"originImageUrl": task.origin_url, "resultImageUrl": task.urls[0]}},
    }
    empty = {"originImageUrl": "", "resultImageUrl": ""}
    assert deliveries[failed] == {"code": 501, "msg": "boom", "data": {"taskId": failed, "info": empty}}
    assert deliveries[flagged]["code"] == 400 and deliveries[flagged]["data"]["info"] == empty
    assert status(fast, FLUX_STATUS, flagged)["data"]["errorCode"] == 400  # the same code in the status reply


def test_reference_profile_callbacks_take_the_live_shape(fast: Emulator, receiver: Receiver) -> None:
    flux = create(
        fast, FLUX_CREATE, {"prompt": "cabin", "model": "flux-kontext-pro", "callBackUrl": receiver.url()}, REF
    )
    market = create(fast, MARKET_CREATE, {"model": "test/market", "prompt": "x", "callBackUrl": receiver.url()}, REF)
    pro_body = {"model": "nano-banana-pro", "callbackUrl": receiver.url(), "input": {"input_prompt": "hero"}}
    pro = create(fast, PRO_CREATE, pro_body, REF)
    deliveries = {d.task_id: d.json() for d in fast.wait_for_callbacks(3)}
    assert deliveries[flux]["msg"] == "BFL image generated successfully."
    assert deliveries[flux]["data"]["info"]["resultImageUrl"] == fast.tasks[flux].urls[0]
    assert deliveries[market]["msg"] == "Playground task completed successfully."
    assert json.loads(deliveries[market]["data"]["resultJson"])["resultUrls"] == list(fast.tasks[market].urls)
    assert deliveries[pro]["msg"] == "Playground task completed successfully." and "message" not in deliveries[pro]


def test_callbacks_go_only_to_loopback_hosts(fast: Emulator) -> None:
    task_id = create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": "https://cb.example/kie"})
    [delivery] = fast.wait_for_callbacks(1)
    assert delivery.task_id == task_id and delivery.status is None and not delivery.delivered
    assert delivery.error is not None and "loopback" in delivery.error
    assert delivery.json()["data"]["state"] == "success"  # what would have been sent


def test_callback_receiver_errors_are_recorded(fast: Emulator, receiver: Receiver) -> None:
    receiver.status = 500
    create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": f"http://127.0.0.1:{port}/cb"})
    deliveries = sorted(fast.wait_for_callbacks(2), key=lambda d: d.status or 0)
    assert deliveries[0].status is None and deliveries[0].error
    assert deliveries[1].status == 500 and deliveries[1].error is None
    assert status(fast, MARKET_STATUS, deliveries[0].task_id)["code"] == 200  # the server carries on


def test_no_callback_without_a_callback_url(fast: Emulator) -> None:
    create(fast, MARKET_CREATE, market_body())
    time.sleep(0.3)
    assert fast.callbacks == [] and fast.pending_callbacks == 0


def test_a_longer_task_delivers_once_it_is_complete(fast: Emulator, receiver: Receiver) -> None:
    task_id = create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    fast.task_seconds = 0.6
    time.sleep(0.35)
    assert fast.callbacks == [] and fast.pending_callbacks == 1
    [delivery] = fast.wait_for_callbacks(1)
    assert delivery.task_id == task_id and delivery.json()["data"]["state"] == "success"
    assert fast.tasks[task_id].finished(fast.task_seconds)


def test_a_timer_that_fires_early_waits_for_the_task(fast: Emulator, receiver: Receiver) -> None:
    fast.task_seconds = 0.1
    task_id = create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    fast._task_seconds = 0.5  # behind the setter's back: the timer fires at 0.1 s and must wait again
    time.sleep(0.25)
    assert fast.callbacks == []
    [delivery] = fast.wait_for_callbacks(1)
    assert delivery.task_id == task_id


def test_a_finished_task_seen_by_a_status_query_delivers_at_once(emulator: Emulator, receiver: Receiver) -> None:
    task_id = create(emulator, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    assert emulator.pending_callbacks == 1  # task_seconds is 100 here
    at(emulator, task_id, 1.0)
    assert status(emulator, MARKET_STATUS, task_id)["data"]["state"] == "success"
    [delivery] = emulator.wait_for_callbacks(1)
    assert delivery.status == 200 and "X-Webhook-Signature" not in delivery.headers  # no key set


def test_stop_and_reset_cancel_pending_callbacks(receiver: Receiver) -> None:
    with Emulator(emulated_registry(), task_seconds=0.3) as emulator:
        create(emulator, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
        assert emulator.pending_callbacks == 1
        emulator.reset()
        assert emulator.pending_callbacks == 0
        create(emulator, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    assert emulator.pending_callbacks == 0
    time.sleep(0.5)
    assert emulator.callbacks == [] and receiver.received == []
