"""Callbacks: signatures checked in constant time within a time window; bodies of every dialect parsed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from kiecore.errors import ParseError
from kiecore.model import TaskState
from kiecore.registry import Registry
from kiecore.webhooks import WebhookError, handle_callback, parse_callback, signature, verify_signature

KEY = "whk-secret"
NOW = 1_755_599_644.0

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
