"""The journal's last resort: a plain append-only file for tasks whose facts the journal could not take.

When a journal write fails after Kie answered a create (the disk is full, the database is locked or damaged),
the task id must not be lost. The client appends the task's facts here as one JSON line, beside the journal;
the next process that opens the journal merges them back in (:meth:`kiecore.journal.Journal.merge_fallback`),
and ``kie tasks`` / ``kie resume`` read them even while the journal cannot be opened. A line is a whole
snapshot of one task; a later line about the same task replaces an earlier one. Nothing secret is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from kiecore.model import GenerationRequest, Profile, TaskHandle
from kiecore.naming import Naming
from kiecore.serialization import from_json, to_json


@attrs.frozen(kw_only=True)
class FallbackRecord:
    """What the client knew about one task when the journal would not take it. ``state`` is a journal state
    name (``submitted``, ``succeeded``, ``failed`` or ``downloaded``)."""

    base_url: str
    task_id: str
    model: str
    profile: Profile
    submitted_at: float
    state: str
    request: GenerationRequest = attrs.field(factory=GenerationRequest)
    output_dir: str | None = None
    entry_id: int | None = None
    urls: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    fail_code: str | None = None
    fail_message: str | None = None
    key_fingerprint: str | None = None
    item_key: str | None = None
    naming: Naming = attrs.field(factory=Naming)

    @property
    def handle(self) -> TaskHandle:
        return TaskHandle(model=self.model, task_id=self.task_id, profile=self.profile, submitted_at=self.submitted_at)


class FallbackLog:
    """The fallback file at ``path``: JSON Lines, private (0600), appended with one ``write`` per record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def beside(cls, journal_path: Path) -> FallbackLog:
        """The fallback log of the journal at ``journal_path``: ``<journal>.fallback.jsonl`` next to it."""
        return cls(journal_path.with_name(journal_path.name + ".fallback.jsonl"))

    def append(self, record: FallbackRecord) -> None:
        """Add ``record``; raises ``OSError`` if even this file cannot be written."""
        line = (json.dumps(to_json(record), ensure_ascii=True) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _lock_file(fd)
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> list[FallbackRecord]:
        """The latest record of each task, oldest first; unreadable lines are skipped."""
        try:
            text = self.path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        except OSError:
            return []
        return _latest(text)

    @contextlib.contextmanager
    def locked(self) -> Iterator[HeldLog]:
        """The log, locked against appends and other merges until the block ends."""
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDWR)
            except OSError:  # no log (the usual case), or one this process cannot touch
                yield HeldLog(-1, [])
                return
            try:
                _lock_file(fd)
                chunks = []
                while chunk := os.read(fd, 1 << 16):
                    chunks.append(chunk)
                yield HeldLog(fd, _latest(b"".join(chunks).decode("utf-8", "replace")))
            finally:
                os.close(fd)


@attrs.frozen
class HeldLog:
    """The records of a locked log, and the way to empty it once they are safely elsewhere."""

    fd: int
    records: list[FallbackRecord]

    def clear(self) -> None:
        if self.fd >= 0:
            os.ftruncate(self.fd, 0)
            os.fsync(self.fd)


def _lock_file(fd: int) -> None:
    """On POSIX, an advisory lock keeps a merge and an append from interleaving across processes."""
    if os.name == "posix":
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


def _latest(text: str) -> list[FallbackRecord]:
    latest: dict[tuple[str, str], FallbackRecord] = {}
    for line in text.splitlines():
        record = _parse(line)
        if record is not None:
            key = (record.base_url, record.task_id)
            latest.pop(key, None)
            latest[key] = record
    return list(latest.values())


def _parse(line: str) -> FallbackRecord | None:
    try:
        value: Any = json.loads(line)
        return from_json(FallbackRecord, value)
    except Exception:  # a torn or foreign line must not hide the others
        return None
