"""Connections keep their socket for the reply's reader, and each read waits only as long as it is given."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3.connection

from kiecore import timed_reads
from kiecore.timed_reads import HTTPConnection, HTTPSConnection, limit_next_read


class Socket:
    """A reply socket that records the timeouts set on it, and may refuse them."""

    def __init__(self, refuse: bool = False) -> None:
        self.timeouts: list[float | None] = []
        self.refuse = refuse

    def settimeout(self, value: float | None) -> None:
        self.timeouts.append(value)
        if self.refuse:
            raise OSError("the socket is closed")


def response_on(sock: Any) -> Any:
    return SimpleNamespace(connection=SimpleNamespace(reply_socket=sock))


@pytest.mark.parametrize(("seconds", "timeout"), [(2.5, 2.5), (0.001, 0.001), (0.0005, 0.001), (-3.0, 0.001)])
def test_each_read_is_bounded_by_what_is_left_but_never_by_zero(seconds: float, timeout: float) -> None:
    sock = Socket()
    limit_next_read(response_on(sock), seconds)
    assert sock.timeouts == [timeout]


def test_a_socket_that_refuses_a_timeout_or_is_gone_does_not_stop_the_read() -> None:
    refusing = Socket(refuse=True)
    limit_next_read(response_on(refusing), 1.0)
    assert refusing.timeouts == [1.0]
    limit_next_read(response_on(None), 1.0)
    limit_next_read(SimpleNamespace(connection=None), 1.0)


def test_an_http_connection_keeps_its_socket_for_the_reader() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        connection = HTTPConnection("127.0.0.1", listener.getsockname()[1])
        assert connection.reply_socket is None
        connection.connect()
        try:
            assert connection.sock is not None and connection.reply_socket is connection.sock
        finally:
            connection.close()


def test_an_https_connection_keeps_its_socket_for_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    made = Socket()

    def connect(self: urllib3.connection.HTTPSConnection) -> None:  # the TLS handshake, without a server
        self.sock = made  # type: ignore[assignment]

    monkeypatch.setattr(urllib3.connection.HTTPSConnection, "connect", connect)
    connection = HTTPSConnection("api.kie.test", 443)
    assert connection.reply_socket is None
    connection.connect()
    assert connection.reply_socket is made


def test_pools_make_these_connections() -> None:
    assert timed_reads.HTTPPool.ConnectionCls is HTTPConnection
    assert timed_reads.HTTPSPool.ConnectionCls is HTTPSConnection
    assert {"http": timed_reads.HTTPPool, "https": timed_reads.HTTPSPool} == timed_reads.POOLS_BY_SCHEME
