"""The downloader's edges, against a tiny file host on 127.0.0.1 that each test scripts (never the network)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3

from kiecore import download, urlcheck
from kiecore.errors import DownloadError, LinkExpiredError
from kiecore.events import RetryCause, RetryEvent, reporting
from kiecore.naming import Naming, TaskNames
from kiecore.retry import RetryPolicy

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
WEBP = b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(200)
GIF = b"GIF89a" + bytes(200)
TASK = "task_1"

Route = Callable[[BaseHTTPRequestHandler], None]


class FileHost:
    """An HTTP server on 127.0.0.1 answering each path with a scripted route and counting the requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.stop = threading.Event()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.partition("?")[0]
                host.hits[path] += 1
                route = host.routes.get(path)
                if route is None:
                    reply(self, 404, b"no such file", "text/plain")
                else:
                    route(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, content_type: str = "image/png") -> str:
        self.routes[path] = lambda handler: reply(handler, 200, body, content_type)
        return self.url(path)

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", content_type: str = "image/png") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def redirect(location: str, status: int = 302) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def unannounced(body: bytes) -> Route:
    """``body`` with no Content-Length: its end is where the connection closes."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def drip(host: FileHost, every: float) -> Route:
    """A PNG promised at 10 kB, then one byte each ``every`` seconds (or none at all when ``every`` is 0)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", "10000")
        handler.end_headers()
        pause = every or 5.0
        with contextlib.suppress(OSError):  # the downloader hangs up
            handler.wfile.write(PNG[:16])
            handler.wfile.flush()
            while not host.stop.wait(pause):
                handler.wfile.write(b"\x00")
                handler.wfile.flush()

    return route


@pytest.fixture
def host() -> Iterator[FileHost]:
    files = FileHost()
    yield files
    files.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def local(sleeps: list[float], **options: Any) -> download.Downloader:
    """A downloader allowed to reach the local file host, sleeping into ``sleeps`` instead of waiting."""
    return download.Downloader(allow_private_hosts=True, sleep=sleeps.append, **options)


def names(task_id: str = TASK, count: int = 1) -> TaskNames:
    return Naming().for_task(model="m", task_id=task_id, prompt=None, submitted_at=1.0, count=count)


def namer(task_id: str = TASK, index: int = 0, count: int = 1) -> Callable[[str], str]:
    return names(task_id, count).namer(index)


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def wait_for_partial(host: FileHost, directory: Path, size: int = 0) -> list[str]:
    """The temporary files in ``directory`` once there is one holding at least ``size`` bytes (at most a second's
    wait)."""
    for _ in range(100):
        partials = [name for name in listing(directory) if name.endswith(".part")]
        if any(_size(directory / name) >= size for name in partials) or host.stop.wait(0.01):
            return partials
    return []


def _size(path: Path) -> int:
    with contextlib.suppress(OSError):  # the partial may be gone already
        return path.stat().st_size
    return -1


def frozen(at: float = 0.0) -> Callable[[], float]:
    """A clock that never moves: the budget is exactly what the test says at every look."""
    return lambda: at


def stepping(step: float) -> Callable[[], float]:
    """A clock ``step`` seconds later at each look (the first look is 0)."""
    looks = iter(range(10_000))
    return lambda: next(looks) * step


class FixedDelay(RetryPolicy):
    """A retry policy whose every wait is ``backoff`` seconds exactly (no jitter)."""

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        return self.backoff


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_result_file_follows_the_umask(
    host: FileHost, tmp_path: Path, sleeps: list[float], umask: int, mode: int
) -> None:
    url = host.serve("/a.png", PNG)
    previous = os.umask(umask)
    try:
        path = local(sleeps).fetch(url, tmp_path, namer())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert listing(tmp_path) == [path.name]


# -- 1. deadlines --------------------------------------------------------------------------------------


@pytest.mark.parametrize("every", [0.1, 0.0], ids=["dripping", "stalled"])
def test_a_slow_host_is_given_up_on_after_max_seconds(
    host: FileHost, tmp_path: Path, sleeps: list[float], every: float
) -> None:
    host.routes["/slow.png"] = drip(host, every)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"^gave up downloading from 127\.0\.0\.1: .*1\.0s budget$"):
        local(sleeps, max_seconds=1.0).fetch(host.url("/slow.png"), tmp_path, namer())
    assert time.monotonic() - started < 1.5
    assert listing(tmp_path) == []  # the partial file is gone
    assert host.hits["/slow.png"] == 1 and sleeps == []


def test_the_overall_deadline_bounds_a_file_too(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    host.routes["/slow.png"] = drip(host, 0.1)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1.*0\.5s budget"):
        local(sleeps).fetch(host.url("/slow.png"), tmp_path, namer(), deadline=started + 0.5)
    assert time.monotonic() - started < 1.0
    assert listing(tmp_path) == []


def test_nothing_is_requested_past_the_deadline(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    url = host.serve("/a.png", PNG)
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1.*budget"):
        local(sleeps).fetch(url, tmp_path, namer(), deadline=time.monotonic() - 1)
    assert host.hits["/a.png"] == 0 and listing(tmp_path) == []


def test_retries_never_start_past_the_deadline(host: FileHost, tmp_path: Path) -> None:
    now = [0.0]
    started: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def clock() -> float:
        return now[0]

    def counted(handler: BaseHTTPRequestHandler) -> None:
        started.append(now[0])
        reply(handler, 503, b"busy", "text/plain")

    host.routes["/busy.png"] = counted
    downloader = download.Downloader(
        allow_private_hosts=True, retry=RetryPolicy(attempts=50, backoff=0.2, max_backoff=0.4), sleep=sleep, clock=clock
    )
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1.*1\.0s budget$"):  # out of time, or too little for a retry
        downloader.fetch(host.url("/busy.png"), tmp_path, namer(), deadline=1.0)
    assert 2 <= len(started) < 50 and all(moment < 1.0 for moment in started)
    assert now[0] < 1.0  # it did not sleep past the deadline either


def late_then_stalled(host: FileHost, pause: float, protocol: str = "HTTP/1.1") -> Route:
    """A reply whose first body bytes come ``pause`` seconds after its headers, and nothing more after them. Over
    HTTP/1.1 its connection is kept open; over HTTP/1.0 the reply closes it, and http.client lets go of its
    socket while the body is still being read."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.protocol_version = protocol
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", "10000")
        handler.end_headers()
        handler.wfile.flush()
        with contextlib.suppress(OSError):  # the downloader hangs up
            host.stop.wait(pause)
            handler.wfile.write(PNG[:16])
            handler.wfile.flush()
            host.stop.wait(5.0)
        handler.close_connection = True

    return route


@pytest.mark.parametrize("protocol", ["HTTP/1.1", "HTTP/1.0"])
def test_each_read_waits_only_for_what_is_left_of_the_budget(
    host: FileHost, tmp_path: Path, sleeps: list[float], protocol: str
) -> None:
    host.routes["/late.png"] = late_then_stalled(host, 0.6, protocol)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"^gave up downloading from 127\.0\.0\.1: .*1\.0s budget$"):
        local(sleeps, max_seconds=1.0).fetch(host.url("/late.png"), tmp_path, namer())
    assert time.monotonic() - started < 1.3  # not 0.6 s more: the wait after the late bytes was cut to 0.4 s
    assert listing(tmp_path) == [] and sleeps == []


def test_a_download_may_use_the_last_second_of_its_budget(host: FileHost, tmp_path: Path) -> None:
    url = host.serve("/a.png", PNG)
    downloader = local([], clock=frozen(10.0))
    assert downloader.fetch(url, tmp_path, namer(), deadline=10.5).read_bytes() == PNG


def test_no_name_is_looked_up_once_the_budget_is_gone(
    tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda name, *_args, **_kwargs: lookups.append(name) or [])
    downloader = download.Downloader(sleep=sleeps.append, clock=frozen(5.0))
    expected = "gave up downloading from files.example: it took longer than the 0.0s budget"
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        downloader.fetch("https://files.example/a.png", tmp_path, namer(), deadline=5.0)
    assert lookups == [] and sleeps == [] and listing(tmp_path) == []


def busy(host: FileHost) -> str:
    """A file that is always answered with a 503."""
    host.routes["/busy.png"] = lambda handler: reply(handler, 503, b"busy", "text/plain")
    return host.url("/busy.png")


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        (0.04, "gave up downloading from 127.0.0.1: it took longer than the 0.0s budget"),
        (0.05, "could not download {url}: HTTP 503; no time left to retry within the 0.1s budget"),
    ],
    ids=["less-than-the-slack", "the-slack-itself"],
)
def test_a_failure_near_the_deadline_is_not_retried(
    host: FileHost, tmp_path: Path, sleeps: list[float], deadline: float, expected: str
) -> None:
    url = busy(host)
    with pytest.raises(DownloadError, match=f"^{re.escape(expected.format(url=url))}$"):
        local(sleeps, clock=frozen()).fetch(url, tmp_path, namer(), deadline=deadline)
    assert host.hits["/busy.png"] == 1 and sleeps == []


def test_a_retry_whose_wait_would_use_up_the_budget_is_not_started(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    url = busy(host)
    downloader = local(sleeps, clock=frozen(), retry=FixedDelay(backoff=0.5))
    expected = f"could not download {url}: HTTP 503; no time left to retry within the 0.5s budget"
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        downloader.fetch(url, tmp_path, namer(), deadline=0.5)
    assert host.hits["/busy.png"] == 1 and sleeps == []


def test_no_request_is_sent_when_the_budget_runs_out_just_before_it(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    url = host.serve("/a.png", PNG)
    downloader = local(sleeps, clock=stepping(0.5), max_seconds=1.0)  # half left at the first look, none at the next
    expected = "gave up downloading from 127.0.0.1: it took longer than the 1.0s budget"
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        downloader.fetch(url, tmp_path, namer())
    assert host.hits["/a.png"] == 0 and sleeps == []


def test_a_connection_failure_that_ends_the_budget_is_reported_as_the_budget(
    tmp_path: Path, sleeps: list[float]
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    downloader = local(sleeps, clock=stepping(0.4), max_seconds=1.0)  # the refusal comes with 0.2 s overspent
    expected = "gave up downloading from 127.0.0.1: it took longer than the 1.0s budget"
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        downloader.fetch(f"http://127.0.0.1:{port}/a.png", tmp_path, namer())
    assert sleeps == []


@pytest.mark.parametrize(
    ("options", "deadline", "connect", "read"),
    [({}, None, 10.0, 60.0), ({"timeout": 2.5}, None, 10.0, 2.5), ({}, 4.0, 4.0, 4.0)],
    ids=["defaults", "short-reads", "short-budget"],
)
def test_connect_and_read_timeouts_never_exceed_the_budget(
    host: FileHost,
    tmp_path: Path,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, float],
    deadline: float | None,
    connect: float,
    read: float,
) -> None:
    timeouts: list[urllib3.Timeout] = []
    real_request = urllib3.PoolManager.request

    def recording(pool: urllib3.PoolManager, method: str, url: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        timeouts.append(kwargs["timeout"])
        return real_request(pool, method, url, **kwargs)

    monkeypatch.setattr(urllib3.PoolManager, "request", recording)
    url = host.serve("/a.png", PNG)
    local(sleeps, clock=frozen(), **options).fetch(url, tmp_path, namer(), deadline=deadline)
    assert [(timeout.connect_timeout, timeout.read_timeout) for timeout in timeouts] == [(connect, read)]


# -- 2. local write errors -----------------------------------------------------------------------------


def fail_on_files(monkeypatch: pytest.MonkeyPatch, failures: dict[str, int]) -> None:
    """Make these ``os`` calls (``write``, ``fsync``, ``close``) fail with these error numbers on regular files;
    a failing close still closes the file, as a close that reports a full disk does."""
    for call, code in failures.items():
        monkeypatch.setattr(os, call, _failing(call, getattr(os, call), code))


def _failing(call: str, real: Callable[..., Any], code: int) -> Callable[..., Any]:
    def failing(handle: int, *args: Any) -> Any:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return real(handle, *args)
        if call == "close":
            real(handle)
        raise OSError(code, os.strerror(code))

    return failing


#: Failing calls, and the error number reported: the first failure's, whatever the cleanup meets after it.
STEP_FAILURES = {
    "sync": ({"fsync": errno.EIO}, errno.EIO),
    "close": ({"close": errno.ENOSPC}, errno.ENOSPC),
    "sync-and-close": ({"fsync": errno.EIO, "close": errno.EBADF}, errno.EIO),
}


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO])
def test_a_failing_write_is_a_local_error_at_once(
    host: FileHost, tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    fail_on_files(monkeypatch, {"write": code})
    url = host.serve("/a.png", PNG)
    with pytest.raises(download.LocalWriteError) as caught:
        local(sleeps).fetch(url, tmp_path, namer())
    message = str(caught.value)
    assert re.fullmatch(
        rf"cannot write {re.escape(str(tmp_path))}/\.task_1\.\d+\.\w+\.part: {os.strerror(code)}", message
    )
    assert caught.value.errno == code and isinstance(caught.value, DownloadError)
    assert host.hits["/a.png"] == 1 and sleeps == []  # never retried
    assert listing(tmp_path) == []


@pytest.mark.parametrize("step", sorted(STEP_FAILURES))
def test_a_failing_sync_or_close_is_a_local_error_at_once(
    host: FileHost, tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    failures, code = STEP_FAILURES[step]
    fail_on_files(monkeypatch, failures)
    url = host.serve("/a.png", PNG)
    with pytest.raises(download.LocalWriteError) as caught:
        local(sleeps).fetch(url, tmp_path, namer())
    partial = rf"{re.escape(str(tmp_path))}/\.task_1\.{os.getpid()}\.[0-9a-f]{{8}}\.part"
    assert re.fullmatch(rf"cannot write {partial}: {os.strerror(code)}", str(caught.value))
    assert caught.value.errno == code and host.hits["/a.png"] == 1 and sleeps == []
    assert listing(tmp_path) == []


def test_missing_parent_directories_are_created(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    url = host.serve("/a.png", PNG)
    target = tmp_path / "one" / "two"
    assert local(sleeps).fetch(url, target, namer()) == target / "task_1.png"
    assert listing(target) == ["task_1.png"]


def test_a_name_too_long_for_the_file_system_is_a_local_error(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    url = host.serve("/a.png", PNG)
    with pytest.raises(download.LocalWriteError) as caught:
        local(sleeps).fetch(url, tmp_path, lambda extension: "x" * 250 + "." + extension)
    assert str(caught.value) == f"cannot write {tmp_path}: File name too long"
    assert caught.value.errno == errno.ENAMETOOLONG and caught.value.path == tmp_path
    assert host.hits["/a.png"] == 1 and sleeps == [] and listing(tmp_path) == []


def test_a_partial_file_name_already_taken_is_never_reused(
    host: FileHost, tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = tmp_path / f".task_1.{os.getpid()}.0000aaaa.part"
    taken.write_bytes(b"another download's bytes")
    tokens = iter(["0000aaaa", "0000bbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda _size: next(tokens))
    url = host.serve("/a.png", PNG)
    assert local(sleeps).fetch(url, tmp_path, namer()).read_bytes() == PNG
    assert taken.read_bytes() == b"another download's bytes"
    assert listing(tmp_path) == sorted([taken.name, "task_1.png"])


def test_a_hundred_taken_partial_names_are_a_local_error(
    host: FileHost, tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / f".task_1.{os.getpid()}.0000aaaa.part").write_bytes(b"")
    tries: list[int] = []
    monkeypatch.setattr(secrets, "token_hex", lambda size: tries.append(size) or "0000aaaa")
    url = host.serve("/a.png", PNG)
    with pytest.raises(download.LocalWriteError) as caught:
        local(sleeps).fetch(url, tmp_path, namer())
    assert str(caught.value) == f"cannot write {tmp_path}: no free name for a partial file of task_1"
    assert caught.value.path == tmp_path and len(tries) == 100 and sleeps == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_write_file_puts_the_whole_file_in_place_with_the_users_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "out.json"
    previous = os.umask(0o027)
    try:
        assert download.write_file(path, b"first") == path
        assert download.write_file(path, b"second, longer") == path
    finally:
        os.umask(previous)
    assert path.read_bytes() == b"second, longer" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert listing(path.parent) == ["out.json"]


@pytest.mark.parametrize("step", ["write", *sorted(STEP_FAILURES)])
def test_write_file_leaves_the_old_file_when_a_step_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = tmp_path / "out.json"
    path.write_bytes(b"old")
    failures, code = STEP_FAILURES.get(step, ({"write": errno.ENOSPC}, errno.ENOSPC))
    fail_on_files(monkeypatch, failures)
    with pytest.raises(download.LocalWriteError) as caught:
        download.write_file(path, b"new")
    partial = rf"{re.escape(str(tmp_path))}/\.out\.json\.{os.getpid()}\.[0-9a-f]{{8}}\.part"
    assert re.fullmatch(rf"cannot write {partial}: {os.strerror(code)}", str(caught.value))
    assert caught.value.errno == code
    monkeypatch.undo()
    assert path.read_bytes() == b"old" and listing(tmp_path) == ["out.json"]


def test_a_directory_that_cannot_be_created_is_a_local_error(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    (tmp_path / "file").write_text("not a directory")
    target = tmp_path / "file" / "out"
    url = host.serve("/a.png", PNG)
    with pytest.raises(download.LocalWriteError, match=rf"^cannot write {re.escape(str(target))}: ") as caught:
        local(sleeps).fetch(url, target, namer())
    assert "\n" not in str(caught.value) and sleeps == []


@pytest.mark.parametrize("if_exists", ["error", "overwrite"])
def test_a_failing_rename_is_a_local_error(
    host: FileHost, tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch, if_exists: download.IfExists
) -> None:
    def read_only(*_args: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "link", read_only)
    monkeypatch.setattr(os, "replace", read_only)
    url = host.serve("/a.png", PNG)
    expected = f"cannot write {tmp_path / 'task_1.png'}: Read-only file system"
    with pytest.raises(download.LocalWriteError, match=f"^{re.escape(expected)}$"):
        local(sleeps).fetch(url, tmp_path, namer(), if_exists=if_exists)
    assert host.hits["/a.png"] == 1 and sleeps == [] and listing(tmp_path) == []


# -- 3. every failure is bounded by the retry policy ---------------------------------------------------


def truncated(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "image/png")
    handler.send_header("Content-Length", str(len(PNG)))
    handler.end_headers()
    handler.wfile.write(PNG[:20])


def hang_up(handler: BaseHTTPRequestHandler) -> None:
    """No reply at all: the connection is closed once the request is in."""


#: Each failure, and (as a pattern) the reason the final error gives for it.
FAILURES: dict[str, tuple[Route, str]] = {
    "server error": (lambda handler: reply(handler, 503, b"busy", "text/plain"), "HTTP 503"),
    "connection lost mid-file": (truncated, r"connection lost mid-file: .*IncompleteRead\(20 bytes read.*"),
    "empty reply": (lambda handler: reply(handler, 200, b""), "empty reply"),
    "no reply": (hang_up, r".*Remote end closed connection without response.*"),
}


@pytest.mark.parametrize("via_redirect", [False, True], ids=["direct", "redirected"])
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_download_that_always_fails_is_tried_exactly_attempts_times(
    host: FileHost, tmp_path: Path, sleeps: list[float], failure: str, via_redirect: bool
) -> None:
    route, reason = FAILURES[failure]
    host.routes["/file.png"] = route
    host.routes["/link"] = redirect("/file.png")
    url = host.url("/link" if via_redirect else "/file.png")
    with pytest.raises(DownloadError, match=f"^could not download {re.escape(url)}: {reason}$"):
        local(sleeps, retry=RetryPolicy(attempts=3)).fetch(url, tmp_path, namer())
    assert host.hits["/file.png"] == 3 and len(sleeps) == 2  # the pool itself never retries
    assert listing(tmp_path) == []


def test_each_retry_is_reported_with_its_cause_and_next_attempt(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    answers = iter([FAILURES["server error"][0], FAILURES["empty reply"][0], lambda h: reply(h, 200, PNG)])
    host.routes["/a.png"] = lambda handler: next(answers)(handler)
    seen: list[RetryEvent] = []
    with reporting(seen.append):
        saved = local(sleeps, retry=RetryPolicy(attempts=3)).fetch(host.url("/a.png"), tmp_path, namer())
    assert saved.read_bytes() == PNG and len(sleeps) == 2
    common = {"what": "download", "host": "127.0.0.1"}
    assert seen == [
        RetryEvent(**common, cause=RetryCause.SERVER, attempt=2, delay=sleeps[0], error="HTTP 503", code=503),
        RetryEvent(**common, cause=RetryCause.UNREACHABLE, attempt=3, delay=sleeps[1], error="empty reply"),
    ]


def test_a_refused_connection_is_tried_exactly_attempts_times(tmp_path: Path, sleeps: list[float]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.png"
    with pytest.raises(DownloadError, match=rf"^could not download {re.escape(url)}: .*Connection refused$"):
        local(sleeps, retry=RetryPolicy(attempts=3)).fetch(url, tmp_path, namer())
    assert len(sleeps) == 2


def test_a_name_that_does_not_resolve_is_retried_like_a_lost_connection(
    tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unresolvable(*_args: object, **_kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
    downloader = download.Downloader(retry=RetryPolicy(attempts=3), sleep=sleeps.append)
    expected = (
        "could not download https://files.invalid/a.png: cannot resolve files.invalid: "
        f"[Errno {socket.EAI_NONAME}] Name or service not known"
    )
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        downloader.fetch("https://files.invalid/a.png", tmp_path, namer())
    assert len(sleeps) == 2


# -- 4. the type comes from the bytes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "path", "expected"),
    [
        (PNG, "application/octet-stream", "/result.exe", "task_1.png"),
        (JPEG, "image/png", "/result.png", "task_1.jpg"),
        (WEBP, "", "/result.sh", "task_1.webp"),
        (GIF, "binary/octet-stream", "/result", "task_1.gif"),
        (JPEG, " Application/Octet-Stream; name=result.bin", "/result.bin", "task_1.jpg"),
        (b"\xff\xd8\xff\xdb", "image/jpeg", "/tiny.jpg", "task_1.jpg"),  # shorter than the sniffed prefix
    ],
)
def test_the_extension_comes_from_the_first_bytes(
    host: FileHost, tmp_path: Path, sleeps: list[float], body: bytes, content_type: str, path: str, expected: str
) -> None:
    url = host.serve(path, body, content_type)
    saved = local(sleeps).fetch(url, tmp_path, namer())
    assert saved == tmp_path / expected and saved.read_bytes() == body
    assert listing(tmp_path) == [expected]


@pytest.mark.parametrize(
    ("body", "content_type", "path"),
    [
        (b"#!/bin/sh\nrm -rf ~\n", "application/octet-stream", "/run.sh"),
        (b"MZ\x90\x00" + bytes(100), "", "/setup.exe"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "/a.svg"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "image/webp", "/a.webp"),
        (b"GIF", "image/gif", "/short.gif"),
    ],
)
def test_bytes_of_no_known_image_format_are_refused(
    host: FileHost, tmp_path: Path, sleeps: list[float], body: bytes, content_type: str, path: str
) -> None:
    url = host.serve(path, body, content_type)
    with pytest.raises(DownloadError, match=r"is not a PNG, JPEG, WebP or GIF image$"):
        local(sleeps).fetch(url, tmp_path, namer())
    assert listing(tmp_path) == [] and host.hits[path] == 1 and sleeps == []


def in_two_parts(host: FileHost, directory: Path, body: bytes, split: int) -> Route:
    """``body`` in two reads: its first ``split`` bytes, and the rest once the downloader has written those."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:split])
        handler.wfile.flush()
        wait_for_partial(host, directory, size=split)
        handler.wfile.write(body[split:])

    return route


def test_the_type_is_sniffed_from_first_bytes_split_across_reads(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    host.routes["/a"] = in_two_parts(host, tmp_path, PNG, 5)
    saved = local(sleeps).fetch(host.url("/a"), tmp_path, namer())
    assert saved == tmp_path / "task_1.png" and saved.read_bytes() == PNG


def test_a_non_image_is_refused_as_soon_as_its_first_bytes_are_in(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    def script_then_silence(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", "10000")
        handler.end_headers()
        with contextlib.suppress(OSError):
            handler.wfile.write(b"#!/bin/sh\necho the rest never comes\n")
            handler.wfile.flush()
            host.stop.wait(5.0)

    host.routes["/run"] = script_then_silence
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"/run is not a PNG, JPEG, WebP or GIF image$"):
        local(sleeps, max_seconds=1.0).fetch(host.url("/run"), tmp_path, namer())
    assert time.monotonic() - started < 0.5 and listing(tmp_path) == [] and sleeps == []


def test_a_clearly_non_image_content_type_is_refused_early(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    url = host.serve("/a.png", PNG, "text/html; charset=utf-8")
    with pytest.raises(DownloadError, match=r"is not an image \(Content-Type text/html; charset=utf-8\)"):
        local(sleeps).fetch(url, tmp_path, namer())
    assert listing(tmp_path) == []


# -- 5. redirects --------------------------------------------------------------------------------------


def test_three_redirects_are_followed_and_relative_locations_resolved(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    host.serve("/files/final.png", PNG)
    host.routes["/r1"] = redirect(host.url("/files/one"), 301)
    host.routes["/files/one"] = redirect("two", 307)  # relative to /files/
    host.routes["/files/two"] = redirect("/files/../files/final.png", 308)
    saved = local(sleeps).fetch(host.url("/r1"), tmp_path, namer())
    assert saved.read_bytes() == PNG
    assert host.hits == Counter({"/r1": 1, "/files/one": 1, "/files/two": 1, "/files/final.png": 1})


def test_a_fourth_redirect_is_an_error(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    host.serve("/final.png", PNG)
    for hop in range(4):
        host.routes[f"/r{hop}"] = redirect(f"/r{hop + 1}" if hop < 3 else "/final.png")
    with pytest.raises(DownloadError, match="more than 3 redirects"):
        local(sleeps).fetch(host.url("/r0"), tmp_path, namer())
    assert host.hits["/final.png"] == 0 and sleeps == []


def test_a_redirect_without_a_location_is_an_error(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    host.routes["/r"] = lambda handler: reply(handler, 302, b"")
    url = host.url("/r")
    expected = f"could not download {url}: HTTP 302 without a Location"
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        local(sleeps).fetch(url + "?token=secret", tmp_path, namer())
    assert host.hits["/r"] == 1 and sleeps == [] and listing(tmp_path) == []


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/a.png", "javascript:alert(1)"])
def test_a_redirect_to_another_scheme_is_refused(
    host: FileHost, tmp_path: Path, sleeps: list[float], location: str
) -> None:
    host.routes["/r"] = redirect(location)
    with pytest.raises(DownloadError, match="only http"):
        local(sleeps).fetch(host.url("/r"), tmp_path, namer())
    assert listing(tmp_path) == []


def test_each_redirect_target_is_checked_for_a_private_host(
    host: FileHost, tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = urlcheck.non_public_address
    monkeypatch.setattr(  # the test host stands in for a public one; everything else is checked for real
        urlcheck, "non_public_address", lambda name, port: None if name == "127.0.0.1" else real(name, port)
    )
    host.routes["/r"] = redirect("http://10.0.0.1/internal.png")
    with pytest.raises(DownloadError, match=r"10\.0\.0\.1 is a non-public address"):
        download.Downloader(sleep=sleeps.append).fetch(host.url("/r"), tmp_path, namer())
    assert host.hits["/r"] == 1 and sleeps == []


# -- 6. private hosts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/a.png",
        "https://192.168.1.20/a.png",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.2:8080/a.png",
        "http://[::1]/a.png",
        "http://[fe80::1]/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://0.0.0.0/a.png",
        "http://224.0.0.1/a.png",
        "http://240.0.0.1/a.png",
        "http://100.64.0.1/a.png",
    ],
)
def test_private_and_special_addresses_are_refused(url: str, tmp_path: Path, sleeps: list[float]) -> None:
    refused = r"^refusing to download .* is a non-public address \(.+\); only public hosts are fetched$"
    with pytest.raises(DownloadError, match=refused):
        download.Downloader(sleep=sleeps.append).fetch(url, tmp_path / "out", namer())
    assert sleeps == [] and not (tmp_path / "out").exists()


def test_the_local_host_itself_is_refused_without_a_connection(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    url = host.serve("/a.png", PNG)
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1 is a non-public address"):
        download.Downloader(sleep=sleeps.append).fetch(url, tmp_path, namer())
    assert host.hits["/a.png"] == 0


@pytest.mark.parametrize(
    ("url", "port"),
    [("https://files.example/a.png", 443), ("http://files.example/a.png", 80), ("https://files.example:8443/a", 8443)],
)
def test_a_name_resolving_to_a_private_address_is_refused(
    tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch, url: str, port: int
) -> None:
    lookups: list[tuple[str, int]] = []

    def lookup(name: str, port: int, *_args: object, **_kwargs: object) -> list[tuple[object, ...]]:
        lookups.append((name, port))
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    expected = (
        f"refusing to download {url}: files.example is a non-public address (192.168.0.7); "
        "only public hosts are fetched"
    )
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        download.Downloader(sleep=sleeps.append).fetch(url, tmp_path, namer())
    assert lookups == [("files.example", port)] and sleeps == []  # the port the connection would use


@pytest.mark.parametrize("url", ["http://files.example:99999/a.png", "https://files.example:https/a.png"])
def test_a_malformed_port_is_refused_without_a_lookup(
    tmp_path: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    lookups: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda name, *_args, **_kwargs: lookups.append(name) or [])
    expected = f"refusing to download {url}: malformed host or port"
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        download.Downloader(sleep=sleeps.append).fetch(url, tmp_path, namer())
    assert lookups == [] and sleeps == []


def test_private_hosts_are_fetched_when_allowed(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    url = host.serve("/a.png", PNG)
    assert local(sleeps).fetch(url, tmp_path, namer()).read_bytes() == PNG


# -- 7. partial files ----------------------------------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(child.stdout)


def test_partials_are_removed_only_for_exactly_that_task_and_dead_or_own_processes(tmp_path: Path) -> None:
    dead, live = dead_pid(), os.getppid()
    files = {
        f".task_1.{dead}.abc_12.part": True,
        f".task_1_2.{dead}.x8y9.part": True,  # result 2 of task_1
        f".task_1.{os.getpid()}.own.part": True,
        f".task_1.{live}.busy.part": False,  # another process is still downloading it
        f".task_10.{dead}.abc.part": False,  # another task
        f".task_1.x.{dead}.abc.part": False,  # task "task_1.x"
        f".task_1_0.{dead}.abc.part": False,  # not a result stem asked for
        "task_1.png": False,
        ".task_1.png.part": False,
    }
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    assert download.remove_partials(tmp_path, ["task_1", "task_1_2"]) == 3
    assert listing(tmp_path) == sorted(name for name, removed in files.items() if not removed)
    assert download.remove_partials(tmp_path, []) == 0


def test_a_partial_is_named_by_the_result_stem_and_this_process(host: FileHost, tmp_path: Path) -> None:
    seen: list[str] = []

    def watched(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(PNG)))
        handler.end_headers()
        handler.wfile.write(PNG[:20])
        handler.wfile.flush()
        seen.extend(wait_for_partial(host, tmp_path))
        handler.wfile.write(PNG[20:])

    host.routes["/a.png"] = watched
    saved = local([]).fetch(host.url("/a.png"), tmp_path, namer(index=1, count=2))
    assert saved.name == "task_1_2.png"
    assert len(seen) == 1 and re.fullmatch(rf"\.task_1_2\.{os.getpid()}\.[0-9a-f]{{8}}\.part", seen[0])
    assert listing(tmp_path) == ["task_1_2.png"]


# -- 8. keep -------------------------------------------------------------------------------------------


def test_keep_returns_an_existing_result_without_a_request(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    url = host.serve("/a.png", PNG)
    (tmp_path / "task_1.webp").write_bytes(WEBP)
    assert local(sleeps).fetch(url, tmp_path, namer(), if_exists="keep") == tmp_path / "task_1.webp"
    assert host.hits["/a.png"] == 0


def test_keep_takes_the_file_another_process_finished_first(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    def raced(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(PNG)))
        handler.end_headers()
        handler.wfile.write(PNG[:20])
        handler.wfile.flush()
        wait_for_partial(host, tmp_path)
        (tmp_path / "task_1.png").write_bytes(b"the other process's copy")  # while this one is mid-file
        handler.wfile.write(PNG[20:])

    host.routes["/a.png"] = raced
    saved = local(sleeps).fetch(host.url("/a.png"), tmp_path, namer(), if_exists="keep")
    assert saved == tmp_path / "task_1.png" and saved.read_bytes() == b"the other process's copy"
    assert listing(tmp_path) == ["task_1.png"]


def test_error_refuses_an_existing_result_before_any_request(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    url = host.serve("/a.png", PNG)
    (tmp_path / "task_1.jpg").write_bytes(JPEG)
    with pytest.raises(DownloadError, match=r"task_1\.jpg already exists; not overwriting it"):
        local(sleeps).fetch(url, tmp_path, namer())
    assert host.hits["/a.png"] == 0 and (tmp_path / "task_1.jpg").read_bytes() == JPEG


def test_overwrite_leaves_one_file_per_result(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    url = host.serve("/a.png", PNG)
    (tmp_path / "task_1.jpg").write_bytes(JPEG)
    assert local(sleeps).fetch(url, tmp_path, namer(), if_exists="overwrite") == tmp_path / "task_1.png"
    assert listing(tmp_path) == ["task_1.png"]


def test_overwrite_keeps_a_result_whose_exact_name_holds_another_type(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    url = host.serve("/a.png", PNG)
    (tmp_path / "fox.jpg").write_bytes(JPEG)
    exact = Naming(file="fox.jpg").for_task(model="m", task_id=TASK, prompt=None, submitted_at=1.0, count=1)
    assert local(sleeps).fetch(url, tmp_path, exact.namer(0), if_exists="overwrite") == tmp_path / "fox.jpg"
    assert listing(tmp_path) == ["fox.jpg"] and (tmp_path / "fox.jpg").read_bytes() == PNG


# -- 9. existing_result --------------------------------------------------------------------------------


def test_existing_result_finds_a_saved_file_under_any_image_extension(tmp_path: Path) -> None:
    two = names(count=2)
    assert two.existing(tmp_path, 1) is None
    (tmp_path / "task_1_2.gif.part").write_bytes(GIF)
    (tmp_path / ".task_1_2.123.abc.part").write_bytes(GIF)
    (tmp_path / "task_1_2.bin").write_bytes(GIF)
    (tmp_path / "task_1_2.png").mkdir()
    assert two.existing(tmp_path, 1) is None
    (tmp_path / "task_1_2.gif").write_bytes(GIF)
    assert two.existing(tmp_path, 1) == tmp_path / "task_1_2.gif"
    assert two.existing(tmp_path, 0) is None
    assert two.existing(tmp_path / "missing", 1) is None


# -- what stays as it was ------------------------------------------------------------------------------


def test_an_expired_link_is_reported_as_such(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    host.routes["/gone.png"] = lambda handler: reply(handler, 410, b"gone", "text/plain")
    with pytest.raises(LinkExpiredError, match="HTTP 410; the link may have expired") as caught:
        local(sleeps).fetch(host.url("/gone.png?signature=secret"), tmp_path, namer())
    assert caught.value.url.endswith("?signature=secret") and "secret" not in str(caught.value)
    assert sleeps == []


def test_the_size_cap_holds_without_and_with_a_length(host: FileHost, tmp_path: Path, sleeps: list[float]) -> None:
    url = host.serve("/big.png", PNG)
    with pytest.raises(DownloadError, match="the limit is 100"):
        local(sleeps, max_bytes=100).fetch(url, tmp_path, namer())
    host.routes["/unannounced.png"] = unannounced(PNG)
    with pytest.raises(DownloadError, match="larger than the limit of 100 bytes"):
        local(sleeps, max_bytes=100).fetch(host.url("/unannounced.png"), tmp_path, namer())
    assert listing(tmp_path) == []


@pytest.mark.parametrize("status", [400, 204, 206])
def test_any_other_status_is_an_error_without_a_retry(
    host: FileHost, tmp_path: Path, sleeps: list[float], status: int
) -> None:
    host.routes["/a.png"] = lambda handler: reply(handler, status, b"" if status == 204 else PNG)
    url = host.url("/a.png")
    with pytest.raises(DownloadError, match=f"^{re.escape(f'could not download {url}: HTTP {status}')}$"):
        local(sleeps).fetch(url + "?signature=secret", tmp_path, namer())
    assert host.hits["/a.png"] == 1 and sleeps == [] and listing(tmp_path) == []


@pytest.mark.parametrize("announced", [True, False], ids=["with-length", "without-length"])
def test_a_file_of_exactly_max_bytes_is_saved(
    host: FileHost, tmp_path: Path, sleeps: list[float], announced: bool
) -> None:
    if announced:
        url = host.serve("/a.png", PNG)
    else:
        host.routes["/a.png"] = unannounced(PNG)
        url = host.url("/a.png")
    assert local(sleeps, max_bytes=len(PNG)).fetch(url, tmp_path, namer()).read_bytes() == PNG


def test_the_size_cap_counts_every_read_of_an_unannounced_file(
    host: FileHost, tmp_path: Path, sleeps: list[float]
) -> None:
    host.routes["/big.png"] = unannounced(PNG + bytes(100 * 1024))  # more than one read, each under the cap
    expected = f"{host.url('/big.png')} is larger than the limit of {70 * 1024} bytes"
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        local(sleeps, max_bytes=70 * 1024).fetch(host.url("/big.png"), tmp_path, namer())
    assert listing(tmp_path) == [] and sleeps == []
