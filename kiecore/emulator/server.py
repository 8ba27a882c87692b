"""The emulator's two HTTP servers (API host and file host), routing, auth and fault handling.

Routes come from the registry: every model's ``submit_path`` (POST) and ``status_path`` (GET) in each of
its profiles. A request with an ``X-API-KEY`` header speaks the reference profile and needs that header;
any other speaks the live profile and needs ``Authorization: Bearer <key>``. Creates on a shared path are
dispatched by the body's ``model``; status queries find the task by ``taskId`` (and answer in the shapes of
the profile the task was created in). Result files live on a second loopback address, so they are a
different origin from the API and never need a key.

Besides the models' routes the API host serves the live common endpoints (in both profiles, with the same
auth): ``GET /api/v1/chat/credit``, ``POST /api/v1/common/download-url`` and ``POST
/api/v1/gpt4o-image/download-url``; the fresh links they hand out are signed query strings on the result
URLs, valid :attr:`Emulator.link_seconds`. Faults don't apply to these three endpoints, nor do rate limits.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, WireSpec
from kiecore.emulator import images, replies
from kiecore.emulator.callbacks import CallbackDelivery, CallbackDispatcher
from kiecore.emulator.faults import Fault, FaultKind, FaultPlan, parse_fault
from kiecore.emulator.limits import Check, SlidingLimiter
from kiecore.emulator.tasks import EmulatedTask, TaskStore, new_task_id
from kiecore.emulator.validate import body_problems, is_http_url
from kiecore.model import Profile
from kiecore.registry import ModelEntry, Registry

#: Socket timeout of each connection's handler, in seconds (an idle keep-alive connection is closed then).
HANDLER_TIMEOUT = 30.0

#: How often the servers' accept loops look for a stop request, in seconds.
POLL_INTERVAL = 0.02

COUNT_KEYS = ("num_images", "nVariants", "variants", "max_images")
FORMAT_KEYS = ("output_format", "outputFormat", "input_output_format")
ASPECT_KEYS = ("aspect_ratio", "aspectRatio", "image_size", "size", "ratio", "input_aspect_ratio")
PROMPT_KEYS = ("prompt", "input_prompt")

_FILE_PATH = re.compile(r"^/files/([^/]+)/([^/]+)$")

CREDIT_PATH = "/api/v1/chat/credit"
DOWNLOAD_URL_PATH = "/api/v1/common/download-url"
GPT4O_DOWNLOAD_URL_PATH = "/api/v1/gpt4o-image/download-url"
COMMON_ROUTES = frozenset({("GET", CREDIT_PATH), ("POST", DOWNLOAD_URL_PATH), ("POST", GPT4O_DOWNLOAD_URL_PATH)})

#: How long a link from either download-url endpoint stays valid, in seconds (20 min, as live).
LINK_SECONDS = 1200.0

#: The S3-style 403 body of an expired (or badly signed) file URL.
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
)
BAD_SIGNATURE_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the"
    b" signature you provided.</Message></Error>"
)


@attrs.frozen
class RecordedRequest:
    """One request as received by either server (``server`` is ``"api"`` or ``"files"``); ``headers`` holds
    every header as sent."""

    server: str
    method: str
    path: str
    query: str
    headers: dict[str, str] = attrs.field(hash=False)
    body: bytes


@attrs.frozen
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    delay: float = 0.0
    drip: float = 0.0  # seconds between two bytes of the body (a ``drip`` fault)


@attrs.frozen
class _Link:
    """A fresh download link: the file it opens and when it stops working (``time.time()``)."""

    task_id: str
    name: str
    expires: float


@attrs.frozen
class _Route:
    entry: ModelEntry
    profile: Profile
    wire: WireSpec


def _json(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode(), headers=headers)


def _envelope(code: int, message: str, *, key: str = "msg", status: int = 200) -> _Reply:
    return _json(status, replies.envelope(code, message, key=key))


def _not_found(message: str = "Not Found", key: str = "msg") -> _Reply:
    return _envelope(404, message, key=key, status=404)


class Emulator:
    """A local Kie API on loopback, for every model in ``registry`` (default: the installed plugins).

    ``task_seconds`` is how long a task runs (read at every status query; settable any time). With
    ``api_key`` set only that key is accepted, else any non-empty one. ``retry_after`` is the Retry-After of
    a ``rate_limit`` fault (option ``retry_after`` overrides it per fault). ``file_host`` defaults to
    127.0.0.2 when the API host is loopback and it can be bound, else the API host (on another port).

    A task created with a callback URL is POSTed its callback body once it finishes (loopback receivers
    only; see :mod:`kiecore.emulator.callbacks`), signed when ``webhook_hmac_key`` is set; deliveries are
    recorded in :attr:`callbacks`. With ``enforce_limits`` (settable any time) the live rate limits answer
    HTTP 429: ``create_limit`` creates per API key, ``status_limit`` status queries per API key and
    ``gpt4o_task_status_limit`` 4o record-info queries per task, each ``(count, seconds)`` over a sliding
    window. ``credits`` is the balance ``GET /api/v1/chat/credit`` starts from; each result image of a task
    that has succeeded costs one.
    """

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
        create_limit: tuple[int, float] = (20, 10.0),
        status_limit: tuple[int, float] = (10, 1.0),
        gpt4o_task_status_limit: tuple[int, float] = (3, 1.0),
        credits: int = 1000,
    ) -> None:
        if registry is None:
            from kiecore.loading import load_registry

            registry = load_registry()
        self.registry = registry
        self.host = host
        self.port = port
        self.file_host = file_host
        self._task_seconds = task_seconds
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
        self._limiter = SlidingLimiter()
        self._links_lock = threading.Lock()
        self._links: dict[str, _Link] = {}
        self._callbacks = CallbackDispatcher(
            task_seconds=lambda: self.task_seconds,
            body_for=lambda task: replies.callback_body(task, self.task_seconds, self.credits),
            hmac_key=lambda: self.webhook_hmac_key,
        )
        self.faults = FaultPlan()
        self._tasks = TaskStore()
        self._images = images.ImageCache()
        self._log_lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._routes = _route_table(registry)
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._lifecycle = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind both servers and serve them from daemon threads. Returns ``self``."""
        with self._lifecycle:
            if self._servers:
                return self
            self._callbacks.open()
            api = _Server((self.host, self.port), self, "api")
            try:
                files = self._bind_file_server()
            except BaseException:
                api.server_close()
                raise
            self._servers = [api, files]
            for server in self._servers:
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": POLL_INTERVAL},
                    name=f"kie-emulator-{server.role}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        return self

    def _bind_file_server(self) -> _Server:
        if self.file_host is not None:
            return _Server((self.file_host, 0), self, "files")
        if self.host.startswith("127."):
            with contextlib.suppress(OSError):
                return _Server(("127.0.0.2", 0), self, "files")
            return _Server(("127.0.0.1", 0), self, "files")
        return _Server((self.host, 0), self, "files")

    def stop(self) -> None:
        """Stop both servers, close their open connections and cancel every pending callback (safe to call
        twice; a callback already being delivered still finishes)."""
        self._callbacks.close()
        with self._lifecycle:
            servers, self._servers = self._servers, []
            threads, self._threads = self._threads, []
        stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server in servers]
        for stopper in stoppers:  # in parallel: each waits up to one poll interval
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in servers:
            server.server_close()
            server.close_connections()
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _server(self, role: str) -> _Server:
        for server in self._servers:
            if server.role == role:
                return server
        raise RuntimeError("the emulator is not running; call start() first")

    @property
    def base_url(self) -> str:
        """The API host, e.g. ``http://127.0.0.1:PORT``."""
        return self._server("api").url

    @property
    def files_url(self) -> str:
        """The file host, e.g. ``http://127.0.0.2:PORT`` (a different origin from :attr:`base_url`)."""
        return self._server("files").url

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
        with self._log_lock:
            return list(self._log)

    @property
    def tasks(self) -> dict[str, EmulatedTask]:
        """A snapshot of the created tasks, by id."""
        return self._tasks.snapshot()

    def reset(self) -> None:
        """Forget every task, fault, recorded request, callback (pending ones are cancelled), download link and
        rate-limit window; zero :attr:`limit_violations` and restore the starting credits."""
        self._callbacks.clear()
        self._tasks.clear()
        self._images.clear()
        self.faults.clear()
        self._limiter.clear()
        with self._links_lock:
            self._links.clear()
        self._credits_start = self._initial_credits
        with self._log_lock:
            self._log.clear()

    # -- request handling ----------------------------------------------------------------------------

    def _respond(self, role: str, method: str, target: str, headers: dict[str, str], body: bytes) -> _Reply:
        parts = urlsplit(target)
        with self._log_lock:
            self._log.append(RecordedRequest(role, method, parts.path, parts.query, headers, body))
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            if role == "files":
                return self._respond_file(method, parts.path, parts.query)
            return self._respond_api(method, parts.path, parts.query, lowered, body)
        except Exception as error:  # an emulator bug: say so instead of dropping the connection
            return _envelope(500, f"Server Error - emulator: {type(error).__name__}: {error}", status=500)

    def _respond_api(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        profile = Profile.REFERENCE if "x-api-key" in headers else Profile.LIVE
        if (method, path) in COMMON_ROUTES:
            if not self._authorised(profile, headers):
                return _envelope(401, "You do not have access permissions")
            return self._common(path, body)
        routes = self._routes.get((method, path, profile))
        if not routes:
            return _not_found()
        key = _path_message_key(routes)
        phase = "submit" if method == "POST" else "status"
        fault = self.faults.take(phase)
        delay, drip = self.faults.take_delay(phase), self.faults.take_drip(phase)
        if fault is not None and fault.kind is not FaultKind.DROP_AFTER_CREATE:
            return attrs.evolve(self._fault_reply(fault, key), delay=delay, drip=drip)
        if not self._authorised(profile, headers):
            reply = _envelope(401, "You do not have access permissions", key=key)
        elif self.enforce_limits and not self._limiter.admit(
            self._limit_checks(method, query, routes, self._api_key(profile, headers))
        ):
            reply = _envelope(429, "Rate limit exceeded", key=key, status=429)
            reply = attrs.evolve(reply, headers=(("Retry-After", "1"),))
        elif method == "POST":
            reply = self._create(routes, profile, path, body, key)
        else:
            reply = self._status(path, query, key)
        if fault is not None:  # drop_after_create: processed, but nobody hears about it
            reply = _Reply(0, drop=True)
        return attrs.evolve(reply, delay=delay, drip=drip)

    def _fault_reply(self, fault: Fault, key: str) -> _Reply:
        kind = fault.kind
        if kind is FaultKind.RATE_LIMIT:
            seconds = float(fault.options.get("retry_after", self.retry_after))
            reply = _envelope(429, "Rate limit exceeded", key=key, status=429)
            return attrs.evolve(reply, headers=(("Retry-After", f"{seconds:g}"),))
        if kind is FaultKind.SERVER_ERROR:
            status = int(fault.options.get("status", 500))
            return _envelope(status, "Server Error", key=key, status=status)
        if kind is FaultKind.NON_JSON:
            return _Reply(200, b"<html>Bad gateway</html>", content_type="text/html; charset=utf-8")
        if kind is FaultKind.AUTH:
            return _envelope(401, "You do not have access permissions", key=key)
        if kind is FaultKind.CREDITS:
            return _envelope(402, "Credits insufficient", key=key)
        return _Reply(0, drop=True)  # drop (and drop_after_create where nothing can be created)

    def _api_key(self, profile: Profile, headers: Mapping[str, str]) -> str:
        """The key a request carries in its profile's header (``""``: none)."""
        if profile is Profile.REFERENCE:
            key = headers.get("x-api-key", "")
        else:
            scheme, _, key = headers.get("authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer":
                key = ""
        return key.strip()

    def _authorised(self, profile: Profile, headers: Mapping[str, str]) -> bool:
        key = self._api_key(profile, headers)
        return bool(key) and (self.api_key is None or key == self.api_key)

    def _limit_checks(self, method: str, query: str, routes: list[_Route], api_key: str) -> list[Check]:
        """The rate-limit windows a request to a model route counts in."""
        if method == "POST":
            return [("create", api_key, self.create_limit)]
        checks: list[Check] = [("status", api_key, self.status_limit)]
        task_id = (parse_qs(query).get("taskId") or [""])[0].strip()
        if task_id and any(Dialect.GPT4O in (r.wire.dialect, r.entry.spec.live.dialect) for r in routes):
            checks.append(("gpt4o-task", task_id, self.gpt4o_task_status_limit))
        return checks

    def _create(self, routes: list[_Route], profile: Profile, path: str, body: bytes, key: str) -> _Reply:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            code = 400 if any(route.entry.spec.live.dialect is Dialect.GPT4O for route in routes) else 422
            return _envelope(code, "Request body is not valid JSON", key=key)
        if not isinstance(data, dict):
            return _envelope(422, "body: must be a JSON object", key=key)
        picked = self._pick(routes, profile, path, data, key)
        if isinstance(picked, _Reply):
            return picked
        route_key = replies.message_key(picked.profile, picked.wire)
        problems = body_problems(picked.wire, data)
        if problems:
            return _envelope(422, problems[0], key=route_key)
        task = self._new_task(picked, data)
        return _json(200, replies.create_reply(task))

    def _pick(self, routes: list[_Route], profile: Profile, path: str, data: Any, key: str) -> _Route | _Reply:
        """The route a create body is for, by its ``model`` (or an error reply)."""
        model = data.get("model") if isinstance(data, dict) else None
        for route in routes:
            if route.wire.model_field is not None and route.wire.model_field == model:
                return route
        if model is not None and any(
            entry.spec.wire(other).model_field == model
            for entry in self.registry.models()
            for other in entry.spec.profiles()
        ):  # a known model, but not at this path in this profile
            return _not_found(f"Not Found: {model} is not served at {path} in the {profile.value} profile", key)
        unkeyed = [route for route in routes if route.wire.model_field is None]
        if len(unkeyed) == 1:
            return unkeyed[0]
        if len(routes) == 1:
            return routes[0]
        reason = "is required" if model is None else f"unknown model {model!r}"
        return _envelope(422, f"model: {reason}", key=key)

    def _new_task(self, route: _Route, body: dict[str, Any]) -> EmulatedTask:
        wire, spec = route.wire, route.entry.spec
        params: Mapping[str, Any] = body["input"] if wire.layout is BodyLayout.INPUT else body
        pillow_format, ext, _ = images.format_for(_word(wire, params, FORMAT_KEYS) or "png")
        task_id = new_task_id(wire.dialect)
        base = f"{self.files_url}/files/{task_id}"
        files = {f"{index}.{ext}": index for index in range(_image_count(spec, wire, params))}
        urls = tuple(f"{base}/{name}" for name in files)
        origin = None
        if wire.dialect is Dialect.FLUX:
            files[f"origin.{ext}"] = 0
            origin = f"{base}/origin.{ext}"
        prompt = next((params[k] for k in PROMPT_KEYS if isinstance(params.get(k), str)), "")
        callback = body.get(wire.callback_field) if wire.callback_field is not None else None
        task = EmulatedTask(
            id=task_id,
            model=spec.id,
            profile=route.profile,
            wire=wire,
            body=body,
            created=time.time(),
            started=time.monotonic(),
            urls=urls,
            files=files,
            prompt=prompt,
            size=images.size_for(_word(wire, params, ASPECT_KEYS)),
            pillow_format=pillow_format,
            origin_url=origin,
            live_dialect=spec.live.dialect,
            callback_url=callback if is_http_url(callback) else None,
        )
        failure = self.faults.take_for_task(FaultKind.FAIL_TASK)
        if failure is not None:
            task.failed = True
            task.fail_message = str(failure.options.get("message", "Internal server error"))
            code = failure.options.get("code")
            task.fail_code = int(code) if code is not None else None
        invisible = self.faults.take_for_task(FaultKind.INVISIBLE)
        if invisible is not None:
            task.invisible_left = invisible.times
            task.invisible_fault = invisible
        expire = self.faults.take_for_task(FaultKind.EXPIRE)
        if expire is not None:
            task.expired = True
            task.expire_fault = expire
        self._tasks.add(task)
        if task.callback_url is not None:
            self._callbacks.schedule(task)
        return task

    def _status(self, path: str, query: str, key: str) -> _Reply:
        task_id = (parse_qs(query).get("taskId") or [""])[0].strip()
        if not task_id:
            return _envelope(400, "taskId parameter is required", key=key)
        task = self._tasks.get(task_id)
        if task is None or task.wire.status_path != path:
            return _envelope(422, "recordInfo is null", key=key)
        task_key = replies.message_key(task.profile, task.wire)
        if not self._tasks.spend_query(task):
            fault = task.invisible_fault
            if fault is not None:
                self.faults.note_fired(fault)
                if fault.options.get("reply") == "null_data":  # the other answer seen live while processing
                    return _json(200, replies.envelope(200, "success", None, key=task_key))
            return _envelope(422, "recordInfo is null", key=task_key)
        reply = _json(200, replies.status_reply(task, self.task_seconds))
        self._callbacks.poke(task)  # a finished task's callback goes out now if its timer is still waiting
        return reply

    # -- common endpoints ----------------------------------------------------------------------------

    def _common(self, path: str, body: bytes) -> _Reply:
        if path == CREDIT_PATH:
            return _json(200, replies.envelope(200, "success", self.credits))
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _envelope(422, "Request body is not valid JSON")
        if not isinstance(data, dict):
            return _envelope(422, "body: must be a JSON object")
        url = data.get("url")
        if path == GPT4O_DOWNLOAD_URL_PATH:
            return self._gpt4o_download_url(data.get("taskId"), url)
        if not isinstance(url, str) or not url.strip():
            return _envelope(422, "url: is required")
        found = self._issued_file(url)
        if found is None:
            return _envelope(422, "url: not a file generated by Kie")
        task, name = found
        expires = time.time() + self.link_seconds
        token = self._mint_link(task, name, expires, 16)
        link = f"{self.files_url}/files/{task.id}/{name}?Expires={int(expires)}&Signature={token}"
        return _json(200, replies.envelope(200, "success", link))

    def _gpt4o_download_url(self, task_id: Any, url: Any) -> _Reply:
        if not isinstance(task_id, str) or not task_id.strip():
            return _envelope(422, "taskId: is required")
        task = self._tasks.get(task_id.strip())
        if task is None or task.callback_dialect is not Dialect.GPT4O:
            return _envelope(422, "record is null")
        if not task.succeeded(self.task_seconds):
            return _envelope(422, "record status is not success")
        if not isinstance(url, str) or not url.strip():
            return _envelope(422, "url: is required")
        found = self._issued_file(url)
        if found is None or found[0] is not task:
            return _envelope(422, "url: not a result of this record")
        name = found[1]
        token = self._mint_link(task, name, time.time() + self.link_seconds, 32)
        expires = int(self.link_seconds)
        link = f"{self.files_url}/files/{task.id}/{name}?X-Amz-Expires={expires}&X-Amz-Signature={token}"
        return _json(200, replies.envelope(200, "success", link))

    def _issued_file(self, url: str) -> tuple[EmulatedTask, str] | None:
        """The succeeded task and file name a result URL (or fresh link) of this emulator names, else ``None``."""
        parts, files = urlsplit(url.strip()), urlsplit(self.files_url)
        try:
            same_host = (parts.scheme, parts.hostname, parts.port) == (files.scheme, files.hostname, files.port)
        except ValueError:  # a bad port
            return None
        match = _FILE_PATH.match(parts.path)
        task = self._tasks.get(match.group(1)) if same_host and match else None
        if match is None or task is None or match.group(2) not in task.files:
            return None
        return (task, match.group(2)) if task.succeeded(self.task_seconds) else None

    def _mint_link(self, task: EmulatedTask, name: str, expires: float, size: int) -> str:
        token = secrets.token_hex(size)
        with self._links_lock:
            self._links[token] = _Link(task.id, name, expires)
        return token

    def _respond_file(self, method: str, path: str, query: str) -> _Reply:
        fault = self.faults.take("download")
        delay, drip = self.faults.take_delay("download"), self.faults.take_drip("download")
        if fault is not None:
            return attrs.evolve(self._fault_reply(fault, "msg"), delay=delay, drip=drip)
        return attrs.evolve(self._file(method, path, query), delay=delay, drip=drip)

    def _file(self, method: str, path: str, query: str) -> _Reply:
        match = _FILE_PATH.match(path)
        task = self._tasks.get(match.group(1)) if match and method == "GET" else None
        if match is None or task is None:
            return _Reply(404, b"Not Found", content_type="text/plain")
        index = task.files.get(match.group(2))
        if index is None:
            return _Reply(404, b"Not Found", content_type="text/plain")
        fields = parse_qs(query)
        signed = fields.get("X-Amz-Signature") or fields.get("Signature")
        if signed:  # a fresh link: it must be one we handed out for this very file, and not stale
            with self._links_lock:
                link = self._links.get(signed[0])
            if link is None or (link.task_id, link.name) != (task.id, match.group(2)):
                return _Reply(403, BAD_SIGNATURE_XML, content_type="application/xml")
            if time.time() >= link.expires:
                return _Reply(403, EXPIRED_XML, content_type="application/xml")
        elif task.expired:
            if task.expire_fault is not None:
                self.faults.note_fired(task.expire_fault)
            return _Reply(403, EXPIRED_XML, content_type="application/xml")
        if not task.succeeded(self.task_seconds):
            return _Reply(404, b"Not Found", content_type="text/plain")
        data = self._images.get(
            (task.id, index), lambda: images.render(task.prompt, index, task.size, task.pillow_format)
        )
        extension = match.group(2).rsplit(".", 1)[-1]
        return _Reply(200, data, content_type=images.CONTENT_TYPES[extension])


def _route_table(registry: Registry) -> dict[tuple[str, str, Profile], list[_Route]]:
    table: dict[tuple[str, str, Profile], list[_Route]] = {}
    for entry in registry.models():
        for profile in entry.spec.profiles():
            wire = entry.spec.wire(profile)
            route = _Route(entry, profile, wire)
            table.setdefault(("POST", wire.submit_path, profile), []).append(route)
            status_routes = table.setdefault(("GET", wire.status_path, profile), [])
            status_routes.append(route)
    return table


def _path_message_key(routes: list[_Route]) -> str:
    keys = {replies.message_key(route.profile, route.wire) for route in routes}
    return "message" if keys == {"message"} else "msg"


def _word(wire: WireSpec, params: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` set in ``params``, else the declared default of the first declared one."""
    for name in keys:
        if name in params and params[name] is not None:
            return str(params[name])
    for name in keys:
        spec = wire.param(name)
        if spec is not None and spec.default is not None:
            return str(spec.default)
    return None


def _image_count(spec: ModelSpec, wire: WireSpec, params: Mapping[str, Any]) -> int:
    if Dialect.FLUX in (wire.dialect, spec.live.dialect):
        return 1
    count = 1
    for name in COUNT_KEYS:
        value = params.get(name)
        if isinstance(value, bool) or value is None:
            continue
        with contextlib.suppress(TypeError, ValueError):
            count = int(value)
            break
    return max(1, min(count, spec.max_images))


class _Server(ThreadingHTTPServer):
    """One HTTP/1.1 server; tracks its connections so :meth:`close_connections` can end keep-alives."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Emulator, role: str) -> None:
        self.emulator = emulator
        self.role = role
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
    server: _Server

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
            self._send(_Reply(400, b"Bad Request", content_type="text/plain"))
            return
        headers = dict(self.headers.items())
        reply = self.server.emulator._respond(self.server.role, self.command, self.path, headers, body)
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
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


def serve(
    host: str,
    port: int,
    *,
    task_seconds: float,
    faults: list[str],
    enforce_limits: bool = False,
    webhook_hmac_key: str | None = None,
) -> None:
    """Run an emulator in the foreground until Ctrl-C (what ``kie emulator`` does).

    ``faults`` are ``KIND[:ON[:TIMES]]`` strings, e.g. ``rate_limit:submit:2``; a bad one raises
    ``ValueError`` before anything is bound. ``enforce_limits`` and ``webhook_hmac_key`` are passed on to
    :class:`Emulator`.
    """
    emulator = Emulator(
        host=host,
        port=port,
        task_seconds=task_seconds,
        enforce_limits=enforce_limits,
        webhook_hmac_key=webhook_hmac_key,
    )
    for text in faults:
        kind, on, times = parse_fault(text)
        emulator.inject(kind, on=on, times=times)
    with emulator:
        print(f"kie emulator: API at {emulator.base_url}", flush=True)
        print(f"kie emulator: files at {emulator.files_url}", flush=True)
        print(f"kie emulator: {len(emulator.registry.models())} models; Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
