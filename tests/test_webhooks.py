"""Callbacks: signatures checked in constant time within a time window; bodies of every dialect parsed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import kiecore.webhooks
from kiecore.errors import ParseError
from kiecore.model import TaskState
from kiecore.registry import Registry
from kiecore.webhooks import (
    ReplayGuard,
    WebhookError,
    handle_callback,
    parse_callback,
    signature,
    verified_task_id,
    verify_signature,
)

KEY = "whk-secret"
NOW = 1_755_599_644.0


@pytest.fixture(autouse=True)
def fresh_default_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayGuard]:
    """Each test gets its own process-wide default guard, so no test sees another's callbacks."""
    guard = ReplayGuard()
    monkeypatch.setattr(kiecore.webhooks, "DEFAULT_REPLAY_GUARD", guard)
    yield guard


MARKET_OK = {
    "code": 200,
    "msg": "Playground task completed successfully.",
    "data": {
        "taskId": "e989621f54392584b05867f87b160672",
        "model": "google/nano-banana",
        "state": "success",
        "param": "{}",
        "resultJson": '{"resultUrls":["https://cdn.example/e98962_0.png"]}',
        "consumeCredits": 4,
        "remainedCredits": 2510330,
        "costTime": 8,
        "createTime": 1755599634000,
        "completeTime": 1755599644000,
    },
}
MARKET_FAIL = {
    "code": 501,
    "msg": "Playground task failed.",
    "data": {
        "taskId": "bd3a37c523149e4adf45a3ddb5faf1a8",
        "model": "google/nano-banana",
        "state": "fail",
        "failCode": "500",
        "failMsg": "Internal server error",
        "consumeCredits": 0,
        "param": "{}",
    },
}
FOUR_O_OK = {
    "code": 200,
    "msg": "success",
    "data": {
        "taskId": "task_4o_abc123",
        "info": {"result_urls": ["https://cdn.example/abc_0.png", "https://cdn.example/abc_1.png"]},
    },
}
FOUR_O_FAIL = {
    "code": 400,
    "msg": "Your content was flagged by OpenAI as violating content policies",
    "data": {"taskId": "task_4o_abc123", "info": None},
}
FLUX_OK = {
    "code": 200,
    "msg": "BFL image generated successfully.",
    "data": {
        "taskId": "fluxkontext_7c1e",
        "info": {"originImageUrl": "https://bfl.example/o", "resultImageUrl": "https://cdn.example/xyz.jpg"},
    },
}
FLUX_FAIL = {
    "code": 400,
    "msg": "Your prompt was flagged by Website as violating content policies.",
    "data": {"taskId": "fluxkontext_7c1e", "info": {"originImageUrl": "", "resultImageUrl": ""}},
}


@pytest.mark.parametrize(
    ("model", "body", "state", "urls", "fail"),
    [
        ("google/nano-banana", MARKET_OK, TaskState.SUCCEEDED, ["https://cdn.example/e98962_0.png"], None),
        ("google/nano-banana", MARKET_FAIL, TaskState.FAILED, [], ("500", "Internal server error")),
        ("gpt4o-image", FOUR_O_OK, TaskState.SUCCEEDED, FOUR_O_OK["data"]["info"]["result_urls"], None),
        ("gpt4o-image", FOUR_O_FAIL, TaskState.FAILED, [], ("400", FOUR_O_FAIL["msg"])),
        ("flux-kontext-pro", FLUX_OK, TaskState.SUCCEEDED, ["https://cdn.example/xyz.jpg"], None),
        ("flux-kontext-pro", FLUX_FAIL, TaskState.FAILED, [], ("400", FLUX_FAIL["msg"])),
    ],
)
def test_the_docs_callbacks_parse_into_task_status(
    kie_registry: Registry, model: str, body: Any, state: TaskState, urls: list[str], fail: tuple[str, str] | None
) -> None:
    status = parse_callback(kie_registry, model, json.dumps(body).encode())
    assert status.state is state
    assert list(status.urls) == urls
    if fail:
        assert (status.fail_code, status.fail_message) == fail


def _signed(task_id: str, at: float = NOW) -> dict[str, str]:
    timestamp = str(int(at))
    digest = hmac.new(KEY.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return {"X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": base64.b64encode(digest).decode()}


def test_a_signed_callback_is_accepted(kie_registry: Registry) -> None:
    headers = {k.lower(): v for k, v in _signed("task_4o_abc123").items()}  # header case does not matter
    status = handle_callback(kie_registry, "gpt4o-image", headers, json.dumps(FOUR_O_OK), hmac_key=KEY, now=NOW)
    assert status.state is TaskState.SUCCEEDED


def test_the_docs_sample_reads_task_id(kie_registry: Registry) -> None:
    body = {"code": 200, "msg": "ok", "data": {**MARKET_OK["data"], "task_id": "t1"}}
    del body["data"]["taskId"]
    status = handle_callback(kie_registry, "google/nano-banana", _signed("t1"), body, hmac_key=KEY, now=NOW)
    assert status.state is TaskState.SUCCEEDED


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "not signed"),
        (_signed("another-task"), "does not match"),
        ({**_signed("task_4o_abc123"), "X-Webhook-Signature": "AAAA"}, "does not match"),
        (_signed("task_4o_abc123", at=NOW - 3600), "replay"),
        ({**_signed("task_4o_abc123"), "X-Webhook-Timestamp": "soon"}, "not a number"),
    ],
)
def test_untrustworthy_callbacks_are_refused(kie_registry: Registry, headers: dict[str, str], fragment: str) -> None:
    with pytest.raises(WebhookError, match=fragment):
        handle_callback(kie_registry, "gpt4o-image", headers, FOUR_O_OK, hmac_key=KEY, now=NOW)


def test_signature_matches_the_docs_formula() -> None:
    expected = base64.b64encode(hmac.new(b"k", b"t.1", hashlib.sha256).digest()).decode()
    assert signature("k", "t", "1") == expected
    verify_signature("k", "t", "1", expected, now=1.0)


def test_garbage_callbacks_are_parse_errors(kie_registry: Registry) -> None:
    for body in (b"not json", {"code": 200}, {"code": 200, "data": {"info": {}}}):
        with pytest.raises(ParseError):
            parse_callback(kie_registry, "gpt4o-image", body)


def test_a_callback_without_a_task_id_is_refused_naming_it(kie_registry: Registry) -> None:
    body = {"code": 200, "msg": "ok", "data": {"info": {"result_urls": ["https://cdn.example/a.png"]}}}
    with pytest.raises(ParseError) as refused:
        parse_callback(kie_registry, "gpt4o-image", body)
    assert str(refused.value) == "the callback names no taskId"


@pytest.mark.parametrize(("model", "body"), [("gpt4o-image", FOUR_O_FAIL), ("flux-kontext-pro", FLUX_OK)])
def test_a_callback_read_by_its_envelope_code_keeps_the_whole_body(
    kie_registry: Registry, model: str, body: Any
) -> None:
    assert parse_callback(kie_registry, model, body).raw == body


def test_handle_callback_applies_the_window_it_is_given(kie_registry: Registry) -> None:
    an_hour_ago = _signed("task_4o_abc123", at=NOW - 3600)
    status = handle_callback(kie_registry, "gpt4o-image", an_hour_ago, FOUR_O_OK, hmac_key=KEY, now=NOW, tolerance=3600)
    assert status.state is TaskState.SUCCEEDED


def _signed_at(timestamp: str, task_id: str = "task_4o_abc123", key: str = KEY) -> dict[str, str]:
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return {"X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": base64.b64encode(digest).decode()}


@pytest.mark.parametrize("key", ["", "   ", "\t\n"])
def test_a_blank_hmac_key_refuses_every_callback_first(kie_registry: Registry, key: str) -> None:
    headers = _signed_at(str(int(NOW)), key=key)  # signed with the blank key: would verify without the check
    with pytest.raises(WebhookError, match="no webhook HMAC key is configured; callbacks are refused"):
        verify_signature(key, "task_4o_abc123", headers["X-Webhook-Timestamp"], headers["X-Webhook-Signature"], now=NOW)
    for sent in (headers, {}):  # refused before the headers are even read
        with pytest.raises(WebhookError, match="no webhook HMAC key is configured"):
            handle_callback(kie_registry, "gpt4o-image", sent, FOUR_O_OK, hmac_key=key, now=NOW)
        with pytest.raises(WebhookError, match="no webhook HMAC key is configured"):
            verified_task_id(sent, b"not json", hmac_key=key, now=NOW)


@pytest.mark.parametrize(
    "timestamp",
    [
        "nan",
        "NaN",
        "inf",
        "-inf",
        "infinity",
        "1_755_599_644",  # float() takes underscores
        "1.755599644e9",
        "+1755599644",
        "\u0661\u0667\u0665\u0665\u0665\u0669\u0669\u0666\u0664\u0664",  # Arabic-Indic digits: float() takes them
        "1755599644.",
        "1755599644." + "0" * 100,  # absurdly long
    ],
)
def test_only_plain_decimal_seconds_are_timestamps(kie_registry: Registry, timestamp: str) -> None:
    headers = _signed_at(timestamp)  # correctly signed: only the timestamp's form is wrong
    with pytest.raises(WebhookError, match="not a number"):
        handle_callback(kie_registry, "gpt4o-image", headers, FOUR_O_OK, hmac_key=KEY, now=NOW)
    with pytest.raises(WebhookError, match="not a number"):
        verify_signature(KEY, "task_4o_abc123", timestamp, headers["X-Webhook-Signature"], now=NOW)


def test_a_fractional_timestamp_is_accepted() -> None:
    headers = _signed_at(f"{NOW:.0f}.25")
    assert verified_task_id(headers, FOUR_O_OK, hmac_key=KEY, now=NOW, replay_guard=ReplayGuard()) == "task_4o_abc123"


@pytest.mark.parametrize(("now", "tolerance"), [(float("nan"), 300.0), (NOW, float("nan")), (NOW, float("inf"))])
def test_a_non_finite_clock_or_window_is_refused(now: float, tolerance: float) -> None:
    headers = _signed_at(str(int(NOW)))
    with pytest.raises(ValueError, match="finite"):
        verify_signature(
            KEY,
            "task_4o_abc123",
            headers["X-Webhook-Timestamp"],
            headers["X-Webhook-Signature"],
            now=now,
            tolerance=tolerance,
        )


def _as_bytes(headers: dict[str, str]) -> dict[bytes, bytes]:
    return {name.encode("latin-1"): value.encode("latin-1") for name, value in headers.items()}


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(_as_bytes, id="bytes-mapping"),
        pytest.param(lambda h: {name: value.encode() for name, value in h.items()}, id="bytes-values"),
        pytest.param(lambda h: list(_as_bytes(h).items()), id="bytes-pairs"),  # ASGI scope["headers"]
        pytest.param(lambda h: [(n.lower(), v) for n, v in h.items()], id="str-pairs"),
        pytest.param(lambda h: (*h.items(), ("X-Other", b"caf\xe9")), id="tuple-with-latin-1"),
    ],
)
def test_headers_may_be_bytes_or_pairs(kie_registry: Registry, shape: Any) -> None:
    headers = shape(_signed("task_4o_abc123"))
    status = handle_callback(
        kie_registry, "gpt4o-image", headers, FOUR_O_OK, hmac_key=KEY, now=NOW, replay_guard=ReplayGuard()
    )
    assert status.state is TaskState.SUCCEEDED


def test_a_signature_given_as_bytes_is_checked() -> None:
    headers = _as_bytes(_signed("task_4o_abc123"))
    verify_signature(KEY, "task_4o_abc123", headers[b"X-Webhook-Timestamp"], headers[b"X-Webhook-Signature"], now=NOW)
    with pytest.raises(WebhookError, match="does not match"):
        verify_signature(KEY, "task_4o_abc123", headers[b"X-Webhook-Timestamp"], b"AAAA", now=NOW)


def test_conflicting_signature_headers_are_refused() -> None:
    good = _signed("task_4o_abc123")
    pairs = [*good.items(), ("x-webhook-signature", "forged=")]
    with pytest.raises(WebhookError, match="conflicting"):
        verified_task_id(pairs, FOUR_O_OK, hmac_key=KEY, now=NOW, replay_guard=ReplayGuard())


@pytest.mark.parametrize(
    "sent",
    ["not base64!", "\u00e9" * 44, "A" * 10_000, "=" * 44, b"\xff\xfe" * 22],
)
def test_a_malformed_signature_is_only_a_mismatch(sent: str | bytes) -> None:
    with pytest.raises(WebhookError, match="does not match"):
        verify_signature(KEY, "task_4o_abc123", str(int(NOW)), sent, now=NOW)


def test_a_replayed_callback_is_refused_even_with_another_body(kie_registry: Registry) -> None:
    guard = ReplayGuard()
    headers = _signed("task_4o_abc123")
    handle_callback(kie_registry, "gpt4o-image", headers, FOUR_O_OK, hmac_key=KEY, now=NOW, replay_guard=guard)
    forged = {**FOUR_O_OK, "data": {"taskId": "task_4o_abc123", "info": {"result_urls": ["https://evil.example/x"]}}}
    for body in (FOUR_O_OK, forged):
        with pytest.raises(WebhookError, match="already accepted"):
            handle_callback(kie_registry, "gpt4o-image", headers, body, hmac_key=KEY, now=NOW + 1, replay_guard=guard)
    with pytest.raises(WebhookError, match="already accepted"):
        verified_task_id(headers, forged, hmac_key=KEY, now=NOW + 2, replay_guard=guard)
    assert verified_task_id(headers, forged, hmac_key=KEY, now=NOW, replay_guard=ReplayGuard()) == "task_4o_abc123"


def test_the_default_guard_is_used_when_none_is_given(fresh_default_guard: ReplayGuard) -> None:
    headers = _signed("task_4o_abc123")
    verified_task_id(headers, FOUR_O_OK, hmac_key=KEY, now=NOW)
    assert len(fresh_default_guard) == 1
    with pytest.raises(WebhookError, match="already accepted"):
        verified_task_id(headers, FOUR_O_OK, hmac_key=KEY, now=NOW)


def test_refused_callbacks_are_not_remembered(fresh_default_guard: ReplayGuard) -> None:
    for headers in (_signed("another-task"), _signed("task_4o_abc123", at=NOW - 3600), {}):
        with pytest.raises(WebhookError):
            verified_task_id(headers, FOUR_O_OK, hmac_key=KEY, now=NOW)
    assert len(fresh_default_guard) == 0


def test_the_guard_forgets_callbacks_once_out_of_the_window() -> None:
    guard = ReplayGuard()
    verified_task_id(_signed("t1"), {"data": {"taskId": "t1"}}, hmac_key=KEY, now=NOW, tolerance=10, replay_guard=guard)
    assert len(guard) == 1
    later = NOW + 12  # t1's timestamp is now outside the 10 s window (plus the guard's 1 s slack)
    verified_task_id(
        _signed("t2", at=later), {"data": {"taskId": "t2"}}, hmac_key=KEY, now=later, tolerance=10, replay_guard=guard
    )
    assert len(guard) == 1  # t1 dropped, t2 kept
    with pytest.raises(WebhookError, match="refusing a replay"):  # and t1 is still refused, by the window
        verified_task_id(
            _signed("t1"), {"data": {"taskId": "t1"}}, hmac_key=KEY, now=later, tolerance=10, replay_guard=guard
        )


def test_a_full_guard_refuses_until_entries_expire() -> None:
    guard = ReplayGuard(max_entries=2)
    for name in ("t1", "t2"):
        guard.admit(name, "1", "s", expires_at=NOW, now=NOW)
    with pytest.raises(WebhookError, match="full"):
        guard.admit("t3", "1", "s", expires_at=NOW, now=NOW)
    guard.admit("t3", "1", "s", expires_at=NOW + 10, now=NOW + 5)
    assert len(guard) == 1
    with pytest.raises(ValueError):
        ReplayGuard(max_entries=0)


def test_the_guard_admits_a_callback_once_across_threads() -> None:
    guard = ReplayGuard()
    headers = _signed("task_4o_abc123")
    barrier = threading.Barrier(16)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        try:
            verified_task_id(headers, FOUR_O_OK, hmac_key=KEY, now=NOW, replay_guard=guard)
            accepted = True
        except WebhookError:
            accepted = False
        with lock:
            outcomes.append(accepted)

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 15 + [True]


def test_verified_task_id_returns_only_the_task_id() -> None:
    body = json.dumps({"code": 200, "data": {"task_id": "t1"}}).encode()  # no state at all: nothing else is read
    assert verified_task_id(_signed("t1"), body, hmac_key=KEY, now=NOW) == "t1"
    with pytest.raises(WebhookError, match="does not match"):
        verified_task_id(_signed("t1"), {"data": {"taskId": "t2"}}, hmac_key=KEY, now=NOW)
    with pytest.raises(WebhookError, match="unreadable"):
        verified_task_id(_signed("t1"), b"not json", hmac_key=KEY, now=NOW)


def test_the_trust_model_is_documented() -> None:
    for doc in (kiecore.webhooks.__doc__, handle_callback.__doc__, verified_task_id.__doc__):
        assert doc is not None and "API key" in doc and "signed" in doc
