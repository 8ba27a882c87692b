"""When to retry, and how long to wait: exponential backoff with full jitter, and ``Retry-After``."""

from __future__ import annotations

import email.utils
import random
import time

import attrs

#: HTTP (or body) codes that a status GET or a download retries: the request is safe to repeat.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


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
