"""Callbacks (webhooks): POST each finished task's callback body to the URL its create body named.

A task created with a callback URL gets a timer at creation, firing after its duration (its own
``seconds`` if it drew them, else ``task_seconds``); when it fires the task is delivered if it is finished,
else the timer is set again for the rest of its run (so a task whose duration grew still delivers once, when
it completes). A task without a callback URL gets no timer. Changing ``task_seconds`` re-arms every
pending timer, and a status query that finds the task finished delivers it at once. Each task is delivered
at most once, from a daemon thread, with a :data:`TIMEOUT` second timeout and only to loopback hosts
(others are refused and recorded as not delivered): the emulator never calls out of the machine.

With an HMAC key the delivery carries ``X-Webhook-Timestamp`` (unix seconds) and ``X-Webhook-Signature`` =
base64(HMAC-SHA256(key, f"{taskId}.{timestamp}")), as docs/kie-api-notes.md §5 describes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

from kiecore.emulator.tasks import EmulatedTask

#: Seconds a delivery may take (connect, send, reply) before it is recorded as failed.
TIMEOUT = 5.0

#: The User-Agent of deliveries.
USER_AGENT = "kiecore-emulator-callbacks"


@attrs.frozen
class CallbackDelivery:
    """One callback POST (or refusal).

    ``headers`` are the headers sent (``Host`` aside); ``status`` is the receiver's HTTP status, ``None`` when
    nothing was answered: then ``error`` says why (refused non-loopback host, connection refused, timeout).
    """

    task_id: str
    url: str
    headers: dict[str, str] = attrs.field(hash=False)
    body: bytes
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """Whether the receiver answered (with any status)."""
        return self.status is not None

    def json(self) -> Any:
        """The body, decoded."""
        return json.loads(self.body)


def signature(hmac_key: str, task_id: str, timestamp: str) -> str:
    """``X-Webhook-Signature`` for ``task_id`` at ``timestamp``: base64(HMAC-SHA256(key, "taskId.timestamp"))."""
    digest = hmac.new(hmac_key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a URL's host name) is ``localhost`` or a loopback IP address."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT) -> tuple[int | None, str | None]:
    """POST ``body`` to ``url`` if it is on a loopback host: ``(HTTP status, None)`` or ``(None, error)``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None, f"refused: {url!r} is not an http(s) URL"
    if not is_loopback(parts.hostname):
        return None, f"refused: {parts.hostname} is not a loopback host (the emulator only calls loopback)"
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        connection = connection_type(parts.hostname or "", parts.port, timeout=timeout)
    except (OSError, ValueError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, None
    except (OSError, ValueError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    finally:
        connection.close()


class CallbackDispatcher:
    """Timers and deliveries of one emulator's callbacks (thread-safe).

    ``task_seconds`` reads the emulator's current task duration (for tasks without their own), ``body_for``
    builds a finished task's callback body and ``hmac_key`` reads the signing key (``None``: unsigned).
    """

    def __init__(
        self,
        *,
        task_seconds: Callable[[], float],
        body_for: Callable[[EmulatedTask], dict[str, Any]],
        hmac_key: Callable[[], str | None],
        timeout: float = TIMEOUT,
    ) -> None:
        self._task_seconds = task_seconds
        self._body_for = body_for
        self._hmac_key = hmac_key
        self.timeout = timeout
        self._lock = threading.Condition()
        self._pending: dict[str, tuple[EmulatedTask, threading.Timer]] = {}
        self._claimed: set[str] = set()
        self._records: list[CallbackDelivery] = []
        self._generation = 0
        self._open = True

    # -- scheduling --------------------------------------------------------------------------------

    def schedule(self, task: EmulatedTask) -> None:
        """Arm ``task``'s timer (it must carry a callback URL); it fires after the task's remaining time."""
        with self._lock:
            if not self._open or task.callback_url is None or task.id in self._claimed:
                return
            self._arm(task)

    def _arm(self, task: EmulatedTask) -> None:  # holds the lock
        previous = self._pending.pop(task.id, None)
        if previous is not None:
            previous[1].cancel()
        timer = threading.Timer(self._remaining(task), self._fire, args=(task, self._generation))
        timer.daemon = True
        timer.name = f"kie-emulator-callback-{task.id}"
        self._pending[task.id] = (task, timer)
        timer.start()

    def _remaining(self, task: EmulatedTask) -> float:
        seconds = task.duration(self._task_seconds())
        if seconds <= 0:
            return 0.0
        return max(0.0, seconds - (time.monotonic() - task.started))

    def rearm(self) -> None:
        """Set every pending timer again for its task's remaining time (after ``task_seconds`` changed)."""
        with self._lock:
            if not self._open:
                return
            for task, _ in list(self._pending.values()):
                self._arm(task)

    def poke(self, task: EmulatedTask) -> None:
        """Deliver ``task`` now (from another thread) if it is finished and still pending."""
        if task.callback_url is None or not task.finished(self._task_seconds()):
            return
        with self._lock:
            if task.id not in self._pending:
                return
            self._arm_now(task)

    def _arm_now(self, task: EmulatedTask) -> None:  # holds the lock
        self._pending.pop(task.id)[1].cancel()
        timer = threading.Timer(0.0, self._fire, args=(task, self._generation))
        timer.daemon = True
        self._pending[task.id] = (task, timer)
        timer.start()

    def _fire(self, task: EmulatedTask, generation: int) -> None:
        try:
            with self._lock:
                current = self._pending.get(task.id)
                if not self._open or generation != self._generation or current is None or current[0] is not task:
                    return
                if current[1] is not threading.current_thread():
                    return  # re-armed meanwhile: the newer timer delivers
                if not task.finished(self._task_seconds()):
                    self._arm(task)
                    return
                del self._pending[task.id]
                self._claimed.add(task.id)
            self._deliver(task, generation)
        except Exception as error:  # never let a delivery problem escape into a timer thread's traceback
            with contextlib.suppress(Exception):
                self._record(
                    CallbackDelivery(task.id, task.callback_url or "", {}, b"", None, f"emulator: {error!r}"),
                    generation,
                )

    # -- delivery ----------------------------------------------------------------------------------

    def _deliver(self, task: EmulatedTask, generation: int) -> None:
        url = task.callback_url or ""
        body = json.dumps(self._body_for(task), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        key = self._hmac_key()
        if key is not None:
            timestamp = str(int(time.time()))
            headers["X-Webhook-Timestamp"] = timestamp
            headers["X-Webhook-Signature"] = signature(key, task.id, timestamp)
        status, error = post(url, body, headers, self.timeout)
        self._record(CallbackDelivery(task.id, url, headers, body, status, error), generation)

    def _record(self, delivery: CallbackDelivery, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._records.append(delivery)
                self._lock.notify_all()

    # -- state -------------------------------------------------------------------------------------

    @property
    def records(self) -> list[CallbackDelivery]:
        with self._lock:
            return list(self._records)

    @property
    def pending(self) -> int:
        """How many tasks wait for their callback."""
        with self._lock:
            return len(self._pending)

    def wait(self, count: int, timeout: float) -> list[CallbackDelivery]:
        """Wait until at least ``count`` deliveries are recorded (or ``timeout`` seconds); the records then."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._records) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return list(self._records)

    def open(self) -> None:
        """Accept new timers again (after :meth:`close`)."""
        with self._lock:
            self._open = True

    def close(self) -> None:
        """Cancel every pending timer and accept no new ones until :meth:`open` (a delivery already under way
        still finishes and is recorded)."""
        with self._lock:
            self._open = False
            self._cancel_all()

    def clear(self) -> None:
        """Cancel every pending timer and forget every delivery (deliveries under way are not recorded)."""
        with self._lock:
            self._generation += 1
            self._cancel_all()
            self._claimed.clear()
            self._records.clear()

    def _cancel_all(self) -> None:  # holds the lock
        pending, self._pending = self._pending, {}
        for _, timer in pending.values():
            timer.cancel()
