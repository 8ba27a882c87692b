"""Fault injection: what goes wrong, on which kind of request, and how many times.

A :class:`Fault` is either *request-level* (it shapes the reply to one request: ``rate_limit``,
``server_error``, ``drop``, ``drop_after_create``, ``non_json``, ``auth``, ``credits``, ``slow``, ``drip``) or
*task-level* (it attaches to the next created task(s): ``fail_task``, ``invisible``, ``expire``). ``fired`` counts how
often a fault took effect; every method of :class:`FaultPlan` is thread-safe.
"""

from __future__ import annotations

import enum
import threading
from typing import Any

import attrs

#: The kinds of request a fault may target (``on``).
PHASES: tuple[str, ...] = ("submit", "status", "download", "upload", "any")


class FaultKind(enum.StrEnum):
    """What goes wrong."""

    RATE_LIMIT = "rate_limit"  # HTTP 429 + Retry-After, body code 429; not processed
    SERVER_ERROR = "server_error"  # HTTP 500 (option ``status``: 5xx), body code = status; not processed
    DROP = "drop"  # connection closed without a reply; not processed
    DROP_AFTER_CREATE = "drop_after_create"  # submit only: the task is created, then the connection closed
    NON_JSON = "non_json"  # HTTP 200, text/html ``<html>Bad gateway</html>``; not processed
    FAIL_TASK = "fail_task"  # the next ``times`` created tasks end failed (options ``message``, ``code``)
    AUTH = "auth"  # HTTP 200, body code 401; not processed
    CREDITS = "credits"  # HTTP 200, body code 402 "Credits insufficient"; not processed
    USAGE_CAP = "usage_cap"  # HTTP 200, body code 433: the key's own usage cap is reached; not processed
    INVISIBLE = "invisible"  # the next task's first ``times`` status queries answer "recordInfo is null"
    # (option ``reply="null_data"``: ``{"code": 200, "msg": "success", "data": null}`` instead, as seen live)
    SLOW = "slow"  # the reply is held back ``seconds`` (default 1.0); the request is processed normally
    DRIP = "drip"  # the reply's body is sent one byte every ``seconds`` (default 0.5); processed normally
    EXPIRE = "expire"  # the next ``times`` created tasks' original result URLs answer 403 "Request has expired"


#: Faults that attach to tasks at creation rather than shaping one reply.
TASK_KINDS = frozenset({FaultKind.FAIL_TASK, FaultKind.INVISIBLE, FaultKind.EXPIRE})
#: Faults that only pace a reply (the request is processed normally).
PACING_KINDS = frozenset({FaultKind.SLOW, FaultKind.DRIP})


@attrs.define(eq=False)
class Fault:
    """One injected fault.

    ``times`` is how many matching requests it applies to; for ``fail_task`` and ``expire`` how many tasks it
    hits; for ``invisible`` how many status queries of each affected task answer "recordInfo is null" (option
    ``tasks``, default 1, is how many upcoming tasks are affected). ``used`` counts the requests or tasks it
    was spent on; ``fired`` counts the effects (replies shaped, tasks failed, null answers given, 403s given
    for expired result URLs).
    """

    kind: FaultKind = attrs.field(converter=FaultKind)
    on: str = "any"
    times: int = 1
    options: dict[str, Any] = attrs.field(factory=dict)
    used: int = 0
    fired: int = 0

    def __attrs_post_init__(self) -> None:
        if self.on not in PHASES:
            raise ValueError(f"fault target must be one of {', '.join(PHASES)}, not {self.on!r}")
        if self.times < 1:
            raise ValueError(f"fault times must be at least 1, not {self.times}")
        if self.kind is FaultKind.SERVER_ERROR:
            status = int(self.options.get("status", 500))
            if not 500 <= status <= 599:
                raise ValueError(f"server_error status must be 5xx, not {status}")
        if self.kind is FaultKind.INVISIBLE and int(self.options.get("tasks", 1)) < 1:
            raise ValueError("invisible tasks must be at least 1")
        if self.kind is FaultKind.FAIL_TASK and "code" in self.options:
            code = self.options["code"]
            if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
                raise ValueError(f"fail_task code must be an integer from 400 to 599, not {code!r}")

    @property
    def budget(self) -> int:
        """How many requests (or tasks) this fault may be spent on in all."""
        if self.kind is FaultKind.INVISIBLE:
            return int(self.options.get("tasks", 1))
        return self.times

    @property
    def exhausted(self) -> bool:
        return self.used >= self.budget

    def matches(self, phase: str) -> bool:
        """Whether this request-level fault applies to a request of ``phase``."""
        if self.kind in TASK_KINDS or self.exhausted:
            return False
        if self.kind is FaultKind.DROP_AFTER_CREATE and phase != "submit":
            return False
        return self.on in ("any", phase)


class FaultPlan:
    """The faults injected into one emulator, in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, kind: FaultKind | str, *, on: str = "any", times: int = 1, **options: Any) -> Fault:
        """Add a fault (raises ``ValueError`` for an unknown kind or target) and return it."""
        fault = Fault(kind, on=on, times=times, options=dict(options))
        with self._lock:
            self._faults.append(fault)
        return fault

    @property
    def faults(self) -> list[Fault]:
        """A snapshot of every fault added since the last :meth:`clear`."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def fired(self, kind: FaultKind | str) -> int:
        """How many times faults of ``kind`` took effect in all."""
        kind = FaultKind(kind)
        with self._lock:
            return sum(fault.fired for fault in self._faults if fault.kind is kind)

    def take(self, phase: str) -> Fault | None:
        """Spend and return the first reply-shaping fault (pacing ones excluded) for a request of ``phase``."""
        with self._lock:
            for fault in self._faults:
                if fault.kind not in PACING_KINDS and fault.matches(phase):
                    fault.used += 1
                    fault.fired += 1
                    return fault
        return None

    def take_delay(self, phase: str) -> float:
        """Spend every matching ``slow`` fault; the total delay in seconds."""
        return self._pace(FaultKind.SLOW, phase, 1.0)

    def take_drip(self, phase: str) -> float:
        """Spend every matching ``drip`` fault; the pause between two bytes of the body, in seconds (0: none)."""
        return self._pace(FaultKind.DRIP, phase, 0.5)

    def _pace(self, kind: FaultKind, phase: str, default: float) -> float:
        total = 0.0
        with self._lock:
            for fault in self._faults:
                if fault.kind is kind and fault.matches(phase):
                    fault.used += 1
                    fault.fired += 1
                    total += float(fault.options.get("seconds", default))
        return total

    def take_for_task(self, kind: FaultKind) -> Fault | None:
        """Spend the first task-level fault of ``kind`` on a task being created (``fail_task`` also fires)."""
        with self._lock:
            for fault in self._faults:
                if fault.kind is kind and not fault.exhausted:
                    fault.used += 1
                    if kind is FaultKind.FAIL_TASK:
                        fault.fired += 1
                    return fault
        return None

    def note_fired(self, fault: Fault) -> None:
        """Count one more effect of ``fault`` (an invisible task answering "recordInfo is null", an expired
        result URL answering 403)."""
        with self._lock:
            fault.fired += 1


def parse_fault(text: str) -> tuple[FaultKind, str, int]:
    """``KIND[:ON[:TIMES]]`` (as ``kie emulator --fault`` takes it) as ``(kind, on, times)``."""
    parts = text.strip().split(":")
    if not parts[0] or len(parts) > 3:
        raise ValueError(f"a fault is KIND[:ON[:TIMES]], not {text!r}")
    try:
        kind = FaultKind(parts[0])
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"unknown fault {parts[0]!r}; known: {known}") from None
    on = parts[1] if len(parts) > 1 and parts[1] else "any"
    if on not in PHASES:
        raise ValueError(f"fault target must be one of {', '.join(PHASES)}, not {on!r}")
    try:
        times = int(parts[2]) if len(parts) > 2 else 1
    except ValueError:
        raise ValueError(f"fault times must be a whole number, not {parts[2]!r}") from None
    return kind, on, times
