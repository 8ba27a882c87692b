"""The transport against a scripted loopback server: which answers to a create are refusals, reply budgets
and size caps, and the key kept out of every message."""

from __future__ import annotations

import contextlib
import http
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import urllib3.connection

from kiecore.errors import (
    APIError,
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    KieError,
    NotFoundError,
    ParseError,
    RateLimitedError,
    ServiceUnavailableError,
    SubmitUncertainError,
    TransportError,
    UsageCapError,
    UsageError,
)
from kiecore.model import Profile
from kiecore.redaction import RedactingFilter, clean_api_key, redact
from kiecore.retry import REFUSAL_CODES, CreateOutcome, RetryPolicy, create_outcome
from kiecore.transport import MAX_REPLY_BYTES, Transport
from kiecore.wire.request import WireRequest

KEY = "kie-test-key-0123456789abcdef"
CREATE = WireRequest("POST", "/api/v1/jobs/createTask", body={"model": "test/market", "input": {"prompt": "a fox"}})
STATUS = WireRequest("GET", "/api/v1/jobs/recordInfo", {"taskId": "t1"})
OK = {"code": 200, "msg": "success", "data": {"taskId": "t1"}}

Writer = Callable[[socket.socket], None]


# -- a scripted HTTP server -------------------------------------------------------------------------------


class Server:
    """Answers the n-th request on 127.0.0.1 with the n-th writer (the last one repeats) and keeps each request."""

    def __init__(self, *replies: Writer) -> None:
        self.replies = replies
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            request = _read_request(conn)
            with self._lock:
                writer = self.replies[min(len(self.requests), len(self.replies) - 1)]
                self.requests.append(request)
            writer(conn)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        body += conn.recv(65536)
    return data


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Whatever"
    lines = [f"HTTP/1.1 {status} {phrase}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(status: int, body: Any, *, content_type: str = "application/json", **headers: str) -> Writer:
    """A whole reply at once; ``body`` is JSON-encoded unless it is bytes or a str."""
    data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    fields = {"Content-Type": content_type, "Content-Length": str(len(data)), "Connection": "close"}
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})

    def write(conn: socket.socket) -> None:
        conn.sendall(_head(status, fields) + data)

    return write


def drip(body: bytes, *, every: float, stall_after: int | None = None, stall: float = 0.0) -> Writer:
    """HTTP 200 headers at once, then the body one byte every ``every`` seconds (pausing ``stall`` seconds after
    ``stall_after`` bytes)."""

    def write(conn: socket.socket) -> None:
        fields = {"Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close"}
        conn.sendall(_head(200, fields))
        for index in range(len(body)):
            time.sleep(stall if index == stall_after else every)
            conn.sendall(body[index : index + 1])

    return write


def endless(chunk: bytes, total: int) -> Writer:
    """HTTP 200 without a Content-Length, streaming ``total`` bytes of ``chunk`` until the connection closes."""

    def write(conn: socket.socket) -> None:
        conn.sendall(_head(200, {"Content-Type": "application/json", "Connection": "close"}))
        for _ in range(total // len(chunk)):
            conn.sendall(chunk)

    return write


@contextlib.contextmanager
def serving(*replies: Writer, key: str = KEY, **options: Any) -> Iterator[tuple[Server, Transport]]:
    server = Server(*replies)
    try:
        retry = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)
        transport = Transport(server.url, key, retry=retry, sleep=lambda _: None, **options)
        try:
            yield server, transport
        finally:
            transport.close()
    finally:
        server.close()


def create(*replies: Writer, **options: Any) -> tuple[Any, int]:
    """The outcome of one create (the reply, or the error raised) and how many requests reached the server."""
    with serving(*replies, **options) as (server, transport):
        try:
            outcome: Any = transport.send(CREATE, profile=Profile.LIVE, idempotent=False)
        except KieError as error:
            outcome = error
        return outcome, len(server.requests)


# -- 1. which answers to a create are refusals ------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        answer(503, {"code": 503, "msg": "Service Unavailable"}),
        answer(500, {"code": 429, "msg": "Rate limit exceeded"}, Retry_After="0"),
        answer(502, "<html><body>Bad Gateway</body></html>", content_type="text/html"),
        answer(504, {"code": 455, "msg": "maintenance"}),
        answer(200, {"code": 500, "msg": "Server Error", "data": None}),
        answer(200, {"code": 501, "msg": "generation failed", "data": None}),
        answer(200, {"code": 418, "msg": "undocumented", "data": None}),
        answer(200, {"code": 408, "msg": "no result for 10 minutes", "data": None}),
        answer(200, "<html>maintenance page</html>", content_type="text/html"),
        answer(302, {"code": 200, "msg": "moved", "data": {"taskId": "t1"}}, Location="/elsewhere"),
        answer(200, {"code": 0, "msg": "zero", "data": {"taskId": "t1"}}),
        answer(204, b""),
    ],
    ids=[
        *("503", "500-429", "502-html", "504-455"),
        *("200-500", "200-501", "200-418", "200-408", "200-0", "200-html", "302", "204"),
    ],
)
def test_a_create_answer_that_proves_nothing_is_uncertain_and_never_resent(reply: Writer) -> None:
    outcome, requests = create(reply, answer(200, OK))
    assert isinstance(outcome, SubmitUncertainError), outcome
    assert "may have been created" in str(outcome)
    assert requests == 1


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (answer(200, {"code": 400, "msg": "not valid JSON"}), InvalidRequestError),
        (answer(200, {"code": 401, "msg": "You do not have access permissions"}), AuthenticationError),
        (answer(200, {"code": 402, "msg": "insufficient credits"}), InsufficientCreditsError),
        (answer(200, {"code": 404, "msg": "not found"}), NotFoundError),
        (answer(200, {"code": 422, "msg": "prompt is required"}), InvalidRequestError),
        (answer(200, {"code": 433, "msg": "usage cap reached"}), UsageCapError),
        (answer(200, {"code": 455, "msg": "maintenance"}), ServiceUnavailableError),
        (answer(200, {"code": 505, "msg": "feature disabled"}), APIError),
        (answer(200, {"code": 550, "msg": "queue full"}), ServiceUnavailableError),
        (answer(400, {"code": 500, "msg": "odd"}), InvalidRequestError),
        (answer(401, {"code": 401, "msg": "bad key"}), AuthenticationError),
        (answer(403, "<html>Forbidden</html>", content_type="text/html"), APIError),
        (answer(404, {"code": 200, "msg": "no such path"}), NotFoundError),
        (answer(422, {"code": 433, "msg": "cap"}), UsageCapError),
    ],
    ids=[
        *(f"200-{code}" for code in (400, 401, 402, 404, 422, 433, 455, 505, 550)),
        *("400-500", "401", "403-html", "404-200", "422-433"),
    ],
)
def test_a_create_answer_that_proves_nothing_was_created_is_a_refusal(reply: Writer, kind: type[APIError]) -> None:
    outcome, requests = create(reply, answer(200, OK))
    assert isinstance(outcome, kind) and not isinstance(outcome, (SubmitUncertainError, RateLimitedError)), outcome
    assert requests == 1


@pytest.mark.parametrize(
    "reply",
    [
        answer(429, {"code": 429, "msg": "Rate limit exceeded"}, Retry_After="0"),
        answer(429, {"code": 500, "msg": "Server Error"}),
        answer(429, "<html>Too Many Requests</html>", content_type="text/html"),
        answer(200, {"code": 429, "msg": "Rate limit exceeded"}),
    ],
    ids=["429", "429-500", "429-html", "200-429"],
)
def test_a_rate_limited_create_is_sent_again(reply: Writer) -> None:
    assert create(reply, answer(200, OK)) == (OK, 2)


def test_a_create_rate_limited_every_time_ends_as_rate_limited() -> None:
    outcome, requests = create(answer(429, {"code": 429, "msg": "Rate limit exceeded"}))
    assert isinstance(outcome, RateLimitedError) and requests == 3


def test_the_create_rule_in_one_table() -> None:
    assert create_outcome(200, 200) is CreateOutcome.SUCCESS
    assert create_outcome(429, None) is create_outcome(200, 429) is create_outcome(429, 500) is CreateOutcome.RETRIED
    assert all(create_outcome(200, code) is CreateOutcome.REFUSED for code in REFUSAL_CODES - {429})
    assert all(create_outcome(status, None) is CreateOutcome.REFUSED for status in (400, 401, 403, 404, 422, 499))
    uncertain = [(500, 429), (503, 503), (502, None), (200, 500), (200, 501), (200, 999), (200, None), (302, 200)]
    assert all(create_outcome(status, code) is CreateOutcome.UNCERTAIN for status, code in uncertain)


@pytest.mark.parametrize(
    "reply",
    [
        answer(503, {"code": 503, "msg": "busy"}),
        answer(500, {"code": 429, "msg": "Rate limit exceeded"}),
        answer(200, {"code": 500, "msg": "Server Error"}),
        answer(502, "<html>Bad Gateway</html>", content_type="text/html"),
    ],
    ids=["503", "500-429", "200-500", "502-html"],
)
def test_status_queries_still_retry_429_and_5xx(reply: Writer) -> None:
    with serving(reply, answer(200, OK)) as (server, transport):
        assert transport.send(STATUS, profile=Profile.LIVE, idempotent=True) == OK
        assert len(server.requests) == 2


# -- 2. deadlines hold against slow servers ---------------------------------------------------------------

SLOW_BODY = json.dumps(OK).encode()  # about 55 bytes: 11 s at 0.2 s a byte


def test_a_dripping_status_reply_cannot_outlast_the_deadline() -> None:
    with serving(drip(SLOW_BODY, every=0.2)) as (server, transport):
        started = time.monotonic()
        with pytest.raises(TransportError, match="did not send its whole reply") as caught:
            transport.send(STATUS, profile=Profile.LIVE, idempotent=True, deadline=started + 1.0)
        assert time.monotonic() - started < 1.5
        assert not isinstance(caught.value, SubmitUncertainError)
        assert len(server.requests) == 1


def test_a_dripping_create_reply_is_uncertain_within_the_read_timeout() -> None:
    started = time.monotonic()
    outcome, requests = create(drip(SLOW_BODY, every=0.2), read_timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert isinstance(outcome, SubmitUncertainError) and "may have been created" in str(outcome)
    assert requests == 1


def test_a_stalled_read_is_cut_at_the_deadline_not_a_whole_read_timeout_later() -> None:
    with serving(drip(SLOW_BODY, every=0.1, stall_after=6, stall=3.0), read_timeout=5.0) as (_, transport):
        started = time.monotonic()
        with pytest.raises(TransportError):
            transport.send(STATUS, profile=Profile.LIVE, idempotent=True, deadline=started + 1.0)
        assert time.monotonic() - started < 1.35  # 0.6 s of drip, then at most the 0.4 s left, not 1 s more


def test_a_slow_status_reply_is_retried_while_the_deadline_allows() -> None:
    with serving(drip(SLOW_BODY, every=0.2), answer(200, OK), read_timeout=0.5) as (server, transport):
        started = time.monotonic()
        assert transport.send(STATUS, profile=Profile.LIVE, idempotent=True, deadline=started + 1.5) == OK
        assert len(server.requests) == 2


# -- 3. size and shape caps -------------------------------------------------------------------------------

HUGE = json.dumps({"code": 200, "msg": "success", "data": {"taskId": "t1", "pad": "x" * MAX_REPLY_BYTES}}).encode()
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "reply", [answer(200, HUGE), endless(b" " * 65536, 2 * MAX_REPLY_BYTES)], ids=["declared", "streamed"]
)
def test_a_reply_over_the_size_cap_is_a_parse_error(reply: Writer) -> None:
    with serving(reply) as (server, transport):
        with pytest.raises(ParseError, match="larger than"):
            transport.send(STATUS, profile=Profile.LIVE, idempotent=True)
        assert len(server.requests) == 1


def test_a_create_reply_over_the_size_cap_is_uncertain() -> None:
    outcome, requests = create(answer(200, HUGE))
    assert isinstance(outcome, SubmitUncertainError) and requests == 1


def test_deeply_nested_json_is_a_parse_error_not_a_recursion_error() -> None:
    with serving(answer(200, DEEP)) as (_, transport), pytest.raises(ParseError, match="not JSON"):
        transport.send(STATUS, profile=Profile.LIVE, idempotent=True)
    outcome, requests = create(answer(200, DEEP))
    assert isinstance(outcome, SubmitUncertainError) and requests == 1


# -- 4. the key -------------------------------------------------------------------------------------------


def test_clean_api_key_strips_white_space() -> None:
    assert clean_api_key(f"  {KEY}\r\n") == KEY


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        (" \t\r\n", "empty"),
        (f"{KEY[:8]}\n{KEY[8:]}", "control character"),
        (f"{KEY}\x00x", "control character"),
        (f"{KEY[:8]}\u200b{KEY[8:]}", "non-printable"),
    ],
)
def test_clean_api_key_refuses_unusable_keys_without_quoting_them(key: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason) as caught:
        clean_api_key(key)
    message = str(caught.value)
    assert "KIE_API_KEY" in message and "\n" not in message
    assert KEY[:8] not in message


def test_redact_masks_every_spelling_of_the_key() -> None:
    secret = "k3y\"with'quotes\\and\r"
    texts = [
        f"plain {secret} end",
        f"repr {secret!r} end",
        f"in a longer repr {'Bearer ' + secret + chr(10)!r}",
        f"bytes {('Bearer ' + secret).encode()!r}",
        f"json {json.dumps({'key': secret})}",
        f"stripped {secret.strip()} end",
    ]
    for text in texts:
        masked = redact(text, secret)
        assert "***" in masked, text
        assert "k3y" not in masked, masked


def test_a_short_key_is_masked_only_as_a_whole_token() -> None:
    assert redact("box x fox (x) x1", "x") == "box *** fox (***) x1"
    assert redact(f"nothing {KEY}", None) == f"nothing {KEY}"


def test_the_redacting_filter_masks_messages_arguments_and_tracebacks() -> None:
    logger = logging.getLogger("kiecore.tests.redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.addFilter(RedactingFilter(KEY))
    logger.propagate = False
    try:
        logger.warning("sending %s with %r", f"Bearer {KEY}", {"key": KEY})
        try:
            raise ValueError(f"Invalid header value {(KEY + chr(13)).encode()!r}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert KEY not in stream.getvalue() and stream.getvalue().count("***") >= 3


def test_debug_lines_of_the_transport_never_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kiecore.http"), serving(answer(200, OK)) as (_, transport):
        transport.send(STATUS, profile=Profile.LIVE, idempotent=True)
        logging.getLogger("kiecore.http").debug("headers %s", transport._headers(Profile.LIVE, False))
    assert caplog.records and KEY not in caplog.text and "***" in caplog.text


def test_a_key_with_a_trailing_newline_is_sent_clean() -> None:
    with serving(answer(200, OK), key=f"{KEY}\r\n") as (server, transport):
        assert transport.send(STATUS, profile=Profile.LIVE, idempotent=True) == OK
    assert f"Authorization: Bearer {KEY}\r\n".encode() in server.requests[0]


@pytest.mark.parametrize("key", [f"{KEY[:8]}\r{KEY[8:]}", f"{KEY}\u043a\u043b\u044e\u0447"], ids=["cr", "cyrillic"])
def test_a_key_that_cannot_be_sent_is_a_usage_error_without_the_key(key: str) -> None:
    with pytest.raises(UsageError, match="KIE_API_KEY") as caught, serving(answer(200, OK), key=key):
        pass
    assert KEY[:8] not in str(caught.value)


@pytest.mark.parametrize(("idempotent", "kind"), [(True, TransportError), (False, SubmitUncertainError)])
def test_a_value_error_inside_the_http_client_becomes_a_redacted_kie_error(
    monkeypatch: pytest.MonkeyPatch, idempotent: bool, kind: type[KieError]
) -> None:
    original = urllib3.connection.HTTPConnection.putheader

    def putheader(self: urllib3.connection.HTTPConnection, header: str, *values: str) -> None:
        if header == "Authorization":  # as http.client says it of a value ending in "\r"
            raise ValueError(f"Invalid header value {(values[0] + chr(13)).encode()!r}")
        original(self, header, *values)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "putheader", putheader)
    with serving(answer(200, OK)) as (_, transport), pytest.raises(kind) as caught:
        transport.send(CREATE if not idempotent else STATUS, profile=Profile.LIVE, idempotent=idempotent)
    message = str(caught.value)
    assert "ValueError" in message and KEY not in message
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_a_server_message_quoting_the_key_is_redacted() -> None:
    outcome, _ = create(answer(200, {"code": 401, "msg": f"key {KEY} is not valid"}))
    assert isinstance(outcome, AuthenticationError)
    assert KEY not in str(outcome) and KEY not in outcome.kie_message and "***" in str(outcome)


def test_every_request_says_who_sends_it_and_what_it_accepts(client: Any, emulator: Any) -> None:
    client.submit("test/market", prompt="a fox")
    headers = {name.lower(): value for name, value in emulator.requests[-1].headers.items()}
    assert headers["user-agent"].startswith("kiecore/") and headers["accept"] == "application/json"
