"""Client-side rate limits, shared by every thread of a process, so a burst of work causes no 429.

The live service allows 20 new tasks per 10 s per account, 10 status queries per second per key, and
3 record-info queries per second per 4o task (docs/kie-api-notes.md §2.1). A 429 that still comes is honoured by
the transport's ``Retry-After`` handling.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import time
from collections.abc import Callable

import attrs


@attrs.frozen(kw_only=True)
class RateLimits:
    """``(count, seconds)`` windows: at most ``count`` requests in any ``seconds``-long sliding window."""

    creates: tuple[int, float] = (20, 10.0)
    status: tuple[int, float] = (10, 1.0)
    task_status: tuple[int, float] = (3, 1.0)  # per task, for the GPT-4o record-info endpoint


#: The limits the live service publishes.
PUBLISHED_LIMITS = RateLimits()


class SlidingWindow:
    """At most ``limit`` acquisitions in any ``period`` seconds; ``acquire`` waits for a free slot.

    The window is kept slightly longer than ``period`` (by ``margin``, default 2% and at least 50 ms), since the
    server counts arrivals, and a request can arrive later than it left.
    """

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float | None = None,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a rate limit needs a positive count and period")
        self.limit = limit
        self.period = period + (max(0.05, 0.02 * period) if margin is None else margin)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._times: collections.deque[float] = collections.deque()
        self.last_used = clock()

    def acquire(self, deadline: float | None = None) -> bool:
        """Take a slot, waiting as needed; ``False`` (no slot taken) if none frees up before ``deadline``."""
        while True:
            with self._lock:
                now = self._clock()
                while self._times and self._times[0] <= now - self.period:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    self.last_used = now
                    return True
                wait = self._times[0] + self.period - now
            if deadline is not None and now + wait > deadline:
                return False
            self._sleep(wait)


class AccountLimiter:
    """The limits of one account (one API key on one host): creates, status queries, and per-task status."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self.creates = SlidingWindow(*limits.creates, clock=clock, sleep=sleep)
        self.status = SlidingWindow(*limits.status, clock=clock, sleep=sleep)
        self._tasks: dict[str, SlidingWindow] = {}
        self._lock = threading.Lock()

    def task_status(self, task_id: str) -> SlidingWindow:
        """The per-task window of ``task_id`` (windows idle for a minute are dropped)."""
        with self._lock:
            now = self._clock()
            for stale in [key for key, window in self._tasks.items() if now - window.last_used > 60.0]:
                del self._tasks[stale]
            if task_id not in self._tasks:
                self._tasks[task_id] = SlidingWindow(*self.limits.task_status, clock=self._clock, sleep=self._sleep)
            return self._tasks[task_id]


def account_fingerprint(base_url: str, api_key: str) -> str:
    """A stable name for one key at one API host that does not reveal the key (a SHA-256 digest)."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()


_SHARED: dict[tuple[str, RateLimits], AccountLimiter] = {}
_SHARED_LOCK = threading.Lock()


def account_limiter(
    base_url: str,
    api_key: str,
    limits: RateLimits,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> AccountLimiter:
    """The process-wide limiter for this key on this host: every client using them shares it."""
    account = account_fingerprint(base_url, api_key)
    with _SHARED_LOCK:
        key = (account, limits)
        if key not in _SHARED:
            _SHARED[key] = AccountLimiter(limits, clock, sleep)
        return _SHARED[key]
