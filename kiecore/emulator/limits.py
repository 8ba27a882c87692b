"""Sliding-window counters for the live service's rate limits, enforced on request. The limits themselves are
:data:`kiecore.ratelimit.PUBLISHED_LIMITS`, the client's own; the emulator's defaults read them.

Each limit is ``(count, seconds)``: at most ``count`` admitted requests in any sliding ``seconds``-long
window per key. Refused requests do not count towards a window (they were not processed).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence

#: One check: ``(window name, key, (count, seconds))``.
Check = tuple[str, str, tuple[int, float]]


class SlidingLimiter:
    """Sliding-window counters by ``(window name, key)`` (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str], collections.deque[float]] = {}
        self._violations = 0

    def admit(self, checks: Sequence[Check]) -> bool:
        """Whether a request passes every check; if so it is counted in each window, else as a violation."""
        now = self._clock()
        with self._lock:
            windows = []
            for name, key, (count, seconds) in checks:
                hits = self._hits.setdefault((name, key), collections.deque())
                while hits and hits[0] <= now - seconds:
                    hits.popleft()
                if len(hits) >= count:
                    self._violations += 1
                    return False
                windows.append(hits)
            for hits in windows:
                hits.append(now)
            return True

    @property
    def violations(self) -> int:
        """How many requests were refused."""
        with self._lock:
            return self._violations

    def clear(self) -> None:
        """Empty every window and zero the violation count."""
        with self._lock:
            self._hits.clear()
            self._violations = 0
