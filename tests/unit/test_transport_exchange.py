"""The transport against a fake connection pool: request shapes, answers and failures to errors, retries, budgets."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3
import urllib3.connection
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from kiecore.errors import (
    APIError,
    AuthenticationError,
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
)
from kiecore.events import RetryEvent, reporting
from kiecore.model import Profile
from kiecore.retry import RetryPolicy
from kiecore.timed_reads import HTTPConnection, HTTPSConnection
from kiecore.transport import USER_AGENT, Transport
from kiecore.wire.request import WireRequest
from tests.unit.test_timed_reads import Socket

KEY = "kie-unit-key-0123456789abcdef"
HOST = "api.kie.test"
MAYBE = "; the task may have been created: check your Kie task history before submitting again"
STATUS = WireRequest("GET", "/api/v1/jobs/recordInfo", {"taskId": "t 1"})
CREATE = WireRequest("POST", "/api/v1/jobs/createTask", body={"model": "test/market", "input": {"prompt": "a fox"}})
UPLOAD = WireRequest("POST", "/api/file-stream-upload", data=b"--b\r\nbytes", content_type="image/png")
OK = {"code": 200, "msg": "success", "data": {"taskId": "t1"}}
START = 1000.0
CAP = 1048576  # MAX_REPLY_BYTES: one MiB


# -- a fake pool and its replies ---------------------------------------------------------------------------


class Reply:
    """What the pool's ``urlopen`` returns: ``read1`` gives ``chunks`` in turn (raising one that is an exception)."""

    def __init__(self, status: int, *chunks: bytes | BaseException, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = HTTPHeaderDict(headers or {})
        self.chunks = list(chunks)
        self.reads: list[int] = []
        self.socket = Socket()
        self.connection = SimpleNamespace(reply_socket=self.socket)
        self.closed = False
        self.released = False

    def read1(self, amount: int) -> bytes:
        self.reads.append(amount)
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if isinstance(chunk, BaseException):
            raise chunk
        return chunk

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.released = True


def reply(status: int, body: Any, **headers: str) -> Reply:
    """A JSON reply; a ``body`` that is bytes or a str is sent as it is, as HTML."""
    if isinstance(body, (bytes, str)):
        data, content_type = (body if isinstance(body, bytes) else body.encode()), "text/html"
    else:
        data, content_type = json.dumps(body).encode(), "application/json"
    fields = {"Content-Type": content_type, **{name.replace("_", "-"): value for name, value in headers.items()}}
    return Reply(status, data, headers=fields)


def later(status: int, body: Any, **headers: str) -> Callable[[], Reply]:
    """A fresh :func:`reply` each call (a parameter of several tests; a reply is used up when read)."""
    return functools.partial(reply, status, body, **headers)


class Pool:
    """Answers each ``urlopen`` with the next outcome (a :class:`Reply`, or an exception to raise)."""

    def __init__(self, *outcomes: Reply | BaseException) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def urlopen(self, method: str, url: str, **options: Any) -> Reply:
        self.calls.append((method, url, options))
        assert self.outcomes, f"no outcome left for {method} {url}"
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self) -> None:
        pass


class Clock:
    """A clock at ``START`` that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = START
        self.step = step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


class Rig:
    """A transport to https://api.kie.test on a fake pool, with its sleeps and retry events recorded."""

    def __init__(self, *outcomes: Reply | BaseException, clock: Clock | None = None, **options: Any) -> None:
        self.pool = Pool(*outcomes)
        self.sleeps: list[float] = []
        self.events: list[RetryEvent] = []
        options.setdefault("retry", RetryPolicy(attempts=3, backoff=1.0, max_backoff=1.0))
        base_url = options.pop("base_url", f"https://{HOST}")
        self.transport = Transport(base_url, KEY, sleep=self.sleeps.append, clock=clock or Clock(), **options)
        self.transport._pool.close()
        self.transport._pool = self.pool  # type: ignore[assignment]

    def send(self, request: WireRequest = STATUS, *, idempotent: bool = True, **options: Any) -> Any:
        """The reply, or the KieError raised."""
        options.setdefault("profile", Profile.LIVE)
        with reporting(self.events.append):
            try:
                return self.transport.send(request, idempotent=idempotent, **options)
            except KieError as error:
                return error

    def create(self, **options: Any) -> Any:
        return self.send(CREATE, idempotent=False, **options)

    def timeouts(self) -> tuple[float | None, float | None]:
        """The connect and read timeouts of the last request."""
        timeout: urllib3.Timeout = self.pool.calls[-1][2]["timeout"]
        return timeout.connect_timeout, timeout.read_timeout  # type: ignore[return-value]


Make = Callable[..., Rig]


@pytest.fixture
def rig() -> Iterator[Make]:
    """Makes :class:`Rig` objects, and closes their transports after the test."""
    made: list[Rig] = []

    def make(*outcomes: Reply | BaseException, **options: Any) -> Rig:
        made.append(Rig(*outcomes, **options))
        return made[-1]

    yield make
    for each in made:
        each.transport.close()


def refused() -> NewConnectionError:
    conn = urllib3.connection.HTTPSConnection(HOST, 443)
    return NewConnectionError(conn, "Failed to establish a new connection: [Errno 111] Connection refused")


def reset() -> ProtocolError:
    return ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))


def timed_out() -> ReadTimeoutError:
    return ReadTimeoutError(None, "/", "Read timed out.")  # type: ignore[arg-type]


def clipped(text: str, limit: int) -> str:
    return text[: limit - 3] + "..."


# -- what is sent --------------------------------------------------------------------------------------------


def test_a_status_query_carries_its_query_the_key_and_no_body(rig: Make) -> None:
    kie = rig(reply(200, OK))
    assert kie.send() == OK
    [(method, url, options)] = kie.pool.calls
    assert (method, url) == ("GET", "/api/v1/jobs/recordInfo?taskId=t+1")
    assert options["body"] is None
    assert options["headers"] == {
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "Authorization": f"Bearer {KEY}",
    }
    assert (options["retries"], options["redirect"], options["preload_content"]) == (False, False, False)
    assert kie.timeouts() == (10.0, 60.0)


def test_a_request_without_a_query_has_no_question_mark_and_keeps_the_base_path(rig: Make) -> None:
    kie = rig(reply(200, OK), base_url="https://proxy.kie.test:8443/kie/")
    kie.send(WireRequest("GET", "/api/v1/chat/credit"))
    assert kie.pool.calls[0][1] == "/kie/api/v1/chat/credit"


def test_a_create_sends_its_body_as_json(rig: Make) -> None:
    kie = rig(reply(200, OK))
    assert kie.create() == OK
    [(method, url, options)] = kie.pool.calls
    assert (method, url) == ("POST", "/api/v1/jobs/createTask")
    assert options["body"] == json.dumps(CREATE.body).encode()
    assert options["headers"]["Content-Type"] == "application/json"
    assert "X-API-KEY" not in options["headers"]


@pytest.mark.parametrize(("request_", "idempotent"), [(STATUS, True), (CREATE, False), (UPLOAD, False)])
def test_the_reference_profile_also_sends_the_key_as_x_api_key(
    rig: Make, request_: WireRequest, idempotent: bool
) -> None:
    kie = rig(reply(200, OK))
    assert kie.send(request_, idempotent=idempotent, profile=Profile.REFERENCE) == OK
    headers = kie.pool.calls[0][2]["headers"]
    assert (headers["X-API-KEY"], headers["Authorization"]) == (KEY, f"Bearer {KEY}")


@pytest.mark.parametrize(("content_type", "sent"), [("image/png", "image/png"), (None, "application/octet-stream")])
def test_an_upload_body_is_sent_as_it_is_with_its_content_type(rig: Make, content_type: str | None, sent: str) -> None:
    kie = rig(reply(200, OK))
    upload = WireRequest("POST", "/api/file-stream-upload", data=b"--b\r\nbytes", content_type=content_type)
    kie.send(upload, idempotent=False)
    options = kie.pool.calls[0][2]
    assert (options["body"], options["headers"]["Content-Type"]) == (b"--b\r\nbytes", sent)


# -- budgets and socket timeouts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "timeouts"),
    [
        (None, (4.0, 6.0)),
        (START + 100, (4.0, 6.0)),
        (START + 5.0, (4.0, 5.0)),
        (START + 2.5, (2.5, 2.5)),
        (START - 10, (0.05, 0.05)),
    ],
    ids=["no-deadline", "far", "between", "near", "past"],
)
def test_socket_timeouts_never_outlast_the_deadline_or_the_settings(
    rig: Make, deadline: float | None, timeouts: tuple[float, float]
) -> None:
    answer = reply(200, OK)
    kie = rig(answer, connect_timeout=4.0, read_timeout=6.0)
    assert kie.send(deadline=deadline) == OK
    assert kie.timeouts() == timeouts
    assert answer.socket.timeouts == [pytest.approx(timeouts[1])] * 2  # each read's own bound
    assert answer.reads == [65536, 65536]


def test_a_reply_still_arriving_when_its_budget_is_spent_is_overdue(rig: Make) -> None:
    answer = reply(200, OK)
    # the clock moves 1 s a reading: the budget starts at 1000, the timeouts at 1001, the first read at 1002
    kie = rig(answer, clock=Clock(step=1.0), read_timeout=2.0)
    error = kie.send(once=True)
    assert type(error) is TransportError
    assert str(error) == f"{HOST} did not send its whole reply within 2s"
    assert answer.reads == [] and answer.closed and answer.released
    assert kie.timeouts() == (1.0, 1.0)


@pytest.mark.parametrize(("deadline", "seconds"), [(START + 1.25, "1.25"), (START - 5, "0.05")])
def test_the_overdue_message_names_the_budget_the_attempt_had(rig: Make, deadline: float, seconds: str) -> None:
    error = rig(timed_out(), read_timeout=6.0).send(deadline=deadline, once=True)
    assert type(error) is TransportError
    assert str(error) == f"{HOST} did not send its whole reply within {seconds}s"


@pytest.mark.parametrize("where", ["waiting", "reading"])
def test_a_create_whose_reply_timed_out_is_uncertain_and_never_resent(rig: Make, where: str) -> None:
    kie = rig(timed_out() if where == "waiting" else Reply(200, timed_out()), reply(200, OK), read_timeout=3.0)
    error = kie.create()
    assert type(error) is SubmitUncertainError
    assert str(error) == f"{HOST} did not send its whole reply within 3s" + MAYBE
    assert len(kie.pool.calls) == 1 and kie.sleeps == []


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (timed_out, f"{HOST} did not send its whole reply within 60s"),
        (reset, f"connection to {HOST} failed: [Errno 104] Connection reset by peer"),
    ],
    ids=["timed-out", "reset"],
)
def test_a_status_reply_cut_off_while_reading_is_retried_on_a_fresh_connection(
    rig: Make, failure: Callable[[], Exception], message: str
) -> None:
    error = rig(Reply(200, b'{"code":', failure())).send(once=True)
    assert type(error) is TransportError and str(error) == message
    cut = Reply(200, b'{"code":', failure())
    kie = rig(cut, reply(200, OK))
    assert kie.send() == OK
    assert len(kie.pool.calls) == 2 and cut.closed and cut.released


def test_a_reply_that_arrives_in_pieces_is_joined_as_it_came(rig: Make) -> None:
    answer = Reply(200, b'{"code": 2', b'00, "data": {"task', b'Id": "t1"}}')
    assert rig(answer).send() == {"code": 200, "data": {"taskId": "t1"}}
    assert answer.reads == [65536] * 4


def test_a_complete_reply_goes_back_to_the_pool_open(rig: Make) -> None:
    answer = reply(200, OK)
    rig(answer).send()
    assert answer.released and not answer.closed


# -- size caps -----------------------------------------------------------------------------------------------


def test_a_reply_of_exactly_the_cap_is_read_in_chunks(rig: Make) -> None:
    head = b'{"code": 200, "data": {"taskId": "t1"}, "pad": "'
    body = head + b"x" * (CAP - len(head) - 2) + b'"}'
    chunks = [body[index : index + 65536] for index in range(0, len(body), 65536)]
    answer = Reply(200, *chunks, headers={"Content-Length": str(CAP)})
    assert rig(answer).send()["data"] == {"taskId": "t1"}
    assert len(answer.reads) == 17 and not answer.closed


@pytest.mark.parametrize(
    "answer",
    [
        functools.partial(Reply, 200, b"{}", headers={"Content-Length": str(CAP + 1)}),
        functools.partial(Reply, 200, *[b" " * 65536] * 16, b" ", b"{}"),
    ],
    ids=["declared", "streamed"],
)
def test_a_reply_over_the_cap_is_a_parse_error_not_retried(rig: Make, answer: Callable[[], Reply]) -> None:
    large = answer()
    kie = rig(large, reply(200, OK))
    error = kie.send()
    assert type(error) is ParseError
    assert str(error) == f"{HOST} sent a reply larger than 1048576 bytes"
    assert len(kie.pool.calls) == 1 and large.closed and large.released


def test_a_create_reply_over_the_cap_is_uncertain(rig: Make) -> None:
    error = rig(Reply(200, b"{}", headers={"Content-Length": str(CAP + 1)})).create()
    assert type(error) is SubmitUncertainError
    assert str(error) == f"{HOST} sent a reply larger than 1048576 bytes" + MAYBE


# -- connection failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [refused, functools.partial(ConnectTimeoutError, "Failed to establish a new connection: timed out")],
    ids=["refused", "connect-timeout"],
)
def test_a_create_that_never_reached_the_server_is_sent_again(rig: Make, failure: Callable[[], Exception]) -> None:
    kie = rig(failure(), reply(200, OK))
    assert kie.create() == OK
    assert len(kie.pool.calls) == 2
    [event] = kie.events
    assert (event.what, event.host, event.attempt, event.delay) == ("create", HOST, 2, kie.sleeps[0])


def test_a_connection_never_made_is_named_without_the_pool_prefix(rig: Make) -> None:
    error = rig(refused()).send(once=True)
    assert type(error) is TransportError
    assert str(error) == (
        f"could not connect to {HOST}: Failed to establish a new connection: [Errno 111] Connection refused;"
        " check your network"
    )


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (reset, "[Errno 104] Connection reset by peer"),
        (lambda: ProtocolError("Connection aborted."), "Connection aborted."),
        (ConnectionResetError, "ConnectionResetError"),
        (lambda: OSError(" \n "), "OSError"),
        (lambda: OSError("\n  first line\nsecond line"), "first line"),
        (lambda: OSError(f"sent Bearer {KEY}, " + "y" * 300), clipped("sent Bearer ***, " + "y" * 300, 200)),
        (lambda: SSLError("certificate verify failed"), "certificate verify failed"),
        (lambda: MaxRetryError(None, "/", OSError("tunnel refused")), "tunnel refused"),  # type: ignore[arg-type]
    ],
    ids=["last-argument", "one-argument", "no-argument", "blank", "first-line", "redacted-clipped", "tls", "reason"],
)
def test_a_connection_lost_on_a_status_query_says_why_and_is_retried(
    rig: Make, failure: Callable[[], Exception], reason: str
) -> None:
    error = rig(failure()).send(once=True)
    assert type(error) is TransportError
    assert str(error) == f"connection to {HOST} failed: {reason}"
    assert rig(failure(), reply(200, OK)).send() == OK


@pytest.mark.parametrize("where", ["sending", "reading"])
def test_a_connection_lost_on_a_create_is_uncertain_and_never_resent(rig: Make, where: str) -> None:
    kie = rig(reset() if where == "sending" else Reply(200, reset()), reply(200, OK))
    error = kie.create()
    assert type(error) is SubmitUncertainError
    assert str(error) == (
        f"the connection to {HOST} was lost after the request was sent ([Errno 104] Connection reset by peer)" + MAYBE
    )
    assert len(kie.pool.calls) == 1 and kie.events == []


@pytest.mark.parametrize(
    ("failure", "kind"),
    [(lambda: ValueError("Invalid header value b'x\\r'"), "ValueError"), (lambda: TypeError("not bytes"), "TypeError")],
    ids=["value", "type"],
)
@pytest.mark.parametrize("where", ["sending", "reading"])
def test_what_the_http_client_cannot_send_is_final(
    rig: Make, failure: Callable[[], Exception], kind: str, where: str
) -> None:
    def outcome() -> Reply | Exception:
        return failure() if where == "sending" else Reply(200, failure())

    what = f"the request to {HOST} failed in the HTTP client ({kind}: {failure()})"
    status = rig(outcome(), reply(200, OK))
    error = status.send()
    assert type(error) is TransportError and str(error) == what
    created = rig(outcome(), reply(200, OK))
    error = created.create()
    assert type(error) is SubmitUncertainError and str(error) == what + MAYBE
    assert len(status.pool.calls) == len(created.pool.calls) == 1


# -- answers to a status query -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "kind", "text", "code"),
    [
        (later(404, {"code": 200, "msg": "no such path"}), NotFoundError, "(404: no such path)", 404),
        (later(200, {"code": 422, "msg": "recordInfo is null"}), InvalidRequestError, "(422: recordInfo is null)", 422),
        (later(401, "<html>401</html>"), AuthenticationError, "(401)", 401),
        (later(400, "<html>400</html>"), InvalidRequestError, "(400)", 400),
        (later(302, {"code": 302, "msg": "moved"}), APIError, "Kie answered 302: moved", 302),
        (later(200, {"code": "401", "message": "bad key"}), AuthenticationError, "(401: bad key)", 401),
    ],
    ids=["404-200", "200-422", "401-html", "400-html", "302-json", "string-code"],
)
def test_a_status_answer_that_refuses_is_raised_at_once(
    rig: Make, answer: Callable[[], Reply], kind: type[APIError], text: str, code: int
) -> None:
    first = answer()
    kie = rig(first, reply(200, OK))
    error = kie.send()
    assert type(error) is kind, error
    assert text in str(error)
    assert (error.code, error.http_status) == (code, first.status)
    assert len(kie.pool.calls) == 1


def test_a_status_reply_that_is_not_json_names_its_status_and_content_type(rig: Make) -> None:
    error = rig(reply(200, "<html>", Content_Type="text/html; charset=utf-8")).send(once=True)
    assert type(error) is ParseError
    assert str(error) == f"{HOST} sent a reply that is not JSON (HTTP 200, text/html; charset=utf-8)"
    bare = rig(Reply(204, b"")).send(once=True)
    assert str(bare) == f"{HOST} sent a reply that is not JSON (HTTP 204, no content type)"
    content_type = f"text/plain; key={KEY}; " + "z" * 200
    long = rig(Reply(302, b"?", headers={"Content-Type": content_type})).send(once=True)
    shown = clipped(f"text/plain; key=***; {'z' * 200}", 100)
    assert str(long) == f"{HOST} sent a reply that is not JSON (HTTP 302, {shown})"


def test_a_status_reply_that_is_not_json_is_retried(rig: Make) -> None:
    kie = rig(reply(200, "<html>maintenance</html>"), reply(200, OK))
    assert kie.send() == OK
    assert [(event.what, event.cause, event.attempt) for event in kie.events] == [("query", "unreadable", 2)]


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (later(503, "<html>busy</html>"), ServiceUnavailableError),
        (later(502, {"msg": "bad gateway"}), ServerError),
        (later(200, {"code": 500, "msg": "Server Error"}), ServerError),
        (later(504, {"code": 200, "msg": "gateway timeout"}), ServerError),
        (later(200, {"code": 429, "msg": "slow down"}), RateLimitedError),
    ],
    ids=["503-html", "502-no-code", "200-500", "504-200", "200-429"],
)
def test_a_status_query_retries_429_and_5xx_until_its_attempts_are_spent(
    rig: Make, answer: Callable[[], Reply], kind: type[APIError]
) -> None:
    kie = rig(answer(), reply(200, OK))
    assert kie.send() == OK
    assert len(kie.pool.calls) == 2 and len(kie.sleeps) == 1 and 0.5 <= kie.sleeps[0] <= 1.0
    spent = rig(answer(), answer(), answer())
    error = spent.send()
    assert type(error) is kind and len(spent.pool.calls) == 3
    assert [event.attempt for event in spent.events] == [2, 3]


def test_a_status_query_with_no_body_code_succeeds_on_http_200(rig: Make) -> None:
    assert rig(reply(200, {"data": {"taskId": "t1"}})).send() == {"data": {"taskId": "t1"}}


def test_a_status_query_answered_with_body_code_0_is_not_a_success(rig: Make) -> None:
    error = rig(reply(200, {"code": 0, "msg": "odd"})).send()
    assert (type(error), error.code, error.http_status) == (APIError, 0, 200)


@pytest.mark.parametrize(("status", "code"), [(429, 429), (503, 503), (200, 429), (200, 503)])
def test_a_status_query_waits_as_long_as_retry_after_says_for_429_and_503(rig: Make, status: int, code: int) -> None:
    kie = rig(reply(status, {"code": code, "msg": "wait"}, Retry_After="7"), reply(200, OK))
    assert kie.send() == OK
    assert kie.sleeps == [7.0] and kie.events[0].delay == 7.0


def test_retry_after_is_ignored_for_other_server_errors(rig: Make) -> None:
    kie = rig(reply(500, {"code": 500, "msg": "boom"}, Retry_After="7"), reply(200, OK))
    assert kie.send() == OK
    assert 0.5 <= kie.sleeps[0] <= 1.0
    error = rig(reply(500, {"code": 500, "msg": "boom"}, Retry_After="7")).send(once=True)
    assert type(error) is ServerError and str(error) == "Kie had a server error (500: boom); try again later"


def test_a_rate_limited_query_keeps_its_retry_after(rig: Make) -> None:
    error = rig(reply(429, {"code": 429, "msg": "slow down"}, Retry_After="7")).send(once=True)
    assert type(error) is RateLimitedError and error.retry_after == 7.0


def test_kie_messages_are_redacted_and_clipped(rig: Make) -> None:
    error = rig(reply(200, {"code": 422, "msg": f"key {KEY} " + "m" * 400})).send()
    assert isinstance(error, InvalidRequestError)
    assert error.kie_message == clipped("key *** " + "m" * 400, 300)
    assert str(error) == f"Kie refused the request (422: {error.kie_message})"


# -- answers to a create -------------------------------------------------------------------------------------


def test_a_create_answered_with_http_200_and_no_body_code_succeeded(rig: Make) -> None:
    assert rig(reply(200, {"data": {"taskId": "t1"}})).create() == {"data": {"taskId": "t1"}}


@pytest.mark.parametrize(
    ("answer", "summary"),
    [
        (later(503, {"code": 503, "msg": "busy"}), "HTTP 503 (body code 503: busy)"),
        (later(502, {"code": 502}), "HTTP 502 (body code 502)"),
        (later(502, {"msg": "bad gateway"}), "HTTP 502 (no body code: bad gateway)"),
        (later(200, {"code": 501, "msg": f"no {KEY}"}), "HTTP 200 (body code 501: no ***)"),
        (later(502, "<html>Bad Gateway</html>"), "HTTP 502 (not JSON, text/html)"),
        (functools.partial(Reply, 200, b""), "HTTP 200 (not JSON, no content type)"),
    ],
    ids=["503", "502-no-message", "502-no-code", "200-501", "502-html", "200-empty"],
)
def test_an_uncertain_create_says_what_the_server_answered(
    rig: Make, answer: Callable[[], Reply], summary: str
) -> None:
    kie = rig(answer(), reply(200, OK))
    error = kie.create()
    assert type(error) is SubmitUncertainError
    assert str(error) == f"{HOST} answered the create with {summary}" + MAYBE
    assert len(kie.pool.calls) == 1


@pytest.mark.parametrize(
    ("answer", "kind", "code", "text"),
    [
        (
            later(200, {"code": 401, "msg": "bad key"}),
            AuthenticationError,
            401,
            "Kie refused the API key (401: bad key)",
        ),
        (later(403, {"code": 500, "msg": "odd"}), APIError, 403, "Kie answered 403: odd"),
        (later(422, {"code": 433, "msg": "cap"}), UsageCapError, 433, "the API key reached a usage cap set on it (433"),
        (later(404, "<html>"), NotFoundError, 404, f"not found at {HOST} (404); check the base URL and task id"),
    ],
    ids=["200-401", "403-500", "422-433", "404-html"],
)
def test_a_refused_create_is_raised_under_its_code_and_never_resent(
    rig: Make, answer: Callable[[], Reply], kind: type[APIError], code: int, text: str
) -> None:
    first = answer()
    first.headers["Retry-After"] = "5"
    kie = rig(first, reply(200, OK))
    error = kie.create()
    assert type(error) is kind
    assert (error.code, error.http_status) == (code, first.status)
    assert str(error).startswith(text)
    assert len(kie.pool.calls) == 1


@pytest.mark.parametrize(
    "answer",
    [
        later(429, {"code": 500, "msg": "later"}, Retry_After="2"),
        later(429, {"code": 400, "msg": "later"}, Retry_After="2"),
        later(200, {"code": 429, "msg": "later"}, Retry_After="2"),
    ],
    ids=["429-500", "429-400", "200-429"],
)
def test_a_rate_limited_create_waits_for_retry_after_and_ends_rate_limited(
    rig: Make, answer: Callable[[], Reply]
) -> None:
    replies = [answer() for _ in range(3)]
    kie = rig(*replies)
    error = kie.create()
    assert type(error) is RateLimitedError
    assert (error.code, error.http_status, error.retry_after) == (429, replies[0].status, 2.0)
    assert str(error) == "rate limited by Kie (429: later); try again later"
    assert kie.sleeps == [2.0, 2.0] and [event.what for event in kie.events] == ["create", "create"]


# -- how long and how often to retry -------------------------------------------------------------------------


def busy(**headers: str) -> Reply:
    return reply(503, {"code": 503, "msg": "busy"}, **headers)


def test_once_means_one_attempt_whatever_the_answer(rig: Make) -> None:
    kie = rig(busy(), reply(200, OK))
    error = kie.send(once=True)
    assert type(error) is ServiceUnavailableError
    assert len(kie.pool.calls) == 1 and kie.sleeps == [] and kie.events == []


@pytest.mark.parametrize(("retry_after", "retried"), [("120", True), ("121", False)])
def test_a_retry_after_longer_than_the_policy_allows_is_not_waited_for(
    rig: Make, retry_after: str, retried: bool
) -> None:
    kie = rig(busy(Retry_After=retry_after), reply(200, OK), retry=RetryPolicy(attempts=2, max_retry_after=120.0))
    outcome = kie.send()
    assert (outcome == OK) is retried
    assert kie.sleeps == ([120.0] if retried else [])


@pytest.mark.parametrize(("deadline", "retried"), [(START + 3.0, True), (START + 2.99, False)])
def test_no_wait_runs_past_the_deadline(rig: Make, deadline: float, retried: bool) -> None:
    kie = rig(busy(Retry_After="3"), reply(200, OK))
    outcome = kie.send(deadline=deadline)
    assert (outcome == OK) is retried
    assert len(kie.pool.calls) == (2 if retried else 1)


def test_an_upload_retry_is_reported_as_an_upload(rig: Make) -> None:
    kie = rig(reply(429, {"code": 429, "msg": "slow"}, Retry_After="1"), reply(200, OK))
    assert kie.send(UPLOAD, idempotent=False) == OK
    [event] = kie.events
    assert (event.what, event.host, event.attempt, event.delay, event.code) == ("upload", HOST, 2, 1.0, 429)


def test_each_retry_is_logged_with_its_wait_and_cause(rig: Make, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kiecore.http"):
        rig(busy(Retry_After="2"), reply(200, OK)).send()
    assert [record.getMessage() for record in caplog.records] == [
        "GET /api/v1/jobs/recordInfo?taskId=t+1 -> HTTP 503",
        "retrying in 2.00s after: Kie is unavailable (503: busy); try again later",
        "GET /api/v1/jobs/recordInfo?taskId=t+1 -> HTTP 200",
    ]


# -- the transport's own pool --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "host", "port"),
    [
        ("https://api.kie.test", "api.kie.test", 443),
        ("https://api.kie.test:8443/kie", "api.kie.test", 8443),
        ("http://127.0.0.1", "127.0.0.1", 80),
        ("http://localhost:8080", "localhost", 8080),
    ],
)
def test_the_pool_is_bounded_blocking_and_never_retries_by_itself(base_url: str, host: str, port: int) -> None:
    transport = Transport(base_url, KEY, connect_timeout=3.0, read_timeout=9.0, connections=4)
    try:
        pool = transport._pool
        https = base_url.startswith("https")
        assert (pool.scheme, pool.host, pool.port) == ("https" if https else "http", host, port)
        connection = HTTPSConnection if https else HTTPConnection
        assert pool.ConnectionCls is connection
        assert pool.pool is not None and pool.pool.maxsize == 4 and pool.block is True
        assert pool.retries is False
        assert (pool.timeout.connect_timeout, pool.timeout.read_timeout) == (3.0, 9.0)  # type: ignore[union-attr]
    finally:
        transport.close()


def test_a_transport_has_default_retries_and_twelve_connections() -> None:
    transport = Transport("https://api.kie.test", KEY)
    try:
        assert transport.retry == RetryPolicy()
        assert transport._pool.pool is not None and transport._pool.pool.maxsize == 12
        assert (transport.base_url, transport.redact(f"key={KEY}")) == ("https://api.kie.test", "key=***")
    finally:
        transport.close()


def test_the_key_is_masked_in_http_log_lines_until_the_transport_closes(caplog: pytest.LogCaptureFixture) -> None:
    http_log = logging.getLogger("kiecore.http")
    transport = Transport("https://api.kie.test", KEY)
    with caplog.at_level(logging.INFO, logger="kiecore.http"):
        http_log.info("sent %s", KEY)
        transport.close()
        http_log.info("sent %s", KEY)
    assert [record.getMessage() for record in caplog.records] == ["sent ***", f"sent {KEY}"]
