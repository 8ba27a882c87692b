"""Binding, serving and stopping the emulator's three servers: the API host, the upload host (the API's address,
another port: a different origin, as live) and the file host, the latter on another loopback address where one
can be bound, so result files are a different origin from the API."""

from __future__ import annotations

import contextlib
import threading

from kiecore.emulator.httpserver import LoopbackServer, Responder

#: How often the servers' accept loops look for a stop request, in seconds.
POLL_INTERVAL = 0.02


class Servers:
    """The API, upload and file servers of one emulator, each served from a daemon thread once started."""

    def __init__(self, api: LoopbackServer, uploads: LoopbackServer, files: LoopbackServer) -> None:
        self.api = api
        self.uploads = uploads
        self.files = files
        self._threads: list[threading.Thread] = []

    @classmethod
    def bind(cls, host: str, port: int, file_host: str | None, respond: Responder) -> Servers:
        """Bind the API server to ``(host, port)``, the upload server to ``host`` on a free port, and the file
        server to ``file_host`` (default: 127.0.0.2 when ``host`` is loopback and it can be bound, else ``host``)
        on a free port."""
        bound: list[LoopbackServer] = []
        try:
            bound.append(LoopbackServer((host, port), "api", respond))
            bound.append(LoopbackServer((host, 0), "uploads", respond))
            bound.append(_bind_file_server(host, file_host, respond))
        except BaseException:
            for server in bound:
                server.server_close()
            raise
        return cls(*bound)

    def serve(self) -> None:
        """Serve every server from daemon threads."""
        for server in (self.api, self.uploads, self.files):
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL},
                name=f"kie-emulator-{server.role}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop every server and close their open connections."""
        servers = (self.api, self.uploads, self.files)
        threads, self._threads = self._threads, []
        # shutdown() waits for a serve loop, so only servers that were served are asked to
        stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server in servers] if threads else []
        for stopper in stoppers:  # in parallel: each waits up to one poll interval
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in servers:
            server.server_close()
            server.close_connections()
        for thread in threads:
            thread.join(timeout=5)


def _bind_file_server(host: str, file_host: str | None, respond: Responder) -> LoopbackServer:
    if file_host is not None:
        return LoopbackServer((file_host, 0), "files", respond)
    if host.startswith("127."):
        with contextlib.suppress(OSError):
            return LoopbackServer(("127.0.0.2", 0), "files", respond)
        return LoopbackServer(("127.0.0.1", 0), "files", respond)
    return LoopbackServer((host, 0), "files", respond)
