"""Fetch result files: no credentials, http(s) only, public hosts only unless allowed, at most 3 redirects (each
hop checked again), a size cap and a time budget. A file streams to a temporary file in the target folder, is
named by its own first bytes (PNG, JPEG, WebP or GIF, nothing else) and is linked into place, never over an
existing file unless asked. File names come from the caller (:mod:`kiecore.naming`), never the server.

Failures of the local disk (:class:`LocalWriteError`) are never retried; network failures are, at most
``retry.attempts`` times in all and never past the budget."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError

from kiecore import urlcheck
from kiecore.errors import DownloadError, LinkExpiredError, LocalWriteError
from kiecore.events import RetryCause, RetryEvent, report
from kiecore.imagetypes import EXTENSIONS, SNIFF_BYTES, sniff
from kiecore.journal import process_alive
from kiecore.retry import RETRYABLE_STATUSES, RetryPolicy
from kiecore.timed_reads import POOLS_BY_SCHEME, limit_next_read

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
#: The longest one file may take, retries included, whatever the overall deadline.
DEFAULT_MAX_SECONDS = 300.0
#: Redirects followed per try; one more is an error.
MAX_REDIRECTS = 3

IfExists = Literal["error", "overwrite", "keep"]

_CHUNK = 64 * 1024
_CONNECT_TIMEOUT = 10.0
_SLACK = 0.05  # seconds: a wait cut short by the budget may wake this much before its end
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_EXPIRED = frozenset({403, 404, 410})
_BINARY_TYPES = ("application/octet-stream", "binary/octet-stream")
#: What follows a result stem in a temporary file's name: ``.<pid>.<random>.part``.
_PARTIAL_TAIL = r"\.(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.part"


def remove_partials(directory: Path, stems: Iterable[str]) -> int:
    """Delete the temporary files that killed writes of exactly these result ``stems`` (:func:`result_stem`) left
    in ``directory``; returns how many. Files of a live process other than this one are left alone (that
    download is still running). Best effort: a file that cannot be listed or deleted is skipped."""
    names = sorted({re.escape(f".{stem}") for stem in stems})
    if not names:
        return 0
    pattern = re.compile(f"(?:{'|'.join(names)})" + _PARTIAL_TAIL)
    removed = 0
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match is not None and _abandoned(int(match["pid"])):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def result_stem(name: Callable[[str], str]) -> str:
    """What ``name`` gives before the extension: a temporary file's prefix, known before the image's type is."""
    probe = name("png")
    return probe.removesuffix(".png")


def write_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all (a temporary file beside it, flushed, then renamed over it),
    with the mode of any file the user makes (0666 less the umask), as results are saved. Raises
    :class:`LocalWriteError`."""
    _make_directory(path.parent)
    handle, temp = _create_partial(path.parent, path.name)
    try:
        try:
            _write(handle, data, temp)
            _sync(handle, temp)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(handle)
            raise
        _close(handle, temp)
        _replace(temp, path)
        return path
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


class Downloader:
    """Downloads result URLs. Its pool never carries the API key (results live on other hosts).

    ``max_seconds`` bounds one file (all its tries); ``timeout`` bounds each socket read. Hosts on loopback,
    private and other non-public addresses are refused unless ``allow_private_hosts`` (for an API that itself
    runs on such an address, like the emulator).
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        allow_private_hosts: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.allow_private_hosts = allow_private_hosts
        self._sleep = sleep
        self._clock = clock
        self._pool = urllib3.PoolManager(maxsize=16, retries=False)
        self._pool.pool_classes_by_scheme = POOLS_BY_SCHEME  # so each read can be timed, even of a closing reply

    def close(self) -> None:
        self._pool.clear()

    def fetch(
        self,
        url: str,
        directory: Path,
        name: Callable[[str], str],
        *,
        if_exists: IfExists = "error",
        deadline: float | None = None,
    ) -> Path:
        """Save ``url`` in ``directory`` as ``name(extension)``, the extension sniffed from the file's first
        bytes; returns the path. Raises :class:`DownloadError` (never a bare :class:`OSError`).

        ``if_exists`` says what to do when the result is already there under any of the four extensions:
        ``"error"`` (the default, before any request), ``"overwrite"``, or ``"keep"`` (it is returned without a
        request; files only ever appear whole, by an atomic link). ``deadline`` (a :func:`time.monotonic`
        value) and ``max_seconds`` bound the whole fetch, retries included: past either, the partial file is
        deleted and :class:`DownloadError` raised.
        """
        _check_scheme(url)
        start = self._clock()
        end = start + self.max_seconds if deadline is None else min(deadline, start + self.max_seconds)
        budget = _Budget(start, end, self._clock)
        existing = _existing(directory, name)
        if existing is not None and if_exists == "keep":
            return existing
        if existing is not None and if_exists == "error":
            raise DownloadError(f"{existing} already exists; not overwriting it")
        return self._fetch_with_retries(url, directory, name, if_exists, budget)

    def _fetch_with_retries(
        self, url: str, directory: Path, name: Callable[[str], str], if_exists: IfExists, budget: _Budget
    ) -> Path:
        attempt = 0
        while True:
            attempt += 1
            if budget.remaining() <= 0:
                raise budget.exceeded(url)
            try:
                return self._fetch_once(url, directory, name, if_exists, budget)
            except _Retryable as failure:
                if budget.spent():
                    raise budget.exceeded(url) from None
                if attempt >= self.retry.attempts:
                    raise DownloadError(f"could not download {_short(url)}: {failure}") from None
                delay = self.retry.delay(attempt)
                if delay >= budget.remaining():
                    raise DownloadError(
                        f"could not download {_short(url)}: {failure}; no time left to retry within "
                        f"the {budget.seconds:.1f}s budget"
                    ) from None
                report(_retry_event(url, failure, attempt=attempt + 1, delay=delay))
                self._sleep(delay)

    def _fetch_once(
        self, url: str, directory: Path, name: Callable[[str], str], if_exists: IfExists, budget: _Budget
    ) -> Path:
        response = self._open(url, budget)
        try:
            _check_reply(response, url, self.max_bytes)
            return self._save(response, url, directory, name, if_exists, budget)
        finally:
            _discard(response)

    def _open(self, url: str, budget: _Budget) -> urllib3.BaseHTTPResponse:
        """The first reply that is not a redirect, following at most :data:`MAX_REDIRECTS` by hand so that
        every hop is checked like the first."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self._check_host(current)
            response = self._request(current, budget)
            if response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            _discard(response)
            if not location:
                raise DownloadError(f"could not download {_short(url)}: HTTP {response.status} without a Location")
            current = urljoin(current, location)
            _check_scheme(current)
        raise DownloadError(f"could not download {_short(url)}: more than {MAX_REDIRECTS} redirects")

    def _check_host(self, url: str) -> None:
        """Refuse a host on a non-public address unless allowed; a name that does not resolve is retryable."""
        if self.allow_private_hosts:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = urlcheck.non_public_address(host, port)
        except (ValueError, UnicodeError):  # a bad port or a host name that cannot be encoded
            raise DownloadError(f"refusing to download {_short(url)}: malformed host or port") from None
        except OSError as error:
            raise _Retryable(f"cannot resolve {host}: {_first_line(error)}") from None
        if address is not None:
            raise DownloadError(
                f"refusing to download {_short(url)}: {host} is a non-public address ({address}); "
                "only public hosts are fetched"
            )

    def _request(self, url: str, budget: _Budget) -> urllib3.BaseHTTPResponse:
        remaining = budget.remaining()
        if remaining <= 0:
            raise budget.exceeded(url)
        timeout = urllib3.Timeout(connect=min(_CONNECT_TIMEOUT, remaining), read=min(self.timeout, remaining))
        try:
            return self._pool.request("GET", url, preload_content=False, redirect=False, timeout=timeout)
        except (HTTPError, OSError) as error:
            if budget.spent():
                raise budget.exceeded(url) from None
            raise _Retryable(_first_line(error)) from None

    def _save(
        self,
        response: urllib3.BaseHTTPResponse,
        url: str,
        directory: Path,
        name: Callable[[str], str],
        if_exists: IfExists,
        budget: _Budget,
    ) -> Path:
        """Stream the body to a temporary file, sniff its type, then link it into place as ``name(type)``."""
        _make_directory(directory)
        handle, temp = _create_partial(directory, result_stem(name))
        try:
            try:
                extension = self._receive(response, handle, temp, url, budget)
                _sync(handle, temp)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(handle)
                raise
            _close(handle, temp)  # some file systems (NFS) report a full disk only here
            return _place(temp, directory, name, extension, if_exists)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()

    def _receive(self, response: urllib3.BaseHTTPResponse, handle: int, temp: Path, url: str, budget: _Budget) -> str:
        """Write the body to ``handle``; returns the image's extension. Refuses anything but the four formats
        as soon as its first bytes are in."""
        head = b""
        extension: str | None = None
        size = 0
        while chunk := self._read(response, url, budget):
            size += len(chunk)
            if size > self.max_bytes:
                raise DownloadError(f"{_short(url)} is larger than the limit of {self.max_bytes} bytes")
            if extension is None and len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    extension = _image_type(head, url)
            _write(handle, chunk, temp)
        if size == 0:
            raise _Retryable("empty reply")
        return extension or _image_type(head, url)

    def _read(self, response: urllib3.BaseHTTPResponse, url: str, budget: _Budget) -> bytes:
        """The next bytes of the body (``b""`` at its end), within the budget: each socket read may wait only
        as long as the budget has left, so a host dripping bytes cannot keep the download alive."""
        remaining = budget.remaining()
        if remaining <= 0:
            raise budget.exceeded(url)
        limit_next_read(response, min(self.timeout, remaining))
        try:
            return response.read1(_CHUNK)
        except (HTTPError, OSError) as error:
            if budget.spent():
                raise budget.exceeded(url) from None
            raise _Retryable(f"connection lost mid-file: {_first_line(error)}") from None


class _Budget:
    """The time one file may take: from ``start`` until ``end`` (both :func:`time.monotonic` values)."""

    def __init__(self, start: float, end: float, clock: Callable[[], float]) -> None:
        self.seconds = max(0.0, end - start)
        self.end = end
        self._clock = clock

    def remaining(self) -> float:
        return self.end - self._clock()

    def spent(self) -> bool:
        """Whether (nearly) nothing is left."""
        return self.remaining() < _SLACK

    def exceeded(self, url: str) -> DownloadError:
        host = urlsplit(url).hostname or url
        return DownloadError(f"gave up downloading from {host}: it took longer than the {self.seconds:.1f}s budget")


class _Retryable(Exception):
    """A download failure worth another try."""


def _retry_event(url: str, failure: _Retryable, *, attempt: int, delay: float) -> RetryEvent:
    """The retry of a download, for the caller's ``on_retry`` (:mod:`kiecore.events`): a file host's 5xx is a
    server error, anything else a host that gave no answer."""
    message = str(failure)
    code = int(message[5:]) if message.startswith("HTTP ") and message[5:].isdigit() else None
    return RetryEvent(
        what="download",
        host=urlsplit(url).hostname or "",
        cause=RetryCause.SERVER if code is not None else RetryCause.UNREACHABLE,
        attempt=attempt,
        delay=delay,
        error=message,
        code=code,
    )


def _existing(directory: Path, name: Callable[[str], str]) -> Path | None:
    for extension in EXTENSIONS:
        candidate = directory / name(extension)
        if os.path.isfile(candidate):
            return candidate
    return None


def _abandoned(pid: int) -> bool:
    """Whether a partial file of process ``pid`` may go: ours, or of a process known to be dead."""
    return pid == os.getpid() or process_alive(pid) is False


def _check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"refusing to download {url!r}: only http(s) URLs are fetched")


def _check_reply(response: urllib3.BaseHTTPResponse, url: str, max_bytes: int) -> None:
    """Raise unless ``response`` is a 200 that may be an image of at most ``max_bytes``."""
    status = response.status
    if status in RETRYABLE_STATUSES:
        raise _Retryable(f"HTTP {status}")
    if status in _EXPIRED:
        raise LinkExpiredError(f"could not download {_short(url)}: HTTP {status}; the link may have expired", url=url)
    if status != 200:
        raise DownloadError(f"could not download {_short(url)}: HTTP {status}")
    content_type = response.headers.get("Content-Type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind and not kind.startswith("image/") and kind not in _BINARY_TYPES:
        raise DownloadError(f"{_short(url)} is not an image (Content-Type {content_type})")
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise DownloadError(f"{_short(url)} is {int(length)} bytes; the limit is {max_bytes}")


def _image_type(head: bytes, url: str) -> str:
    extension = sniff(head)
    if extension is None:
        raise DownloadError(f"{_short(url)} is not a PNG, JPEG, WebP or GIF image")
    return extension


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LocalWriteError(directory, error) from None


def _create_partial(directory: Path, stem: str) -> tuple[int, Path]:
    """A new ``.<stem>.<pid>.<random>.part`` in ``directory``: the stem and pid tell whose it is. Its mode is
    0666 less the umask, like any file the user makes, so the result it becomes is as readable as theirs
    (``tempfile.mkstemp`` would make it 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = directory / f".{stem}.{os.getpid()}.{secrets.token_hex(4)}.part"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
        except OSError as error:
            raise LocalWriteError(directory, error) from None
    raise LocalWriteError(directory, FileExistsError(f"no free name for a partial file of {stem}"))


def _write(handle: int, data: bytes, path: Path) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(handle, view) :]
    except OSError as error:
        raise LocalWriteError(path, error) from None


def _sync(handle: int, path: Path) -> None:
    try:
        os.fsync(handle)
    except OSError as error:
        raise LocalWriteError(path, error) from None


def _close(handle: int, path: Path) -> None:
    try:
        os.close(handle)
    except OSError as error:
        raise LocalWriteError(path, error) from None


def _place(temp: Path, directory: Path, name: Callable[[str], str], extension: str, if_exists: IfExists) -> Path:
    """Move the complete ``temp`` to ``name(extension)``; returns the result's path.

    Without ``"overwrite"`` an existing file wins: ``"keep"`` returns it (another process finished first) and
    ``"error"`` raises. With it, copies of the result under the other extensions are removed.
    """
    target = directory / name(extension)
    if if_exists == "overwrite":
        _replace(temp, target)
        _remove_other_types(directory, name, extension)
        return target
    try:
        os.link(temp, target)  # atomic "create only if absent"
    except FileExistsError:
        return _already_there(target, if_exists)
    except OSError:  # perhaps a file system without hard links: check, then rename
        if os.path.lexists(target):
            return _already_there(target, if_exists)
        _replace(temp, target)
    return target


def _already_there(target: Path, if_exists: IfExists) -> Path:
    if if_exists == "keep":
        return target
    raise DownloadError(f"{target} already exists; not overwriting it")


def _replace(temp: Path, target: Path) -> None:
    try:
        os.replace(temp, target)
    except OSError as error:
        raise LocalWriteError(target, error) from None


def _remove_other_types(directory: Path, name: Callable[[str], str], extension: str) -> None:
    for other in EXTENSIONS:
        if other != extension and name(other) != name(extension):  # an exact name is the same for every type
            path = directory / name(other)
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                raise LocalWriteError(path, error) from None


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close a reply and give its slot back; a connection with unread bytes is never reused."""
    response.close()
    response.release_conn()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


def _short(url: str) -> str:
    """``url`` without credentials, query or fragment (signed links carry secrets there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
