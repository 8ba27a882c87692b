"""Fetch result files: no credentials, http(s) only, a size cap, streamed to a temporary file and moved
into place, never over an existing file unless asked. File names come from the task id, never the server."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError

from kiecore.errors import DownloadError, LinkExpiredError
from kiecore.retry import RETRYABLE_STATUSES, RetryPolicy

DEFAULT_MAX_BYTES = 100 * 1024 * 1024

IfExists = Literal["error", "overwrite", "keep"]

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/webp": "webp", "image/gif": "gif"}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(task_id: str, index: int, count: int, extension: str) -> str:
    """``<task id>.<ext>`` for a single result, ``<task id>_<n>.<ext>`` (1-based) for several."""
    stem = _SAFE.sub("_", task_id).strip("._") or "task"
    return f"{stem}.{extension}" if count == 1 else f"{stem}_{index + 1}.{extension}"


def extension_for(content_type: str, url: str) -> str:
    """The file extension for a reply's content type, else the URL's own, else ``bin``."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in _EXTENSIONS:
        return _EXTENSIONS[kind]
    suffix = Path(urlsplit(url).path).suffix.lower().lstrip(".")
    return suffix if suffix.isalnum() and len(suffix) <= 5 else "bin"


def remove_partials(directory: Path, task_id: str) -> int:
    """Delete temporary files a killed download of ``task_id`` left in ``directory``; returns how many."""
    stem = file_name(task_id, 0, 1, "x").removesuffix(".x")
    removed = 0
    for partial in directory.glob(f".{stem}*.part"):
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
            removed += 1
    return removed


class Downloader:
    """Downloads result URLs. Its pool never carries the API key (results live on other hosts)."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_bytes = max_bytes
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._pool = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=10.0, read=timeout))

    def close(self) -> None:
        self._pool.clear()

    def fetch(self, url: str, directory: Path, name: Callable[[str], str], *, if_exists: IfExists = "error") -> Path:
        """Save ``url`` in ``directory`` as ``name(extension)``; returns the path.

        ``if_exists`` says what to do when that file is already there: ``"error"`` (the default),
        ``"overwrite"``, or ``"keep"`` (it is taken as complete: files only ever appear by an atomic rename).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DownloadError(f"refusing to download {url!r}: only http(s) URLs are fetched")
        directory.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._fetch_once(url, directory, name, if_exists)
            except _Retryable as failure:
                if attempt >= self.retry.attempts:
                    raise DownloadError(f"could not download {_short(url)}: {failure}") from None
                self._sleep(self.retry.delay(attempt))

    def _fetch_once(self, url: str, directory: Path, name: Callable[[str], str], if_exists: IfExists) -> Path:
        try:
            response = self._pool.request("GET", url, preload_content=False, redirect=True)
        except (HTTPError, OSError) as error:
            raise _Retryable(str(error).splitlines()[0][:200]) from None
        try:
            if response.status in RETRYABLE_STATUSES:
                raise _Retryable(f"HTTP {response.status}")
            if response.status in (403, 404, 410):
                raise LinkExpiredError(
                    f"could not download {_short(url)}: HTTP {response.status}; the link may have expired", url=url
                )
            if response.status != 200:
                raise DownloadError(f"could not download {_short(url)}: HTTP {response.status}")
            content_type = response.headers.get("Content-Type", "")
            if content_type and not content_type.lower().startswith(("image/", "application/octet-stream")):
                raise DownloadError(f"{_short(url)} is not an image (Content-Type {content_type})")
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                raise DownloadError(f"{_short(url)} is {int(length)} bytes; the limit is {self.max_bytes}")
            target = directory / name(extension_for(content_type, url))
            if target.exists() and if_exists == "keep":
                return target
            if target.exists() and if_exists == "error":
                raise DownloadError(f"{target} already exists; not overwriting it")
            return self._stream(response, target, if_exists == "overwrite", url)
        finally:
            response.release_conn()

    def _stream(self, response: urllib3.BaseHTTPResponse, target: Path, overwrite: bool, url: str) -> Path:
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        temp = Path(temp_name)
        try:
            size = 0
            with os.fdopen(handle, "wb") as out:
                try:
                    for chunk in response.stream(64 * 1024):
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise DownloadError(f"{_short(url)} is larger than the limit of {self.max_bytes} bytes")
                        out.write(chunk)
                except (HTTPError, OSError) as error:
                    raise _Retryable(f"connection lost mid-file: {str(error).splitlines()[0][:200]}") from None
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise _Retryable("empty reply")
            if overwrite:
                os.replace(temp, target)
            else:
                try:
                    os.link(temp, target)  # atomic "create only if absent"
                except FileExistsError:
                    raise DownloadError(f"{target} already exists; not overwriting it") from None
                except OSError:  # a file system without hard links
                    if target.exists():
                        raise DownloadError(f"{target} already exists; not overwriting it") from None
                    os.replace(temp, target)
            return target
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


class _Retryable(Exception):
    """A download failure worth another try."""


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
