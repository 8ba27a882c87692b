"""Retries as data: what a client tells its caller while it works around trouble, and the way it gets there.

A :class:`RetryEvent` says that a request failed and is about to be tried again: which, where, why, which
attempt comes next and after how long. The engine runs each step of a job inside :func:`reporting` with the
job's ``on_retry`` callback (``Client.generate(..., on_retry=...)``); whatever retries during that step calls
:func:`report`: the transport's retry loop (uploads, fresh links), and the engine's own retries of a create
(429, a host that cannot be reached) and of a status query. Outside :func:`reporting` an event goes nowhere.

Reporting never changes what happens to a task: a callback that raises is logged (logger ``kiecore.events``)
and ignored. No event holds the API key: its ``error`` is the failed attempt's message, which the transport
builds with the key masked, and which is masked again where the engine raises it.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import logging
from collections.abc import Callable, Iterator

import attrs

from kiecore.errors import APIError, ParseError, RateLimitedError

log = logging.getLogger("kiecore.events")


class RetryCause(enum.StrEnum):
    """Why a request is tried again."""

    UNREACHABLE = "unreachable"  # no answer: the connection failed or was lost, or the reply was too slow
    RATE_LIMITED = "rate_limited"  # HTTP or body code 429
    SERVER = "server"  # a 5xx, or the service saying it is unavailable (455, 503, 550)
    UNREADABLE = "unreadable"  # an answer that could not be read (not JSON, garbled)


@attrs.frozen(kw_only=True)
class RetryEvent:
    """One retry about to happen: attempt number ``attempt`` (2 for the first retry) of ``what`` (``"create"``,
    ``"query"``, ``"upload"`` or ``"download"``) at ``host`` (as in its URL: ``api.kie.ai``), ``delay`` seconds
    from now, because of ``cause``. ``code`` is the HTTP or body code when an answer came; ``error`` is the
    failed attempt's error on one line, with the key masked. It may quote the server: escape it before writing
    it to a terminal."""

    what: str
    host: str
    cause: RetryCause
    attempt: int
    delay: float
    error: str
    code: int | None = None

    def trouble(self) -> str:
        """What went wrong, for a person: ``api.kie.ai unreachable``, ``rate limited (429)``, ``server error
        (500) at api.kie.ai``, ``unreadable reply from api.kie.ai``."""
        if self.cause is RetryCause.RATE_LIMITED:
            return f"rate limited ({self.code or 429})"
        if self.cause is RetryCause.SERVER:
            return "server error" + (f" ({self.code})" if self.code is not None else "") + f" at {self.host}"
        if self.cause is RetryCause.UNREADABLE:
            return f"unreadable reply from {self.host}"
        return f"{self.host} unreachable"

    def describe(self, remaining: float | None = None) -> str:
        """One line for a person, e.g. ``api.kie.ai unreachable, retrying in 1.0s (attempt 2)``; ``remaining``
        is the time left before the retry (default ``delay``), and once (almost) none is left the line says
        ``retrying (attempt 2)``."""
        left = self.delay if remaining is None else remaining
        when = f" in {seconds_text(left)}" if left >= 0.05 else ""
        return f"{self.trouble()}, retrying{when} (attempt {self.attempt})"


#: What receives a job's retry events (``on_retry``); called on the engine's threads.
RetryCallback = Callable[[RetryEvent], None]

_sink: contextvars.ContextVar[RetryCallback | None] = contextvars.ContextVar("kiecore_on_retry", default=None)


def seconds_text(seconds: float) -> str:
    """``0.4s``, ``1.0s``, ``9.5s`` under ten seconds; whole seconds from there (``12s``)."""
    return f"{seconds:.1f}s" if seconds < 9.95 else f"{round(seconds)}s"


def retry_event(
    what: str,
    host: str,
    error: BaseException,
    *,
    attempt: int,
    delay: float,
    redact: Callable[[str], str] | None = None,
) -> RetryEvent:
    """The event of trying ``what`` again after ``error``: its cause and code read from the error's type
    (:class:`RateLimitedError`, other :class:`APIError`, :class:`ParseError`; anything else is a host that gave no
    answer). ``redact`` masks the key in the message, where it was not masked already."""
    if isinstance(error, RateLimitedError):
        cause = RetryCause.RATE_LIMITED
    elif isinstance(error, APIError):
        cause = RetryCause.SERVER
    elif isinstance(error, ParseError):
        cause = RetryCause.UNREADABLE
    else:
        cause = RetryCause.UNREACHABLE
    code = getattr(error, "code", None)
    message = " ".join(str(error).split()) or type(error).__name__
    return RetryEvent(
        what=what,
        host=host,
        cause=cause,
        attempt=attempt,
        delay=max(delay, 0.0),
        error=redact(message) if redact is not None else message,
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
    )


@contextlib.contextmanager
def reporting(callback: RetryCallback | None) -> Iterator[None]:
    """Within the block (in this thread or context), :func:`report` hands events to ``callback`` (``None``:
    to no one)."""
    token = _sink.set(callback)
    try:
        yield
    finally:
        _sink.reset(token)


def report(event: RetryEvent) -> None:
    """Give ``event`` to the callback of the enclosing :func:`reporting` block, if any; never raises."""
    callback = _sink.get()
    if callback is None:
        return
    try:
        callback(event)
    except Exception:
        log.warning("an on_retry callback raised; ignored", exc_info=True)
