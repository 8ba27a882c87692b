"""What a callback must carry to be trusted: headers, timestamp, window, signature and replay, with no registry."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kiecore.errors import ParseError
from kiecore.webhooks import (
    ReplayGuard,
    WebhookError,
    callback_task_id,
    signature,
    verified_task_id,
    verify_signature,
)

KEY = "whk-secret"
NOW = 1_755_599_644.0
BODY = {"data": {"taskId": "t1"}}
UNSIGNED = "the callback is not signed (no X-Webhook-Timestamp / X-Webhook-Signature)"
UNREADABLE_HEADERS = "unreadable callback headers: expected a mapping or (name, value) pairs"


def signed(task_id: str = "t1", timestamp: str = str(int(NOW))) -> dict[str, str]:
    return {"X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": signature(KEY, task_id, timestamp)}


def refusal(headers: Any, body: Any = BODY, **options: Any) -> str:
    options = {"hmac_key": KEY, "now": NOW, "replay_guard": ReplayGuard(), **options}
    with pytest.raises(WebhookError) as refused:
        verified_task_id(headers, body, **options)
    return str(refused.value)


def test_each_refusal_says_exactly_what_is_wrong() -> None:
    assert refusal({}) == UNSIGNED
    assert refusal({"X-Webhook-Timestamp": str(int(NOW))}) == UNSIGNED  # a timestamp alone is not a signature
    assert refusal({"X-Webhook-Signature": signed()["X-Webhook-Signature"]}) == UNSIGNED
    assert refusal({**signed(), "X-Webhook-Signature": "AAAA"}) == "the callback's X-Webhook-Signature does not match"
    assert refusal(signed(timestamp="soon")) == "the callback's X-Webhook-Timestamp is not a number of unix seconds"
    assert refusal(signed(), hmac_key=" ") == "no webhook HMAC key is configured; callbacks are refused"
    assert refusal(signed(), body={"data": {}}) == "unreadable callback: the callback names no taskId"
    assert refusal(signed(), body=b"{") == "unreadable callback: the callback body is not JSON"


def test_headers_that_are_neither_a_mapping_nor_pairs_are_refused_as_unreadable() -> None:
    assert refusal(5) == UNREADABLE_HEADERS
    assert refusal("X-Webhook-Timestamp: 1") == UNREADABLE_HEADERS
    assert refusal(["ab"]) == UNREADABLE_HEADERS  # a two-character string is not a (name, value) pair
    assert refusal([("X-Webhook-Timestamp", "1", "extra")]) == UNREADABLE_HEADERS


def test_a_header_value_that_is_not_text_counts_as_missing() -> None:
    assert refusal({"X-Webhook-Timestamp": None, "X-Webhook-Signature": "x"}) == UNSIGNED


def test_header_values_lose_spaces_and_tabs_only() -> None:
    padded = {name: f" \t{value}\t " for name, value in signed().items()}
    assert verified_task_id(padded, BODY, hmac_key=KEY, now=NOW, replay_guard=ReplayGuard()) == "t1"
    with_newline = {**signed(), "X-Webhook-Timestamp": f"{int(NOW)}\n"}
    assert refusal(with_newline) == "the callback's X-Webhook-Timestamp is not a number of unix seconds"


def test_the_window_includes_its_edge() -> None:
    at = str(int(NOW) - 300)
    accepted = verified_task_id(
        signed(timestamp=at), BODY, hmac_key=KEY, now=NOW, tolerance=300, replay_guard=ReplayGuard()
    )
    assert accepted == "t1"
    assert refusal(signed(timestamp=at), tolerance=299) == (
        "the callback's timestamp is 300s away from now; refusing a replay"
    )


def test_a_window_of_zero_or_a_fraction_of_a_second_is_allowed() -> None:
    verify_signature(KEY, "t1", "100", signature(KEY, "t1", "100"), now=100.0, tolerance=0)
    verify_signature(KEY, "t1", "100", signature(KEY, "t1", "100"), now=100.25, tolerance=0.5)
    with pytest.raises(ValueError, match=r"tolerance must be a finite number of seconds >= 0, not -1"):
        verify_signature(KEY, "t1", "100", signature(KEY, "t1", "100"), now=100.0, tolerance=-1)


def test_without_a_clock_the_current_time_is_used() -> None:
    at = str(int(time.time()))
    verify_signature(KEY, "t1", at, signature(KEY, "t1", at))
    with pytest.raises(WebhookError, match="away from now"):
        verify_signature(KEY, "t1", "100", signature(KEY, "t1", "100"))


def test_a_timestamp_of_up_to_32_characters_is_read() -> None:
    at = str(int(NOW)).rjust(32, "0")
    assert verified_task_id(signed(timestamp=at), BODY, hmac_key=KEY, now=NOW, replay_guard=ReplayGuard()) == "t1"
    assert refusal(signed(timestamp="0" + at)) == "the callback's X-Webhook-Timestamp is not a number of unix seconds"


def test_callbacks_for_different_tasks_at_the_same_second_are_each_accepted_once() -> None:
    guard = ReplayGuard()
    for task in ("t1", "t2"):
        body = {"data": {"taskId": task}}
        assert verified_task_id(signed(task), body, hmac_key=KEY, now=NOW, replay_guard=guard) == task
    assert refusal(signed("t2"), {"data": {"taskId": "t2"}}, replay_guard=guard) == (
        f"the callback for task t2 at {int(NOW)} was already accepted; refusing a replay"
    )


def test_the_guard_keeps_an_entry_until_its_window_and_slack_have_passed() -> None:
    guard = ReplayGuard(max_entries=1)
    guard.admit("t1", "1", "s", expires_at=100.0, now=0.0)
    with pytest.raises(WebhookError, match="already accepted"):
        guard.admit("t1", "1", "s", expires_at=100.0, now=101.0)  # exactly at expiry + 1 s slack: still kept
    guard.admit("t1", "1", "s", expires_at=200.0, now=101.5)
    assert len(guard) == 1


def test_a_guard_needs_room_for_one_callback() -> None:
    assert ReplayGuard(max_entries=1).max_entries == 1
    with pytest.raises(ValueError, match=r"^max_entries must be at least 1$"):
        ReplayGuard(max_entries=0)


def test_a_callback_without_a_task_id_is_a_parse_error_naming_it() -> None:
    with pytest.raises(ParseError, match=r"^the callback names no taskId$"):
        callback_task_id({"code": 200, "data": {"state": "success"}})
    assert callback_task_id(b'{"data": {"task_id": "t9"}}') == "t9"
