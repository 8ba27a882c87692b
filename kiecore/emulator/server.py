"""The emulator's two HTTP servers (API host and file host), routing, auth and fault handling.

Routes come from the registry: every model's ``submit_path`` (POST) and ``status_path`` (GET) in each of
its profiles. A request with an ``X-API-KEY`` header speaks the reference profile and needs that header;
any other speaks the live profile and needs ``Authorization: Bearer <key>``. Creates on a shared path are
dispatched by the body's ``model``; status queries find the task by ``taskId`` (and answer in the shapes of
the profile the task was created in). Result files live on a second loopback address, so they are a
different origin from the API and never need a key.
"""

from __future__ import annotations

import contextlib
import json
import re
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
from kiecore.emulator.faults import Fault, FaultKind, FaultPlan, parse_fault
from kiecore.emulator.tasks import EmulatedTask, TaskStore, new_task_id
from kiecore.emulator.validate import body_problems
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
    ) -> None:
        if registry is None:
            from kiecore.loading import load_registry

            registry = load_registry()
        self.registry = registry
        self.host = host
        self.port = port
        self.file_host = file_host
        self.task_seconds = task_seconds
        self.api_key = api_key
        self.retry_after = retry_after
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
        """Stop both servers and close their open connections (safe to call twice)."""
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
        """Forget every task, fault and recorded request."""
        self._tasks.clear()
        self._images.clear()
        self.faults.clear()
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
                return self._respond_file(method, parts.path)
            return self._respond_api(method, parts.path, parts.query, lowered, body)
        except Exception as error:  # an emulator bug: say so instead of dropping the connection
            return _envelope(500, f"Server Error - emulator: {type(error).__name__}: {error}", status=500)

    def _respond_api(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        profile = Profile.REFERENCE if "x-api-key" in headers else Profile.LIVE
        routes = self._routes.get((method, path, profile))
        if not routes:
            return _not_found()
        key = _path_message_key(routes)
        phase = "submit" if method == "POST" else "status"
        fault = self.faults.take(phase)
        delay = self.faults.take_delay(phase)
        if fault is not None and fault.kind is not FaultKind.DROP_AFTER_CREATE:
            return attrs.evolve(self._fault_reply(fault, key), delay=delay)
        if not self._authorised(profile, headers):
            reply = _envelope(401, "You do not have access permissions", key=key)
        elif method == "POST":
            reply = self._create(routes, profile, path, body, key)
        else:
            reply = self._status(path, query, key)
        if fault is not None:  # drop_after_create: processed, but nobody hears about it
            reply = _Reply(0, drop=True)
        return attrs.evolve(reply, delay=delay)

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

    def _authorised(self, profile: Profile, headers: Mapping[str, str]) -> bool:
        if profile is Profile.REFERENCE:
            key = headers.get("x-api-key", "")
        else:
            scheme, _, key = headers.get("authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer":
                key = ""
        key = key.strip()
        return bool(key) and (self.api_key is None or key == self.api_key)

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
        )
        failure = self.faults.take_for_task(FaultKind.FAIL_TASK)
        if failure is not None:
            task.failed = True
            task.fail_message = str(failure.options.get("message", "Internal server error"))
        invisible = self.faults.take_for_task(FaultKind.INVISIBLE)
        if invisible is not None:
            task.invisible_left = invisible.times
            task.invisible_fault = invisible
        self._tasks.add(task)
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
            if task.invisible_fault is not None:
                self.faults.note_fired(task.invisible_fault)
            return _envelope(422, "recordInfo is null", key=task_key)
        return _json(200, replies.status_reply(task, self.task_seconds))

    def _respond_file(self, method: str, path: str) -> _Reply:
        fault = self.faults.take("download")
        delay = self.faults.take_delay("download")
        if fault is not None:
            return attrs.evolve(self._fault_reply(fault, "msg"), delay=delay)
        return attrs.evolve(self._file(method, path), delay=delay)

    def _file(self, method: str, path: str) -> _Reply:
        match = _FILE_PATH.match(path)
        task = self._tasks.get(match.group(1)) if match and method == "GET" else None
        if match is None or task is None or not task.succeeded(self.task_seconds):
            return _Reply(404, b"Not Found", content_type="text/plain")
        index = task.files.get(match.group(2))
        if index is None:
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
        if self.command != "HEAD":
            self.wfile.write(reply.body)

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


def serve(host: str, port: int, *, task_seconds: float, faults: list[str]) -> None:
    """Run an emulator in the foreground until Ctrl-C (what ``kie emulator`` does).

    ``faults`` are ``KIND[:ON[:TIMES]]`` strings, e.g. ``rate_limit:submit:2``; a bad one raises
    ``ValueError`` before anything is bound.
    """
    emulator = Emulator(host=host, port=port, task_seconds=task_seconds)
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
