"""The :class:`Emulator`: its settings and state, the start and stop of its three servers, and the hand-off of
each request to the API host (:mod:`~kiecore.emulator.api`), the upload host (:mod:`~kiecore.emulator.uploads`)
or the file host (:mod:`~kiecore.emulator.files`)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from kiecore.emulator import replies
from kiecore.emulator.api import ApiHost, ApiState
from kiecore.emulator.callbacks import CallbackDelivery, CallbackDispatcher
from kiecore.emulator.faults import Fault, FaultKind, FaultPlan
from kiecore.emulator.files import FileHost
from kiecore.emulator.http_replies import envelope_reply
from kiecore.emulator.httpserver import Reply
from kiecore.emulator.images import require_pillow
from kiecore.emulator.lifecycle import Servers
from kiecore.emulator.limits import SlidingLimiter
from kiecore.emulator.links import LINK_SECONDS, FreshLinks
from kiecore.emulator.requestlog import RecordedRequest, RequestLog
from kiecore.emulator.runtimes import RunTimes
from kiecore.emulator.tasks import EmulatedTask, TaskStore
from kiecore.emulator.uploads import EmulatedUpload, UploadHost, UploadStore, upload_reply
from kiecore.ratelimit import PUBLISHED_LIMITS
from kiecore.registry import Registry


class Emulator:
    """A local Kie API on loopback, for every model in ``registry`` (default: the installed plugins).

    ``task_seconds`` is how long a task runs (read at every status query; settable any time), unless
    ``run_times`` (a :class:`~kiecore.emulator.runtimes.RunTimes`, readable as :attr:`run_times`) is given:
    then each task draws its own duration once, at creation, from its model's ``typical_seconds``, and keeps
    it whatever ``task_seconds`` later says. With
    ``api_key`` set only that key is accepted, else any non-empty one. ``retry_after`` is the Retry-After of
    a ``rate_limit`` fault (option ``retry_after`` overrides it per fault). ``file_host`` defaults to
    127.0.0.2 when the API host is loopback and it can be bound, else the API host (on another port).

    A task created with a callback URL is POSTed its callback body once it finishes (loopback receivers
    only; see :mod:`kiecore.emulator.callbacks`), signed when ``webhook_hmac_key`` is set; deliveries are
    recorded in :attr:`callbacks`. With ``enforce_limits`` (settable any time) the live rate limits answer
    HTTP 429: ``create_limit`` creates per API key, ``status_limit`` status queries per API key and
    ``gpt4o_task_status_limit`` 4o record-info queries per task, each ``(count, seconds)`` over a sliding
    window (default: :data:`kiecore.ratelimit.PUBLISHED_LIMITS`). ``credits`` is the balance
    ``GET /api/v1/chat/credit`` starts from; each result image of a task that has succeeded costs one.
    The upload host (:attr:`upload_url`) takes Kie's three file uploads with the same key; the file host serves
    what was uploaded (:attr:`uploads`).
    """

    #: The settings a caller may change at any time (:meth:`reset` keeps them; the kit's fixtures put back the
    #: values the emulator started with, so that no test sees another's).
    SETTINGS = (
        "task_seconds",
        "api_key",
        "retry_after",
        "webhook_hmac_key",
        "enforce_limits",
        "create_limit",
        "status_limit",
        "gpt4o_task_status_limit",
        "link_seconds",
    )

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        file_host: str | None = None,
        task_seconds: float = 1.0,
        api_key: str | None = None,
        retry_after: float = 1.0,
        webhook_hmac_key: str | None = None,
        enforce_limits: bool = False,
        create_limit: tuple[int, float] = PUBLISHED_LIMITS.creates,
        status_limit: tuple[int, float] = PUBLISHED_LIMITS.status,
        gpt4o_task_status_limit: tuple[int, float] = PUBLISHED_LIMITS.task_status,
        credits: int = 1000,
        run_times: RunTimes | None = None,
    ) -> None:
        if registry is None:
            from kiecore.loading import load_registry

            registry = load_registry()
        self.registry = registry
        self.host = host
        self.port = port
        self.file_host = file_host
        self._task_seconds = task_seconds
        self._run_times = run_times
        self.api_key = api_key
        self.retry_after = retry_after
        self.webhook_hmac_key = webhook_hmac_key
        self.enforce_limits = enforce_limits
        self.create_limit = create_limit
        self.status_limit = status_limit
        self.gpt4o_task_status_limit = gpt4o_task_status_limit
        self.link_seconds = LINK_SECONDS
        self._initial_credits = credits
        self._credits_start = credits
        self._callbacks = CallbackDispatcher(
            task_seconds=lambda: self.task_seconds,
            body_for=lambda task: replies.callback_body(task, self.task_seconds, self.credits),
            hmac_key=lambda: self.webhook_hmac_key,
        )
        self.faults = FaultPlan()
        self._tasks = TaskStore()
        self._limiter = SlidingLimiter()
        self._links = FreshLinks(self._tasks, self)
        self._log = RequestLog()
        self._upload_store = UploadStore()
        self._files = FileHost(self._tasks, self.faults, self._links, self, self._upload_store)
        self._uploads = UploadHost(self._upload_store, self.faults, self, self._own_file)
        state = ApiState(self._tasks, self.faults, self._limiter, self._callbacks, self._links)
        self._api = ApiHost(registry, state, self)
        self._servers: Servers | None = None
        self._lifecycle = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind the three servers and serve them from daemon threads. Returns ``self``. Raises
        :class:`~kiecore.errors.UsageError` when Pillow is not installed, ``OSError`` when the address cannot be
        bound."""
        require_pillow()
        with self._lifecycle:
            if self._servers is not None:
                return self
            self._callbacks.open()
            self._servers = Servers.bind(self.host, self.port, self.file_host, self._respond)
            self._servers.serve()
        return self

    def stop(self) -> None:
        """Stop the servers, close their open connections and cancel every pending callback (safe to call
        twice; a callback already being delivered still finishes)."""
        self._callbacks.close()
        with self._lifecycle:
            servers, self._servers = self._servers, None
        if servers is not None:
            servers.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _running(self) -> Servers:
        if self._servers is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._servers

    @property
    def base_url(self) -> str:
        """The API host, e.g. ``http://127.0.0.1:PORT``."""
        return self._running().api.url

    @property
    def files_url(self) -> str:
        """The file host, e.g. ``http://127.0.0.2:PORT`` (a different origin from :attr:`base_url`)."""
        return self._running().files.url

    @property
    def upload_url(self) -> str:
        """The upload host, e.g. ``http://127.0.0.1:PORT`` (the API's address, its own port)."""
        return self._running().uploads.url

    @property
    def uploads(self) -> list[EmulatedUpload]:
        """A snapshot of every file uploaded since the last :meth:`reset`, oldest first."""
        return self._upload_store.snapshot()

    # -- state ---------------------------------------------------------------------------------------

    @property
    def task_seconds(self) -> float:
        """How long a task runs, in seconds (setting it moves running tasks and their callback timers)."""
        return self._task_seconds

    @task_seconds.setter
    def task_seconds(self, seconds: float) -> None:
        self._task_seconds = seconds
        self._callbacks.rearm()

    @property
    def run_times(self) -> RunTimes | None:
        """How each task's own duration is drawn at creation; ``None``: every task runs :attr:`task_seconds`."""
        return self._run_times

    @property
    def callbacks(self) -> list[CallbackDelivery]:
        """A snapshot of every callback delivery (or refusal), oldest first."""
        return self._callbacks.records

    def wait_for_callbacks(self, count: int = 1, timeout: float = 5.0) -> list[CallbackDelivery]:
        """Wait until at least ``count`` callbacks are recorded (at most ``timeout`` seconds); the snapshot."""
        return self._callbacks.wait(count, timeout)

    @property
    def pending_callbacks(self) -> int:
        """How many created tasks still wait for their callback."""
        return self._callbacks.pending

    @property
    def limit_violations(self) -> int:
        """How many requests the enforced rate limits refused (HTTP 429) since the last :meth:`reset`."""
        return self._limiter.violations

    @property
    def credits(self) -> int:
        """The remaining credits: the starting balance less one per result image of each succeeded task."""
        return max(0, self._credits_start - self._credits_spent())

    @credits.setter
    def credits(self, value: int) -> None:
        self._credits_start = value + self._credits_spent()

    def _credits_spent(self) -> int:
        seconds = self.task_seconds
        return sum(len(task.urls) for task in self._tasks.snapshot().values() if task.succeeded(seconds))

    def inject(self, kind: FaultKind | str, *, on: str = "any", times: int = 1, **options: Any) -> Fault:
        """Add a fault (see :class:`~kiecore.emulator.faults.FaultKind`) and return it."""
        return self.faults.add(kind, on=on, times=times, **options)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request either server received, oldest first."""
        return self._log.snapshot()

    @property
    def tasks(self) -> dict[str, EmulatedTask]:
        """A snapshot of the created tasks, by id."""
        return self._tasks.snapshot()

    def reset(self) -> None:
        """Forget every task, upload, fault, recorded request, callback (pending ones are cancelled), download link
        and rate-limit window; zero :attr:`limit_violations` and restore the starting credits."""
        self._callbacks.clear()
        self._tasks.clear()
        self._files.clear()
        self._upload_store.clear()
        self.faults.clear()
        self._limiter.clear()
        self._links.clear()
        self._credits_start = self._initial_credits
        self._log.clear()

    # -- requests ------------------------------------------------------------------------------------

    def _respond(self, role: str, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """Record a request to any server and answer it from that server's host."""
        parts = urlsplit(target)
        self._log.record(RecordedRequest(role, method, parts.path, parts.query, headers, body))
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            if role == "files":
                return self._files.respond(method, parts.path, parts.query)
            if role == "uploads":
                return self._uploads.respond(method, parts.path, lowered, body)
            return self._api.respond(method, parts.path, parts.query, lowered, body)
        except Exception as error:  # an emulator bug: say so instead of dropping the connection
            message = f"Server Error - emulator: {type(error).__name__}: {error}"
            return upload_reply(500, message) if role == "uploads" else envelope_reply(500, message, status=500)

    def _own_file(self, url: str) -> bytes | None:
        """What this emulator's file host serves at ``url`` (read in-process), or ``None``."""
        files = self.files_url
        if not url.startswith(files + "/"):
            return None
        parts = urlsplit(url)
        reply = self._files.fetch(parts.path, parts.query)
        return reply.body if reply.status == 200 else None
