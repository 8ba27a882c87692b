"""The downloader's pure helpers and file moves: defaults, messages, retry events, placing a finished file."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from kiecore import download
from kiecore.errors import DownloadError, LocalWriteError
from kiecore.events import RetryCause, RetryEvent
from kiecore.imagetypes import EXTENSIONS
from kiecore.retry import RetryPolicy


def result(extension: str) -> str:
    """A template namer: the result's name under each type."""
    return f"task_1.{extension}"


def strict(name: Callable[[str], str]) -> Callable[[str], str]:
    """``name``, refusing anything but the four image extensions it may be asked for."""

    def checked(extension: str) -> str:
        if extension not in EXTENSIONS:
            raise AssertionError(f"asked for a name with extension {extension!r}")
        return name(extension)

    return checked


def partial(directory: Path, data: bytes = b"new") -> Path:
    """A finished temporary file in ``directory``, as :meth:`Downloader._save` leaves it before placing it."""
    temp = directory / f".task_1.{os.getpid()}.0000abcd.part"
    temp.write_bytes(data)
    return temp


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_the_default_limits() -> None:
    downloader = download.Downloader()
    limits = (downloader.max_bytes, downloader.timeout, downloader.max_seconds, downloader.allow_private_hosts)
    assert limits == (100 * 1024 * 1024, 60.0, 300.0, False) and downloader.retry == RetryPolicy()


# -- messages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError("first line\nsecond line"), "first line"),
        (OSError("  padded  \n"), "padded"),
        (OSError("x" * 300), "x" * 200),
        (OSError(), "OSError"),
        (TimeoutError(" \n "), "TimeoutError"),
    ],
    ids=["first-line", "stripped", "at-most-200", "empty", "blank"],
)
def test_an_error_is_told_by_its_first_line_or_its_type(error: BaseException, expected: str) -> None:
    assert download._first_line(error) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pa@ss@files.example:8443/a/b.png?sig=1#frag", "https://files.example:8443/a/b.png"),
        ("http://files.example/a.png", "http://files.example/a.png"),
    ],
)
def test_a_url_is_shown_without_credentials_query_or_fragment(url: str, expected: str) -> None:
    assert download._short(url) == expected


@pytest.mark.parametrize(
    ("url", "reason", "host", "cause", "code"),
    [
        ("https://files.example/a.png", "HTTP 502", "files.example", RetryCause.SERVER, 502),
        ("https://files.example/a.png", "empty reply", "files.example", RetryCause.UNREACHABLE, None),
        ("https://files.example/a.png", "code=503", "files.example", RetryCause.UNREACHABLE, None),
        ("https://files.example/a.png", "HTTP x7", "files.example", RetryCause.UNREACHABLE, None),
        ("https://files.example/a.png", "HTTPConnection(host='a'): 5", "files.example", RetryCause.UNREACHABLE, None),
        ("https:///a.png", "HTTP 500", "", RetryCause.SERVER, 500),
    ],
    ids=["status", "no-status", "digits-without-http", "http-without-digits", "http-prefix", "no-host"],
)
def test_a_retry_event_takes_a_code_only_from_an_http_status(
    url: str, reason: str, host: str, cause: RetryCause, code: int | None
) -> None:
    event = download._retry_event(url, download._Retryable(reason), attempt=3, delay=1.5)
    expected = RetryEvent(what="download", host=host, cause=cause, attempt=3, delay=1.5, error=reason, code=code)
    assert event == expected


# -- partial files -------------------------------------------------------------------------------------


def test_no_partials_are_removed_from_a_missing_directory(tmp_path: Path) -> None:
    assert download.remove_partials(tmp_path / "missing", ["task_1"]) == 0


def test_a_partial_that_cannot_be_deleted_is_skipped(tmp_path: Path) -> None:
    stuck = tmp_path / f".task_1.{os.getpid()}.0000aaaa.part"
    stuck.mkdir()  # unlink() fails on a directory
    gone = partial(tmp_path)
    assert download.remove_partials(tmp_path, ["task_1"]) == 1
    assert listing(tmp_path) == [stuck.name] and not gone.exists()


# -- placing a finished file ---------------------------------------------------------------------------


def without_hard_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system on which ``os.link`` fails (FAT, some network shares)."""

    def unsupported(*_args: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", unsupported)


def test_without_hard_links_a_result_is_renamed_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_hard_links(monkeypatch)
    temp = partial(tmp_path)
    assert download._place(temp, tmp_path, strict(result), "png", "error") == tmp_path / "task_1.png"
    assert listing(tmp_path) == ["task_1.png"] and (tmp_path / "task_1.png").read_bytes() == b"new"


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_a_result_that_appeared_meanwhile_is_kept_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    if not links:
        without_hard_links(monkeypatch)
    (tmp_path / "task_1.png").write_bytes(b"theirs")
    temp = partial(tmp_path)
    assert download._place(temp, tmp_path, strict(result), "png", "keep") == tmp_path / "task_1.png"
    expected = f"{tmp_path / 'task_1.png'} already exists; not overwriting it"
    with pytest.raises(DownloadError, match=f"^{re.escape(expected)}$"):
        download._place(temp, tmp_path, strict(result), "png", "error")
    assert (tmp_path / "task_1.png").read_bytes() == b"theirs" and temp.exists()


def test_overwrite_asks_for_names_of_the_four_types_only(tmp_path: Path) -> None:
    for extension in ("jpg", "gif"):
        (tmp_path / result(extension)).write_bytes(b"old")
    temp = partial(tmp_path)
    assert download._place(temp, tmp_path, strict(result), "webp", "overwrite") == tmp_path / "task_1.webp"
    assert listing(tmp_path) == ["task_1.webp"]


def test_a_copy_under_another_type_that_cannot_be_removed_is_a_local_error(tmp_path: Path) -> None:
    (tmp_path / "task_1.gif").mkdir()
    temp = partial(tmp_path)
    with pytest.raises(LocalWriteError) as caught:
        download._place(temp, tmp_path, strict(result), "png", "overwrite")
    assert str(caught.value) == f"cannot write {tmp_path / 'task_1.gif'}: Is a directory"
    assert caught.value.errno == errno.EISDIR and caught.value.path == tmp_path / "task_1.gif"
