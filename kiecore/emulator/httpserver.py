"""HTTP plumbing of the emulator's servers: a threading HTTP/1.1 server that tracks its connections, and a
handler that reads each request (``Content-Length`` or chunked), hands it to a :data:`Responder` and sends back
the :class:`Reply`, held back, dripped or dropped as the reply says. No routing or Kie knowledge lives here."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

#: Socket timeout of each connection's handler, in seconds (an idle keep-alive connection is closed then).
HANDLER_TIMEOUT = 30.0


@attrs.frozen
class Reply:
    """One answer. ``drop`` closes the connection without replying, ``delay`` holds the reply back that many
    seconds and ``drip`` sends the body one byte every ``drip`` seconds (0: all at once)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    delay: float = 0.0
    drip: float = 0.0


#: ``respond(role, method, target, headers, body)``: the reply to one request received by the server ``role``.
Responder = Callable[[str, str, str, dict[str, str], bytes], Reply]


class LoopbackServer(ThreadingHTTPServer):
    """One HTTP/1.1 server named ``role``; tracks its connections so :meth:`close_connections` can end
    keep-alives."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], role: str, respond: Responder) -> None:
        self.role = role
        self.respond = respond
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's slow reverse DNS lookup
        self.server_name, self.server_port = self.address()

    def address(self) -> tuple[str, int]:
        host, port = self.server_address[:2]
        return host.decode() if isinstance(host, bytes) else str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address()
        return f"http://{host}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients hanging up mid-reply are part of the game."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = HANDLER_TIMEOUT
    disable_nagle_algorithm = True
    wbufsize = 65536  # a reply leaves in one segment (the base class flushes after each request)
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Reply(400, b"Bad Request", content_type="text/plain"))
            return
        headers = dict(self.headers.items())
        reply = self.server.respond(self.server.role, self.command, self.path, headers, body)
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.drip <= 0:
            self.wfile.write(reply.body)
            return
        for offset in range(len(reply.body)):  # until the client gives up (a broken pipe ends the handler)
            self.wfile.write(reply.body[offset : offset + 1])
            self.wfile.flush()
            time.sleep(reply.drip)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").strip().lower() == "chunked":
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        size = int(length)
        if size < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while self.rfile.readline(65537).strip():
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)
