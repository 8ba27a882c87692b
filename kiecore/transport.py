"""HTTP to the API host: one urllib3 pool that carries the key, retries that never duplicate a task,
and the mapping of Kie's answers (HTTP status and body ``code``) to typed errors.

The key is sent only through this pool, only to the configured base URL, and only over https unless the
host is loopback. A client's second transport, to its upload host (:mod:`kiecore.uploads`), follows the same
rules; nothing else carries the key. Result files are fetched elsewhere (:mod:`kiecore.download`) without it.
Every message built from server text, and every ``kiecore.http`` log line, has the key masked
(:mod:`kiecore.redaction`).

Each reply is read in chunks within a wall-clock budget (the smaller of the caller's deadline and
``read_timeout``) and a size cap (:data:`MAX_REPLY_BYTES`). Which answers to a create are refusals and which
leave it uncertain is :func:`kiecore.retry.create_outcome`.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlencode, urlsplit

import urllib3
import urllib3.connection
from urllib3.connectionpool import port_by_scheme
from urllib3.exceptions import ConnectTimeoutError as _ConnectTimeout
from urllib3.exceptions import HTTPError, NewConnectionError, ReadTimeoutError
from urllib3.util import parse_url

from kiecore.errors import (
    APIError,
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    KieError,
    NotFoundError,
    ParseError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    SubmitUncertainError,
    TransportError,
    UsageCapError,
    UsageError,
)
from kiecore.events import report, retry_event
from kiecore.model import Profile
from kiecore.redaction import RedactingFilter, clean_api_key, redact
from kiecore.retry import (
    REFUSAL_CODES,
    RETRYABLE_STATUSES,
    CreateOutcome,
    RetryPolicy,
    create_outcome,
    parse_retry_after,
)
from kiecore.timed_reads import POOLS_BY_SCHEME, limit_next_read
from kiecore.version import __version__
from kiecore.wire.envelope import reply_code, reply_message
from kiecore.wire.request import WireRequest

log = logging.getLogger("kiecore.http")

DEFAULT_BASE_URL = "https://api.kie.ai"
USER_AGENT = f"kiecore/{__version__}"
#: How many connections to the API host one transport keeps at most (the engine's API workers, and callers).
DEFAULT_CONNECTIONS = 12
#: The largest reply body accepted from the API host; Kie's replies are a few kilobytes.
MAX_REPLY_BYTES = 1 << 20

_MAYBE_CREATED = "; the task may have been created: check your Kie task history before submitting again"
_CHUNK_BYTES = 64 * 1024
_MIN_BUDGET = 0.05  # every attempt gets at least this long, even at its deadline
_MESSAGE_CHARS = 300
#: The "HTTPConnection(host='...', port=...): " that urllib3 puts before its reasons.
_POOL_PREFIX = re.compile(r"^\w+\(host=[^)]*\): ")
#: What urllib3 and http.client raise when a connection fails after it was made.
_LOST = (HTTPError, OSError, http.client.HTTPException)
#: What they raise on input they cannot send (a header value, an encoding): never allowed to escape raw.
_UNSENDABLE = (ValueError, TypeError, UnicodeError)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, what: str = "base URL") -> str:
    """The normalised base URL; refuses anything but https, or http to a loopback host. ``what`` names it in
    the refusal (the upload host's is an "upload URL")."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid {what} {base_url!r}: use https://host[:port]")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(f"refusing to send the API key over plain http to {parts.hostname}; use https")
    return base_url.rstrip("/")


class Transport:
    """Sends :class:`WireRequest` objects to the API host and returns decoded, envelope-checked replies.

    ``api_key`` is checked with :func:`~kiecore.redaction.clean_api_key` (:class:`UsageError` if unusable).
    ``read_timeout`` is the longest one reply may take, from sending the request to its last byte; it also
    bounds each socket read. At most ``connections`` are open at once (reused; a caller beyond them waits for
    one), so a burst never opens hundreds. ``clock`` is the clock of ``deadline`` values.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        connections: int = DEFAULT_CONNECTIONS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._key = _sendable_key(api_key)
        self._prefix = urlsplit(self.base_url).path
        self._host = urlsplit(self.base_url).netloc
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool = _pool(self.base_url, urllib3.Timeout(connect=connect_timeout, read=read_timeout), connections)
        self._log_filter = RedactingFilter(self._key)
        log.addFilter(self._log_filter)

    def close(self) -> None:
        self._pool.close()
        log.removeFilter(self._log_filter)

    def redact(self, text: str) -> str:
        """``text`` with the API key masked in every spelling: server messages are shown to people."""
        return redact(text, self._key)

    def _headers(self, profile: Profile, content_type: str | None) -> dict[str, str]:
        # the pool's own headers apply only to requests without any: every request carries its full set
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Authorization": f"Bearer {self._key}"}
        if profile is Profile.REFERENCE:
            headers["X-API-KEY"] = self._key  # the reference spec's header; its own example uses Bearer
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers

    def send(
        self,
        request: WireRequest,
        *,
        profile: Profile,
        idempotent: bool,
        deadline: float | None = None,
        once: bool = False,
    ) -> Any:
        """Send ``request`` and return the decoded JSON reply once its body ``code`` says success.

        ``idempotent`` requests (status GETs) are retried on connection and read errors, slow or non-JSON
        replies, 429 and 500/502/503/504. Others (a create POST) are retried only where the service certainly
        did not create anything: the connection was never made, or a 429. Any answer to a create that does not
        prove it was refused (:func:`~kiecore.retry.create_outcome`) raises :class:`SubmitUncertainError`.
        Waits never run past ``deadline`` (a ``clock()`` value), and neither does reading a reply. With
        ``once`` there is one attempt: what would be retried raises at once, for a caller that schedules its own
        retries through its rate limits (each attempt is an arrival the service counts). Before each retry a
        :class:`~kiecore.events.RetryEvent` is reported (:func:`kiecore.events.report`).
        """
        url = self._prefix + request.path + (f"?{urlencode(request.query)}" if request.query else "")
        if request.data is not None:  # a body of its own (a multipart upload), sent as it is
            body: bytes | None = request.data
            headers = self._headers(profile, request.content_type or "application/octet-stream")
        else:
            body = None if request.body is None else json.dumps(request.body).encode()
            headers = self._headers(profile, None if body is None else "application/json")
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(request.method, url, body, headers, idempotent, deadline)
            if not isinstance(outcome, KieFailure):
                return outcome
            delay = None if once else self._retry_delay(outcome, attempt, deadline)
            if delay is None:
                raise outcome.error
            log.debug("retrying in %.2fs after: %s", delay, outcome.error)
            what = "upload" if request.data is not None else "query" if idempotent else "create"
            report(retry_event(what, self._host, outcome.error, attempt=attempt + 1, delay=delay))
            self._sleep(delay)

    def _retry_delay(self, failure: KieFailure, attempt: int, deadline: float | None) -> float | None:
        """Seconds to wait before trying again, or ``None`` when ``failure`` is final."""
        if not failure.retryable or attempt >= self.retry.attempts:
            return None
        if failure.retry_after is not None and failure.retry_after > self.retry.max_retry_after:
            return None
        delay = self.retry.delay(attempt, failure.retry_after)
        if deadline is not None and self._clock() + delay > deadline:
            return None
        return delay

    def _attempt(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        idempotent: bool,
        deadline: float | None,
    ) -> Any:
        """One request and its whole reply: the decoded reply, or the :class:`KieFailure` of this try."""
        budget = self._budget(deadline)
        timeout = self._timeout(budget)
        try:
            response = self._pool.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=timeout,
                preload_content=False,
            )
        except (NewConnectionError, _ConnectTimeout) as error:  # nothing reached the server
            return KieFailure(
                TransportError(f"could not connect to {self._host}: {self._reason(error)}; check your network")
            )
        except ReadTimeoutError:  # every read's timeout is at most what is left of the budget
            return self._overdue(budget, idempotent)
        except _LOST as error:
            return self._lost(error, idempotent)
        except _UNSENDABLE as error:  # after the connection may have been made: for a create, uncertain
            return self._unsendable(error, idempotent)
        log.debug("%s %s -> HTTP %s", method, url, response.status)
        data = self._receive(response, budget, idempotent)
        if isinstance(data, KieFailure):
            return data
        return self._interpret(response.status, response.headers, data, idempotent)

    def _receive(self, response: urllib3.BaseHTTPResponse, budget: _Budget, idempotent: bool) -> bytes | KieFailure:
        """The body of ``response``, or the failure that cut it short; the connection is always released."""
        complete = False
        try:
            data = self._read_body(response, budget)
            complete = True
            return data
        except (_ReplyOverdue, ReadTimeoutError):
            return self._overdue(budget, idempotent)
        except _ReplyTooLarge:
            return self._too_large(idempotent)
        except _LOST as error:
            return self._lost(error, idempotent)
        except _UNSENDABLE as error:
            return self._unsendable(error, idempotent)
        finally:
            if not complete:
                response.close()  # a half-read connection must not go back to the pool
            response.release_conn()

    def _read_body(self, response: urllib3.BaseHTTPResponse, budget: _Budget) -> bytes:
        """Read to the end in chunks; raises :class:`_ReplyTooLarge` past :data:`MAX_REPLY_BYTES` and
        :class:`_ReplyOverdue` once the budget is spent (checked between chunks and bounding each read)."""
        if _declared_length(response.headers) > MAX_REPLY_BYTES:
            raise _ReplyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = budget.end - self._clock()
            if remaining <= 0:
                raise _ReplyOverdue
            limit_next_read(response, min(self._read_timeout, remaining))
            chunk = response.read1(_CHUNK_BYTES)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise _ReplyTooLarge
            chunks.append(chunk)

    def _budget(self, deadline: float | None) -> _Budget:
        """The time one attempt may take: ``read_timeout``, or less to keep ``deadline``."""
        now = self._clock()
        seconds = self._read_timeout if deadline is None else min(self._read_timeout, deadline - now)
        seconds = max(_MIN_BUDGET, seconds)
        return _Budget(end=now + seconds, seconds=seconds)

    def _timeout(self, budget: _Budget) -> urllib3.Timeout:
        """Socket timeouts that never outlast ``budget``."""
        remaining = max(_MIN_BUDGET, budget.end - self._clock())
        return urllib3.Timeout(connect=min(self._connect_timeout, remaining), read=min(self._read_timeout, remaining))

    # -- failures before a reply was read -------------------------------------------------------------------

    def _reason(self, error: BaseException) -> str:
        """One short, redacted line saying why ``error`` happened (redacted before it is cut short)."""
        reason = getattr(error, "reason", None) or (error.args[-1] if error.args else error)
        text = _POOL_PREFIX.sub("", self.redact(str(reason)).strip())
        return _clip(text.splitlines()[0], 200) if text else type(error).__name__

    def _lost(self, error: BaseException, idempotent: bool) -> KieFailure:
        if not idempotent:
            what = f"the connection to {self._host} was lost after the request was sent ({self._reason(error)})"
            return KieFailure(SubmitUncertainError(what + _MAYBE_CREATED), retryable=False)
        return KieFailure(TransportError(f"connection to {self._host} failed: {self._reason(error)}"))

    def _unsendable(self, error: BaseException, idempotent: bool) -> KieFailure:
        what = f"the request to {self._host} failed in the HTTP client ({type(error).__name__}: {self._reason(error)})"
        if not idempotent:
            return KieFailure(SubmitUncertainError(what + _MAYBE_CREATED), retryable=False)
        return KieFailure(TransportError(what), retryable=False)

    def _overdue(self, budget: _Budget, idempotent: bool) -> KieFailure:
        what = f"{self._host} did not send its whole reply within {budget.seconds:.3g}s"
        if not idempotent:
            return KieFailure(SubmitUncertainError(what + _MAYBE_CREATED), retryable=False)
        return KieFailure(TransportError(what))

    def _too_large(self, idempotent: bool) -> KieFailure:
        what = f"{self._host} sent a reply larger than {MAX_REPLY_BYTES} bytes"
        if not idempotent:
            return KieFailure(SubmitUncertainError(what + _MAYBE_CREATED), retryable=False)
        return KieFailure(ParseError(what), retryable=False)

    # -- answers --------------------------------------------------------------------------------------------

    def _interpret(self, status: int, headers: Mapping[str, str], data: bytes, idempotent: bool) -> Any:
        """The reply if it says success, else the :class:`KieFailure` it amounts to."""
        is_json, reply = _decode(data)
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if idempotent:
            return self._status_answer(status, headers, is_json, reply, retry_after)
        return self._create_answer(status, headers, is_json, reply, retry_after)

    def _status_answer(
        self, status: int, headers: Mapping[str, str], is_json: bool, reply: Any, retry_after: float | None
    ) -> Any:
        """A GET's answer: success only as HTTP 200 with body code 200; 429 and 5xx (HTTP or body) retryable."""
        if is_json:
            code = _body_code(reply, status)
        elif status in RETRYABLE_STATUSES or status >= 400:
            code = status
        else:
            return KieFailure(ParseError(self._not_json(status, headers)))
        if status == 200 and code == 200:
            return reply
        if code == 200:
            code = status
        error = self._error(code, self._message(reply), status, retry_after)
        return KieFailure(
            error, retryable=code in RETRYABLE_STATUSES, retry_after=retry_after if code in (429, 503) else None
        )

    def _create_answer(
        self, status: int, headers: Mapping[str, str], is_json: bool, reply: Any, retry_after: float | None
    ) -> Any:
        """A create's answer, by :func:`~kiecore.retry.create_outcome`."""
        body_code = _body_code(reply, status) if is_json else None
        outcome = create_outcome(status, body_code)
        if outcome is CreateOutcome.SUCCESS:
            return reply
        if outcome is CreateOutcome.UNCERTAIN:
            what = (
                f"{self._host} answered the create with HTTP {status} ({self._body_summary(headers, is_json, reply)})"
            )
            return KieFailure(SubmitUncertainError(what + _MAYBE_CREATED), retryable=False)
        retried = outcome is CreateOutcome.RETRIED
        code = 429 if retried else _refusal_code(status, body_code)
        error = self._error(code, self._message(reply), status, retry_after)
        return KieFailure(error, retryable=retried, retry_after=retry_after if retried else None)

    def _message(self, reply: Any) -> str:
        return _clip(self.redact(reply_message(reply)), _MESSAGE_CHARS)

    def _content_type(self, headers: Mapping[str, str]) -> str:
        return _clip(self.redact(headers.get("Content-Type", "no content type")), 100)

    def _not_json(self, status: int, headers: Mapping[str, str]) -> str:
        return f"{self._host} sent a reply that is not JSON (HTTP {status}, {self._content_type(headers)})"

    def _body_summary(self, headers: Mapping[str, str], is_json: bool, reply: Any) -> str:
        if not is_json:
            return f"not JSON, {self._content_type(headers)}"
        code, message = reply_code(reply), self._message(reply)
        return ("no body code" if code is None else f"body code {code}") + (f": {message}" if message else "")

    def _error(self, code: int, message: str, http_status: int, retry_after: float | None) -> APIError:
        return api_error(code, message, http_status=http_status, retry_after=retry_after, host=self._host)


#: What each Kie code becomes: the error type and its line for a person (``{detail}`` is "code: message").
ERRORS: Mapping[int, tuple[type[APIError], str]] = {
    400: (InvalidRequestError, "Kie refused the request ({detail})"),
    401: (AuthenticationError, "Kie refused the API key ({detail}); check KIE_API_KEY"),
    402: (InsufficientCreditsError, "not enough Kie credits ({detail}); top up your account"),
    404: (NotFoundError, "not found at {host} ({detail}); check the base URL and task id"),
    422: (InvalidRequestError, "Kie refused the request ({detail})"),
    429: (RateLimitedError, "rate limited by Kie ({detail}); try again later"),
    433: (UsageCapError, "the API key reached a usage cap set on it ({detail}); raise the cap at kie.ai or wait"),
    455: (ServiceUnavailableError, "Kie is unavailable ({detail}); try again later"),
    503: (ServiceUnavailableError, "Kie is unavailable ({detail}); try again later"),
    505: (APIError, "Kie has this feature disabled ({detail})"),
    550: (ServiceUnavailableError, "Kie is unavailable ({detail}); try again later"),
}
_SERVER_ERROR = (ServerError, "Kie had a server error ({detail}); try again later")
_OTHER = (APIError, "Kie answered {detail}")


def api_error(code: int, message: str, *, http_status: int, retry_after: float | None, host: str) -> APIError:
    """The typed error for a Kie ``code`` (body code, else HTTP status): :data:`ERRORS`, any other 5xx but 501 a
    :class:`ServerError`, anything else a plain :class:`APIError`. ``message`` is Kie's own, already redacted."""
    server = 500 <= code < 600 and code != 501
    kind, line = ERRORS.get(code) or (_SERVER_ERROR if server else _OTHER)
    detail = f"{code}: {message}" if message else str(code)
    kwargs: dict[str, Any] = {"http_status": http_status, "code": code, "kie_message": message}
    if kind is RateLimitedError:
        kwargs["retry_after"] = retry_after
    return kind(line.format(detail=detail, host=host), **kwargs)


class Sender(Protocol):
    """What a :class:`~kiecore.client.Client` needs of its transport: a :class:`Transport`, or a test's scripted
    one (:class:`kiecore.testing.scripted.ScriptedTransport`)."""

    @property
    def base_url(self) -> str: ...

    def send(
        self,
        request: WireRequest,
        *,
        profile: Profile,
        idempotent: bool,
        deadline: float | None = None,
        once: bool = False,
    ) -> Any: ...

    def redact(self, text: str) -> str: ...

    def close(self) -> None: ...


class KieFailure:
    """One failed attempt: the error to raise if no retry follows, and whether one may."""

    def __init__(self, error: KieError, *, retryable: bool = True, retry_after: float | None = None) -> None:
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after


class _Budget(NamedTuple):
    end: float  # a clock() value
    seconds: float


class _ReplyOverdue(Exception):
    """The reply was not complete when its budget ran out."""


class _ReplyTooLarge(Exception):
    """The reply is larger than :data:`MAX_REPLY_BYTES`."""


def _pool(base_url: str, timeout: urllib3.Timeout, connections: int) -> urllib3.HTTPConnectionPool:
    """The bounded, blocking connection pool of ``base_url`` (as :func:`urllib3.connection_from_url`, with our
    connections)."""
    parts = parse_url(base_url)
    pool = POOLS_BY_SCHEME["https" if parts.scheme == "https" else "http"]
    return pool(
        parts.host or "",
        port=parts.port or port_by_scheme.get(parts.scheme or "http", 80),
        maxsize=connections,
        block=True,
        retries=False,
        timeout=timeout,
    )


def _sendable_key(api_key: str) -> str:
    """The cleaned key; :class:`UsageError` if it cannot travel in an HTTP header (latin-1, as http.client)."""
    key = clean_api_key(api_key)
    if not all(ord(char) < 256 for char in key):
        raise UsageError("the API key contains a character that cannot be sent in an HTTP header; check KIE_API_KEY")
    return key


def _declared_length(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("Content-Length") or 0)
    except ValueError:
        return 0


def _decode(data: bytes) -> tuple[bool, Any]:
    """``(True, value)`` for a JSON body, ``(False, None)`` for anything else."""
    try:
        return True, json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the interpreter's stack allows
        return False, None


def _body_code(reply: Any, http_status: int) -> int:
    """The body ``code`` of a JSON reply; the HTTP status when it has none (``0`` is a code, not none)."""
    code = reply_code(reply)
    return http_status if code is None else code


def _refusal_code(http_status: int, body_code: int | None) -> int:
    """The code a refusal is reported under: the body's when it names a refusal, else the HTTP status."""
    if body_code is not None and (body_code in REFUSAL_CODES or 400 <= body_code < 500):
        return body_code
    return http_status


def _clip(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
