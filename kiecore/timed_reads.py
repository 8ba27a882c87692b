"""Connections whose reader can time each read: the transport and the downloader give every socket read only
what is left of its budget, so a host that drips its reply cannot hold a deadline open.

http.client forgets a connection's ``sock`` as soon as a reply says ``Connection: close`` (or is HTTP/1.0),
while that reply is still being read from it; these connections keep it as ``reply_socket``.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import urllib3
import urllib3.connection


class _Timed(Protocol):
    def settimeout(self, value: float | None, /) -> None: ...


class HTTPConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection that keeps its socket, as ``reply_socket``, for the reply's reader."""

    reply_socket: _Timed | None = None

    def connect(self) -> None:
        super().connect()
        self.reply_socket = self.sock


class HTTPSConnection(urllib3.connection.HTTPSConnection):
    """An HTTPS connection that keeps its socket, as ``reply_socket``, for the reply's reader."""

    reply_socket: _Timed | None = None

    def connect(self) -> None:
        super().connect()
        self.reply_socket = self.sock


class HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = HTTPConnection


class HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = HTTPSConnection


#: For ``urllib3.PoolManager.pool_classes_by_scheme``.
POOLS_BY_SCHEME: dict[str, type[urllib3.HTTPConnectionPool]] = {"http": HTTPPool, "https": HTTPSPool}


def limit_next_read(response: urllib3.BaseHTTPResponse, seconds: float) -> None:
    """Let the next socket read of ``response`` wait at most ``seconds`` (at least 1 ms). Does nothing for a
    reply whose connection is not one of these, or whose socket refuses."""
    sock = getattr(response.connection, "reply_socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))
