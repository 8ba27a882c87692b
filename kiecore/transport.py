"""HTTP to the API host: one urllib3 pool that carries the key, retries that never duplicate a task,
and the mapping of Kie's answers (HTTP status and body ``code``) to typed errors.

The key is sent only through this pool, only to the configured base URL, and only over https unless the
host is loopback. Result files are fetched elsewhere (:mod:`kiecore.download`) without it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError as _ConnectTimeout
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError

from kiecore import __version__
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
    UsageError,
)
from kiecore.model import Profile
from kiecore.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after
from kiecore.wire.envelope import reply_code, reply_message
from kiecore.wire.request import WireRequest

log = logging.getLogger("kiecore.http")

DEFAULT_BASE_URL = "https://api.kie.ai"
_MAYBE_CREATED = "; the task may have been created: check your Kie task history before submitting again"
USER_AGENT = f"kiecore/{__version__}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """The normalised base URL; refuses anything but https, or http to a loopback host."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid base URL {base_url!r}: use https://host[:port]")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(f"refusing to send the API key over plain http to {parts.hostname}; use https")
    return base_url.rstrip("/")


class Transport:
    """Sends :class:`WireRequest` objects to the API host and returns decoded, envelope-checked replies."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._key = api_key
        self._prefix = urlsplit(self.base_url).path
        self._host = urlsplit(self.base_url).netloc
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool = urllib3.connection_from_url(
            self.base_url,
            maxsize=16,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def close(self) -> None:
        self._pool.close()

    def redact(self, text: str) -> str:
        """``text`` with the API key masked: server messages are shown to people."""
        return text.replace(self._key, "***") if self._key else text

    def _headers(self, profile: Profile, has_body: bool) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._key}"}
        if profile is Profile.REFERENCE:
            headers["X-API-KEY"] = self._key  # the reference spec's header; its own example uses Bearer
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    def send(self, request: WireRequest, *, profile: Profile, idempotent: bool, deadline: float | None = None) -> Any:
        """Send ``request`` and return the decoded JSON reply once its body ``code`` says success.

        ``idempotent`` requests (status GETs) are retried on connection and read errors, non-JSON replies,
        429 and 500/502/503/504. Others (a create POST) are retried only where the service certainly did not
        create anything: the connection was never made, or a 429. A create whose answer is lost raises
        :class:`SubmitUncertainError`. Waits never run past ``deadline`` (a ``clock()`` value).
        """
        url = self._prefix + request.path + (f"?{urlencode(request.query)}" if request.query else "")
        body = None if request.body is None else json.dumps(request.body).encode()
        headers = self._headers(profile, body is not None)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._pool.urlopen(
                    request.method,
                    url,
                    body=body,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    timeout=self._timeout(deadline),
                )
            except (NewConnectionError, _ConnectTimeout) as error:  # nothing reached the server
                failure: KieFailure = _connect_failure(self._host, error)
            except (ReadTimeoutError, ProtocolError, HTTPError, OSError) as error:
                if not idempotent:
                    raise SubmitUncertainError(
                        f"the connection to {self._host} was lost after the request was sent ({_reason(error)})"
                        + _MAYBE_CREATED
                    ) from None
                failure = KieFailure(TransportError(f"connection to {self._host} failed: {_reason(error)}"))
            else:
                log.debug("%s %s -> HTTP %s", request.method, url, response.status)
                failure_or_reply = self._interpret(response, idempotent)
                if not isinstance(failure_or_reply, KieFailure):
                    return failure_or_reply
                failure = failure_or_reply
            if not failure.retryable or attempt >= self.retry.attempts:
                raise failure.error
            delay = self.retry.delay(attempt, failure.retry_after)
            if failure.retry_after is not None and failure.retry_after > self.retry.max_retry_after:
                raise failure.error
            if deadline is not None and self._clock() + delay > deadline:
                raise failure.error
            log.debug("retrying in %.2fs after: %s", delay, failure.error)
            self._sleep(delay)

    def _timeout(self, deadline: float | None) -> urllib3.Timeout:
        """Socket timeouts that never outlast ``deadline`` (a read timeout is per read, not per reply)."""
        if deadline is None:
            return urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout)
        remaining = max(0.05, deadline - self._clock())
        return urllib3.Timeout(connect=min(self._connect_timeout, remaining), read=min(self._read_timeout, remaining))

    def _interpret(self, response: urllib3.BaseHTTPResponse, idempotent: bool) -> Any:
        status = response.status
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            reply = json.loads(response.data)
        except ValueError:
            if status in RETRYABLE_STATUSES or status >= 400:
                code = status
                reply = None
            else:
                what = (
                    f"{self._host} sent a reply that is not JSON (HTTP {status}, "
                    f"{response.headers.get('Content-Type', 'no content type')})"
                )
                if not idempotent:
                    return KieFailure(SubmitUncertainError(what + _MAYBE_CREATED), retryable=False)
                return KieFailure(ParseError(what))
        else:
            code = reply_code(reply) or status
        if status == 200 and code == 200:
            return reply
        if status != 200 and code == 200:
            code = status
        error: KieError = self._error(code, self.redact(reply_message(reply)), status, retry_after)
        if not idempotent and isinstance(error, ServerError):  # it failed after receiving the request
            error = SubmitUncertainError(str(error).removesuffix("; try again later") + _MAYBE_CREATED)
        retryable = code == 429 or (idempotent and code in RETRYABLE_STATUSES)
        return KieFailure(error, retryable=retryable, retry_after=retry_after if code in (429, 503) else None)

    def _error(self, code: int, message: str, http_status: int, retry_after: float | None) -> APIError:
        detail = f"{code}: {message}" if message else str(code)
        kwargs: dict[str, Any] = {"http_status": http_status, "code": code, "kie_message": message}
        if code == 401:
            return AuthenticationError(f"Kie refused the API key ({detail}); check KIE_API_KEY", **kwargs)
        if code == 402:
            return InsufficientCreditsError(f"not enough Kie credits ({detail}); top up your account", **kwargs)
        if code in (400, 422):
            return InvalidRequestError(f"Kie refused the request ({detail})", **kwargs)
        if code == 404:
            return NotFoundError(f"not found at {self._host} ({detail}); check the base URL and task id", **kwargs)
        if code == 429:
            return RateLimitedError(
                f"rate limited by Kie ({detail}); try again later", retry_after=retry_after, **kwargs
            )
        if code in (455, 503, 550):
            return ServiceUnavailableError(f"Kie is unavailable ({detail}); try again later", **kwargs)
        if 500 <= code < 600 and code not in (501, 505):
            return ServerError(f"Kie had a server error ({detail}); try again later", **kwargs)
        return APIError(f"Kie answered {detail}", **kwargs)


class KieFailure:
    """One failed attempt: the error to raise if no retry follows, and whether one may."""

    def __init__(self, error: Exception, *, retryable: bool = True, retry_after: float | None = None) -> None:
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or (error.args[-1] if error.args else error)
    text = str(reason).splitlines()[0] if str(reason) else type(error).__name__
    return text[:200]


def _connect_failure(host: str, error: BaseException) -> KieFailure:
    return KieFailure(TransportError(f"could not connect to {host}: {_reason(error)}; check your network"))
