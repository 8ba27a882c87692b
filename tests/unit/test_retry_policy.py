"""Backoff, Retry-After and which answers to a create are refusals: pure policy, no I/O."""

from __future__ import annotations

import email.utils

import pytest

from kiecore.retry import REFUSAL_CODES, CreateOutcome, RetryPolicy, create_outcome, parse_retry_after


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0), (4, 2.0, 4.0), (10, 15.0, 30.0)],
)
def test_backoff_doubles_with_full_jitter_up_to_the_cap(attempt: int, low: float, high: float) -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=30.0)
    delays = [policy.delay(attempt) for _ in range(200)]
    assert all(low <= delay <= high for delay in delays)
    assert max(delays) - min(delays) > (high - low) / 4  # jitter, not a constant


def test_retry_after_wins_over_backoff() -> None:
    policy = RetryPolicy()
    assert policy.delay(1, 7.5) == 7.5
    assert policy.delay(3, -2.0) == 0.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), (" 2.5 ", 2.5), ("0", 0.0), ("-4", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_as_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:00", now=now) is None  # no zone: unreadable


@pytest.mark.parametrize(
    ("http", "code", "outcome"),
    [
        (200, 200, CreateOutcome.SUCCESS),
        (201, 200, CreateOutcome.SUCCESS),
        (429, None, CreateOutcome.RETRIED),
        (429, 500, CreateOutcome.RETRIED),
        (200, 429, CreateOutcome.RETRIED),
        (400, None, CreateOutcome.REFUSED),
        (403, 200, CreateOutcome.REFUSED),
        (404, 404, CreateOutcome.REFUSED),
        (500, 429, CreateOutcome.UNCERTAIN),
        (503, 455, CreateOutcome.UNCERTAIN),
        (502, None, CreateOutcome.UNCERTAIN),
        (200, 500, CreateOutcome.UNCERTAIN),
        (200, 501, CreateOutcome.UNCERTAIN),
        (200, 418, CreateOutcome.UNCERTAIN),
        (200, None, CreateOutcome.UNCERTAIN),
        (302, None, CreateOutcome.UNCERTAIN),
        (100, 200, CreateOutcome.UNCERTAIN),
    ],
)
def test_which_answers_to_a_create_are_which(http: int, code: int | None, outcome: CreateOutcome) -> None:
    assert create_outcome(http, code) is outcome


@pytest.mark.parametrize("code", sorted(REFUSAL_CODES - {429}))
def test_every_refusal_code_with_http_200_is_a_refusal(code: int) -> None:
    assert create_outcome(200, code) is CreateOutcome.REFUSED
