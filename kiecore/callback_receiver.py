"""Receiving Kie's callbacks: verify each one, then make the waiting client query that task at once.

A callback is only a trigger. Kie signs the task id and the timestamp, not the body
(:mod:`kiecore.webhooks`), so nothing is read from the body but the task id: the results always come from
the client's authenticated status query. Three ways in, one rule:

* :class:`CallbackReceiver` — a plain callable any web framework can hand the request's headers and body;
* :meth:`CallbackReceiver.wsgi_app` — a small WSGI application;
* :class:`CallbackServer` — a stdlib HTTP server on ``HOST:PORT`` (what ``kie generate --listen`` runs).

Without an HMAC key (argument or ``$KIE_WEBHOOK_HMAC_KEY``) every callback is refused, never trusted unsigned.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import attrs

from kiecore.errors import UsageError
from kiecore.webhooks import DEFAULT_TOLERANCE, CallbackHeaders, ReplayGuard, WebhookError, verified_task_id

log = logging.getLogger("kiecore.callbacks")

#: The environment variable the HMAC key is read from when none is given.
HMAC_KEY_VARIABLE = "KIE_WEBHOOK_HMAC_KEY"
#: The largest callback body read; Kie's are a few kilobytes.
MAX_BODY_BYTES = 64 * 1024


class Notifiable(Protocol):
    """What a receiver routes to: a :class:`~kiecore.client.Client` or :class:`~kiecore.async_client.AsyncClient`."""

    def notify(self, task_id: str) -> bool: ...


@attrs.frozen
class CallbackOutcome:
    """What a receiver made of one callback: the HTTP status to answer with, a short reason, and the task id
    once verified (``known``: a client was waiting for it)."""

    status: int
    reason: str
    task_id: str | None = None
    known: bool = False


class CallbackReceiver:
    """Verifies callbacks and notifies ``clients``. ``hmac_key`` defaults to ``$KIE_WEBHOOK_HMAC_KEY``; with none,
    every callback is answered 401. Thread-safe; one replay guard per receiver."""

    def __init__(
        self,
        *clients: Notifiable,
        hmac_key: str | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self.clients = clients
        self._hmac_key = hmac_key if hmac_key is not None else os.environ.get(HMAC_KEY_VARIABLE, "")
        self._tolerance = tolerance
        self._guard = replay_guard if replay_guard is not None else ReplayGuard()

    @property
    def configured(self) -> bool:
        """Whether an HMAC key is set (without one, nothing is accepted)."""
        return bool(self._hmac_key.strip())

    def __call__(self, headers: CallbackHeaders, body: bytes | str) -> CallbackOutcome:
        """Take one callback: 401 if it does not verify, else 200 (and its task queried now, if awaited)."""
        try:
            task_id = verified_task_id(
                headers, body, hmac_key=self._hmac_key, tolerance=self._tolerance, replay_guard=self._guard
            )
        except WebhookError as error:
            log.warning("refused a callback: %s", error)
            return CallbackOutcome(401, str(error))
        known = any(client.notify(task_id) for client in self.clients)
        return CallbackOutcome(200, "ok", task_id, known)

    def wsgi_app(self) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
        """A WSGI application taking callbacks as ``POST`` (any path); bodies over 64 KiB are refused."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            outcome = self._from_wsgi(environ)
            text = outcome.reason.encode()
            start_response(
                f"{outcome.status} {_PHRASES.get(outcome.status, '')}".strip(),
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(text)))],
            )
            return [text]

        return app

    def _from_wsgi(self, environ: dict[str, Any]) -> CallbackOutcome:
        if environ.get("REQUEST_METHOD") != "POST":
            return CallbackOutcome(405, "callbacks are POSTed")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return CallbackOutcome(400, "bad Content-Length")
        if length > MAX_BODY_BYTES:
            return CallbackOutcome(413, "callback body too large")
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = [
            (name[5:].replace("_", "-").lower(), value) for name, value in environ.items() if name.startswith("HTTP_")
        ]
        return self(headers, body)


_PHRASES = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 405: "Method Not Allowed", 413: "Too Large"}


class CallbackServer:
    """Serves a receiver's WSGI app on ``host:port`` from a daemon thread (``port`` 0 picks a free one)."""

    def __init__(self, receiver: CallbackReceiver, host: str = "127.0.0.1", port: int = 0) -> None:
        self.receiver = receiver
        self._server: WSGIServer = make_server(host, port, receiver.wsgi_app(), handler_class=_QuietHandler)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> CallbackServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="kie-callbacks", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> CallbackServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as ``(host, port)``; :class:`UsageError` naming ``--listen``."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen wants HOST:PORT, e.g. 0.0.0.0:8080, not {text!r}")
    return host, int(port)


def start_listening(client: Notifiable, callback_url: str | None, listen: str) -> CallbackServer:
    """The server behind ``--callback-url URL --listen HOST:PORT``, started; :class:`UsageError` before anything
    is sent when the URL or the HMAC key is missing, or the address cannot be bound."""
    if not callback_url:
        raise UsageError("--listen needs --callback-url URL: the public address Kie posts to, which reaches HOST:PORT")
    host, port = listen_address(listen)
    receiver = CallbackReceiver(client)
    if not receiver.configured:
        raise UsageError(
            f"--listen needs {HMAC_KEY_VARIABLE} (your Kie account's webhook HMAC key): unsigned callbacks are"
            " never trusted"
        )
    try:
        return CallbackServer(receiver, host, port).start()
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("callback server: " + format, *args)
