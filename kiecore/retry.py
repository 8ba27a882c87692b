"""When to retry, and how long to wait: exponential backoff with full jitter, and ``Retry-After``.

A create (a POST that makes a task and spends credits) is different: it may be repeated only when its answer
proves that nothing was created. :func:`create_outcome` is that rule, in one place:

===========================================================  ===========
answer to a create                                           outcome
===========================================================  ===========
HTTP 2xx, body ``code`` 200 (or no code)                     success
HTTP 429, whatever the body                                  retried
HTTP 2xx, body ``code`` 429                                  retried
HTTP 4xx (not 429), whatever the body                        refused
HTTP 2xx, body ``code`` in :data:`REFUSAL_CODES`             refused
HTTP 5xx, whatever the body                                  uncertain
HTTP 2xx, body ``code`` 500, 501 or any undocumented code    uncertain
HTTP 1xx or 3xx; a 2xx reply that is not JSON                uncertain
===========================================================  ===========

A connection that was never made is retried too; anything lost after the request was sent (a timeout, a
reset, a reply too slow or too large) is uncertain. Uncertain creates are never retried.
"""

from __future__ import annotations

import email.utils
import enum
import random
import time

import attrs

#: HTTP (or body) codes that a status GET or a download retries: the request is safe to repeat.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Body codes that, with HTTP 2xx, prove a create made nothing: bad request, bad key, no credits, not found,
#: validation, rate limited, the key's usage cap, maintenance, feature disabled, the 4o queue full.
REFUSAL_CODES = frozenset({400, 401, 402, 404, 422, 429, 433, 455, 505, 550})


class CreateOutcome(enum.Enum):
    """What one answer to a create means."""

    SUCCESS = "success"
    RETRIED = "retried"  # refused for now (429): nothing was created, so it is safe to send again
    REFUSED = "refused"  # nothing was created; sending it again would be refused again
    UNCERTAIN = "uncertain"  # the task may exist: never send it again


def create_outcome(http_status: int, body_code: int | None) -> CreateOutcome:
    """The outcome of a create answered with ``http_status``. ``body_code`` is the JSON body's ``code`` (the HTTP
    status when the JSON has none), or ``None`` when the body is not JSON."""
    if http_status == 429:
        return CreateOutcome.RETRIED
    if 400 <= http_status < 500:
        return CreateOutcome.REFUSED
    if not 200 <= http_status < 300 or body_code is None:
        return CreateOutcome.UNCERTAIN
    if body_code == 200:
        return CreateOutcome.SUCCESS
    if body_code == 429:
        return CreateOutcome.RETRIED
    return CreateOutcome.REFUSED if body_code in REFUSAL_CODES else CreateOutcome.UNCERTAIN


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard to retry. ``attempts`` counts the first try; waits grow from ``backoff`` to ``max_backoff``
    seconds with full jitter; a ``Retry-After`` longer than ``max_retry_after`` is not waited for."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
