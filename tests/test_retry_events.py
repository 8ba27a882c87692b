"""Retry events (kiecore/events.py): what they say, where they go, and that the engine and the transport raise
them for a create, a status query and a request retried inside one call."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.errors import ParseError, RateLimitedError, ServerError, TransportError
from kiecore.events import RetryCause, RetryEvent, report, reporting, retry_event, seconds_text

KEY = "sk-retry-events-0123456789"


def event(cause: RetryCause = RetryCause.UNREACHABLE, **fields: Any) -> RetryEvent:
    values: dict[str, Any] = {"what": "query", "host": "api.kie.ai", "attempt": 2, "delay": 1.0, "error": "e"}
    return RetryEvent(cause=cause, **{**values, **fields})


def test_an_event_says_what_went_wrong_and_when_the_next_attempt_comes() -> None:
    assert event().describe() == "api.kie.ai unreachable, retrying in 1.0s (attempt 2)"
    assert event().describe(0.0) == "api.kie.ai unreachable, retrying (attempt 2)"
    assert (
        event(RetryCause.RATE_LIMITED, code=429, delay=12.4).describe()
        == "rate limited (429), retrying in 12s (attempt 2)"
    )
    assert event(RetryCause.SERVER, code=502, attempt=3).describe(0.25) == (
        "server error (502) at api.kie.ai, retrying in 0.2s (attempt 3)"
    )
    assert event(RetryCause.UNREADABLE).trouble() == "unreadable reply from api.kie.ai"
    assert [seconds_text(0.44), seconds_text(9.94), seconds_text(9.96), seconds_text(61.2)] == [
        "0.4s",
        "9.9s",
        "10s",
        "61s",
    ]


def test_the_cause_and_code_come_from_the_error() -> None:
    made = [
        retry_event("create", "h", RateLimitedError("busy", code=429), attempt=2, delay=1),
        retry_event("query", "h", ServerError("bad gateway", code=502), attempt=2, delay=1),
        retry_event("query", "h", ParseError("not JSON"), attempt=2, delay=1),
        retry_event("query", "h", TransportError("connection to h failed:\n  refused"), attempt=3, delay=-1),
    ]
    assert [(e.cause, e.code) for e in made] == [
        (RetryCause.RATE_LIMITED, 429),
        (RetryCause.SERVER, 502),
        (RetryCause.UNREADABLE, None),
        (RetryCause.UNREACHABLE, None),
    ]
    assert made[3].error == "connection to h failed: refused" and made[3].delay == 0.0  # one line; never negative
    masked = retry_event(
        "query", "h", ParseError(f"reply quoting {KEY}"), attempt=2, delay=1, redact=lambda t: t.replace(KEY, "***")
    )
    assert KEY not in masked.error


def test_an_event_goes_to_the_enclosing_callback_and_a_failing_one_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    outer: list[RetryEvent] = []
    inner: list[RetryEvent] = []
    report(event())  # no callback: nowhere, and no error
    with reporting(outer.append):
        report(event(attempt=2))
        with reporting(inner.append):
            report(event(attempt=3))
        with reporting(None):
            report(event(attempt=4))
        report(event(attempt=5))

    def broken(_event: RetryEvent) -> None:
        raise RuntimeError("a display bug")

    with caplog.at_level(logging.WARNING, logger="kiecore.events"), reporting(broken):
        report(event())
    assert [e.attempt for e in outer] == [2, 5] and [e.attempt for e in inner] == [3]
    assert "on_retry callback raised" in caplog.text


@pytest.fixture
def client(kie_client_factory: Callable[..., Client]) -> Client:
    return kie_client_factory(KEY)


def test_generate_reports_a_failed_status_query(client: Client, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.inject("drop", on="status", times=1)
    events: list[RetryEvent] = []
    result = client.generate("nano-banana-pro", "a fox", output_dir=tmp_path, on_retry=events.append)
    assert result.files
    (only,) = events
    assert (only.what, only.cause, only.attempt, only.code) == ("query", RetryCause.UNREACHABLE, 2, None)
    assert only.host == kie_emulator.base_url.split("//", 1)[1] and only.delay >= 0
    assert KEY not in repr(only)


def test_generate_reports_each_failed_query_in_a_row_and_a_server_error(
    client: Client, kie_emulator: Emulator, tmp_path: Path
) -> None:
    kie_emulator.inject("server_error", on="status", times=2, status=502)
    events: list[RetryEvent] = []
    client.generate("nano-banana-pro", "a fox", output_dir=tmp_path, on_retry=events.append)
    assert [(e.what, e.cause, e.code, e.attempt) for e in events] == [
        ("query", RetryCause.SERVER, 502, 2),
        ("query", RetryCause.SERVER, 502, 3),
    ]


def test_a_rate_limited_create_is_reported_and_then_created(
    client: Client, kie_emulator: Emulator, tmp_path: Path
) -> None:
    kie_emulator.inject("rate_limit", on="submit", times=1)
    events: list[RetryEvent] = []
    future = client.start("nano-banana-pro", "a fox", output_dir=tmp_path, on_retry=events.append)
    assert future.result(timeout=30).files
    (only,) = events
    assert (only.what, only.cause, only.code, only.attempt) == ("create", RetryCause.RATE_LIMITED, 429, 2)
    assert only.describe().startswith("rate limited (429), retrying")


def test_the_transport_reports_a_request_it_retries_inside_one_call(client: Client, kie_emulator: Emulator) -> None:
    handle = client.submit("nano-banana-pro", prompt="a fox")
    kie_emulator.inject("server_error", on="status", times=1)
    events: list[RetryEvent] = []
    with reporting(events.append):
        client.status(handle)
    (only,) = events
    assert (only.what, only.cause, only.code, only.attempt) == ("query", RetryCause.SERVER, 500, 2)
    assert KEY not in only.error


def test_an_on_retry_that_raises_changes_nothing(client: Client, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.inject("drop", on="status", times=1)

    def broken(_event: RetryEvent) -> None:
        raise RuntimeError("a display bug")

    assert client.generate("nano-banana-pro", "a fox", output_dir=tmp_path, on_retry=broken).files


def test_a_download_retried_after_a_file_host_error_is_reported(
    client: Client, kie_emulator: Emulator, tmp_path: Path
) -> None:
    kie_emulator.inject("server_error", on="download", times=1, status=503)
    events: list[RetryEvent] = []
    result = client.generate("nano-banana-pro", "a fox", output_dir=tmp_path, on_retry=events.append)
    assert result.files
    (only,) = events
    assert (only.what, only.cause, only.code, only.attempt) == ("download", RetryCause.SERVER, 503, 2)
    assert only.describe().startswith(f"server error (503) at {only.host}, retrying")
