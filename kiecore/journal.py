"""A durable record of every task, so that a crash never loses a paid task and nothing is ever submitted twice.

Every create request gets an entry, written *before* the request is sent; each later fact about it is committed
(WAL) before the method returns, so it survives kill -9. The entry and its task id are also flushed to disk
(``synchronous=FULL``), so they survive a power cut; later facts (states, files, run times), which a resume
finds again by asking Kie and looking on disk, are flushed with the next such commit. One entry's life::

    begin_submit ─► submitting ─┬─► submitted ─┬─► succeeded ─► downloaded
                                │       ▲      └─► failed
                                ├─► uncertain ─┘   (only once someone finds the task id)
                                └─► refused
    abandon(): submitting | uncertain | submitted | succeeded ─► abandoned

Repeating a call with the same facts is a no-op; any other move raises ``ValueError``. ``abandoned`` is sticky:
later ``submitted``/``observed`` calls (a process racing the user's abandon) record their facts but keep it
abandoned, and ``downloaded`` still records the files. Unknown entry ids raise ``KeyError``; a journal that
cannot be opened or written raises :class:`JournalError` (``transient`` when only a lock was in the way). The
journal never sees the API key or any header: entries carry only a fingerprint of the key that created them.

The journal also keeps the run times the service reported per (base URL, model) (:meth:`Journal.record_runtime`,
:meth:`Journal.runtimes`), so the engine's poll schedule learns across runs, and the URLs local images were
uploaded to, by the SHA-256 of their bytes, upload host and key fingerprint (:meth:`Journal.record_upload`,
:meth:`Journal.cached_upload`), so a file is uploaded once however many generations use it.

When a write fails after a create was answered, the client appends the task's facts to a plain
:class:`~kiecore.journal_fallback.FallbackLog` beside the journal; opening the journal merges them back in.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from kiecore.errors import KieError
from kiecore.journal_fallback import FallbackLog, FallbackRecord
from kiecore.model import GenerationRequest, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.naming import Naming
from kiecore.serialization import from_json, to_json

SCHEMA_VERSION = 6
#: A ``submitting`` row older than this (seconds) is reported as uncertain even if its process still lives.
STALE_SUBMIT_SECONDS = 600.0
BUSY_TIMEOUT_SECONDS = 10.0
#: A journal on a file system with less free space than this refuses new submits (:meth:`Journal.check`).
MIN_FREE_BYTES = 1024 * 1024
#: The longest server text (failure message, error) stored, in characters.
MAX_TEXT = 2000
#: How many run-time samples the journal keeps per (base URL, model): the newest.
MAX_RUNTIMES = 200
#: Kie deletes uploaded files after this many seconds (3 days); older upload records are dropped.
UPLOAD_RETENTION_SECONDS = 3 * 24 * 3600.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tasks (
        id INTEGER PRIMARY KEY, model TEXT NOT NULL, profile TEXT NOT NULL, base_url TEXT NOT NULL,
        request TEXT NOT NULL, output_dir TEXT, task_id TEXT, state TEXT NOT NULL,
        urls TEXT NOT NULL DEFAULT '[]', files TEXT NOT NULL DEFAULT '[]', fail_code TEXT, fail_message TEXT,
        error TEXT, submitted_at REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL, pid INTEGER)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS tasks_task_id ON tasks (base_url, task_id) WHERE task_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state)",
)
#: From schema version 1: entries remember which key created them (a fingerprint, never the key). From 2: the
#: run times the service reported, per (base URL, model), which the engine learns its poll schedule from. From 3:
#: entries may carry an item key naming the batch item they are (:meth:`Journal.find_item`). From 4: the URLs
#: local images were uploaded to (:meth:`Journal.cached_upload`). From 5: how an entry's results are named
#: (a :class:`~kiecore.naming.Naming` as JSON; ``NULL``: the default), so a resume finds them.
_MIGRATIONS = {
    1: ("ALTER TABLE tasks ADD COLUMN key_fingerprint TEXT",),
    2: (
        "CREATE TABLE IF NOT EXISTS runtimes (base_url TEXT NOT NULL, model TEXT NOT NULL, seconds REAL NOT NULL,"
        " observed_at REAL NOT NULL)",
        "CREATE INDEX IF NOT EXISTS runtimes_key ON runtimes (base_url, model, observed_at)",
    ),
    3: (
        "ALTER TABLE tasks ADD COLUMN item_key TEXT",
        "CREATE INDEX IF NOT EXISTS tasks_item_key ON tasks (item_key) WHERE item_key IS NOT NULL",
    ),
    4: (
        "CREATE TABLE IF NOT EXISTS uploads (sha256 TEXT NOT NULL, upload_url TEXT NOT NULL,"
        " key_fingerprint TEXT NOT NULL, download_url TEXT NOT NULL, uploaded_at REAL NOT NULL,"
        " PRIMARY KEY (sha256, upload_url, key_fingerprint))",
    ),
    5: ("ALTER TABLE tasks ADD COLUMN naming TEXT",),
}


class JournalError(KieError):
    """The journal could not be opened, read or written (permissions, a locked or corrupt file, a newer schema).

    ``transient`` is true when only another process's lock was in the way: the same write may succeed later.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class JournalState(enum.StrEnum):
    """Where an entry stands; see the module docstring for the moves between states."""

    SUBMITTING = "submitting"  # written before the create request is sent
    UNCERTAIN = "uncertain"  # the create was sent, its answer lost: the task may exist; never resubmitted
    REFUSED = "refused"  # the service refused the create: nothing was created
    SUBMITTED = "submitted"  # task id known, not finished
    SUCCEEDED = "succeeded"  # result URLs known, not all downloaded
    FAILED = "failed"  # the task failed at Kie
    DOWNLOADED = "downloaded"  # done
    ABANDONED = "abandoned"  # the user gave up on it explicitly


_S = JournalState


@attrs.frozen(kw_only=True)
class JournalEntry:
    """One journal row. ``pid`` is the process that last wrote it (for ``submitting`` rows: the submitter);
    ``item_key`` names the batch item the task is (``None`` outside a batch); ``naming`` says how its results
    are named in ``output_dir``."""

    id: int
    model: str
    profile: Profile
    base_url: str
    request: GenerationRequest
    output_dir: str | None
    task_id: str | None
    state: JournalState
    urls: tuple[str, ...]
    files: tuple[str, ...]
    fail_code: str | None
    fail_message: str | None
    error: str | None
    submitted_at: float | None
    created_at: float
    updated_at: float
    pid: int | None = None
    key_fingerprint: str | None = None
    item_key: str | None = None
    naming: Naming = attrs.field(factory=Naming)

    @property
    def handle(self) -> TaskHandle | None:
        """The task's handle for ``Client.status``/``wait``/``download``; ``None`` until the task id is known."""
        if self.task_id is None:
            return None
        submitted_at = self.submitted_at if self.submitted_at is not None else self.created_at
        return TaskHandle(model=self.model, task_id=self.task_id, profile=self.profile, submitted_at=submitted_at)


def default_path() -> Path:
    """``$KIECORE_JOURNAL``, else ``kiecore/journal.sqlite3`` in the user data directory of this platform."""
    configured = os.environ.get("KIECORE_JOURNAL")
    if configured:
        return Path(configured).expanduser()
    platform = str(sys.platform)
    if platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "kiecore" / "journal.sqlite3"


def process_alive(pid: int) -> bool | None:
    """Whether process ``pid`` runs: ``os.kill(pid, 0)`` on POSIX (refused: another user's, so alive; any other
    error: dead); ``None`` if unknowable."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if os.name != "posix":
        return None  # os.kill would terminate the process on Windows
    try:
        os.kill(pid, 0)  # pragma: no mutate (a mutated signal would hit a real process)
    except PermissionError:
        return True  # it exists; it is only not ours to signal
    except OSError:
        return False
    return True


def _create_file(path: Path) -> None:
    missing = [parent for parent in path.parents if not parent.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


def clean_text(text: str | None) -> str | None:
    """Server text as stored: first line only, at most :data:`MAX_TEXT` characters, and anything UTF-8 cannot
    encode (a lone surrogate) replaced, so one odd message never makes an entry unwritable or unreadable."""
    if text is None:
        return None
    lines = str(text).strip().splitlines()
    first = lines[0].rstrip() if lines else ""
    return first[:MAX_TEXT].encode("utf-8", "replace").decode("utf-8")


def _first_line(error: str) -> str:
    return clean_text(error) or ""


def _is_transient(error: sqlite3.Error) -> bool:
    return isinstance(error, sqlite3.OperationalError) and any(
        word in str(error).lower() for word in ("locked", "busy")
    )


class Journal:
    """The task journal at ``path`` (default :func:`default_path`), created on first use.

    Safe to share between threads (one connection behind a lock) and between processes (SQLite locking,
    waiting up to 10 s for a lock). Each write is one ``BEGIN IMMEDIATE`` transaction, committed before it returns.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS
    ) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.busy_timeout = busy_timeout
        self.fallback = FallbackLog.beside(self.path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._durable = True  # the connection's synchronous mode: FULL (True) or NORMAL
        try:
            _create_file(self.path)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            with self._write() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise JournalError(f"the task journal {self.path} was written by a newer kiecore")
                if version == 0:
                    for statement in _SCHEMA:
                        db.execute(statement)
                    version = 1
                for old in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[old]:
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.Error, JournalError) as error:
            self.close()
            if isinstance(error, JournalError):
                raise
            raise JournalError(f"cannot open the task journal {self.path}: {error}") from error
        with contextlib.suppress(JournalError):  # still failing: the log stays for a later open
            self.merge_fallback()

    def close(self) -> None:
        """Close the connection; further calls raise :class:`JournalError`. Safe to call twice."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise JournalError(f"the task journal {self.path} is closed")
            try:
                yield self._db
            except sqlite3.Error as error:
                raise JournalError(f"task journal {self.path}: {error}", transient=_is_transient(error)) from error

    @contextlib.contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``durable`` ones are flushed to disk at commit (``synchronous=FULL``); the
        others (facts a resume can find again: states, files, run times) only reach the WAL, which survives a
        killed process but not a power cut, and are flushed by the next durable commit or checkpoint."""
        with self._connection() as db:
            if durable != self._durable:
                db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                self._durable = durable
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    # -- writes --------------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`JournalError` unless the journal can record a submit now: its pages pass SQLite's quick
        check, a write lock can be had, and its file system has :data:`MIN_FREE_BYTES` free. Cheap: call it
        before the first submit of a run, so that nothing is paid for that could not be recorded."""
        with self._connection() as db:
            verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if verdict != "ok":
                raise JournalError(f"the task journal {self.path} is damaged ({verdict}); move it aside and retry")
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError as error:
            raise JournalError(f"cannot check the free space beside {self.path}: {error}") from error
        if free < MIN_FREE_BYTES:
            raise JournalError(f"the disk holding the task journal {self.path} is full; free some space first")

    def begin_submit(
        self,
        *,
        model: str,
        profile: Profile,
        base_url: str,
        request: GenerationRequest,
        output_dir: str | None,
        key_fingerprint: str | None = None,
        item_key: str | None = None,
        naming: Naming | None = None,
    ) -> int:
        """Record a create request about to be sent (state ``submitting``); returns the new entry's id.

        Call it before sending; if it raises, send nothing. ``base_url`` is stored without a trailing slash;
        ``key_fingerprint`` (:func:`kiecore.redaction.key_fingerprint`) says which key may resume the task;
        ``item_key`` names the batch item it is (:meth:`find_item`); ``naming`` how its results are named
        (``None``: the default).
        """
        now = time.time()
        row = (model, Profile(profile).value, base_url.rstrip("/"), json.dumps(to_json(request)), output_dir)
        named = None if naming is None or naming.is_default else json.dumps(to_json(naming))
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO tasks (model, profile, base_url, request, output_dir, state, created_at, updated_at,"
                " pid, key_fingerprint, item_key, naming) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, _S.SUBMITTING.value, now, now, os.getpid(), key_fingerprint, item_key, named),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def submitted(self, entry_id: int, handle: TaskHandle) -> None:
        """The task id is known (``submitting``/``uncertain`` -> ``submitted``). Call it before waiting.

        Takes model, profile and ``submitted_at`` from the handle. A task id recorded under another entry for
        the same base URL raises ``ValueError``: that would be a duplicate.
        """

        def decide(db: sqlite3.Connection, state: JournalState, task_id: str | None) -> dict[str, Any]:
            base_url = db.execute("SELECT base_url FROM tasks WHERE id = ?", (entry_id,)).fetchone()[0]
            other = db.execute(
                "SELECT id FROM tasks WHERE base_url = ? AND task_id = ? AND id != ?",
                (base_url, handle.task_id, entry_id),
            ).fetchone()
            if other is not None:
                raise ValueError(f"task {handle.task_id} is already journal entry {other[0]}: a duplicate")
            if task_id not in (None, handle.task_id):
                raise ValueError(f"journal entry {entry_id} is task {task_id}, not {handle.task_id}")
            facts: dict[str, Any] = {"task_id": handle.task_id, "model": handle.model}
            facts.update(profile=Profile(handle.profile).value, submitted_at=handle.submitted_at)
            if state in (_S.SUBMITTING, _S.UNCERTAIN):
                return {**facts, "state": _S.SUBMITTED.value}
            if state is _S.ABANDONED or (state is _S.SUBMITTED and task_id == handle.task_id):
                return facts
            raise ValueError(f"journal entry {entry_id} is {state}: it cannot become submitted")

        self._change(entry_id, decide)

    def uncertain(self, entry_id: int, error: str) -> None:
        """The create was sent but its answer was lost (``submitting`` -> ``uncertain``). Never resubmit it."""
        self._change(
            entry_id, self._from(entry_id, {_S.SUBMITTING, _S.UNCERTAIN}, _S.UNCERTAIN, error=_first_line(error))
        )

    def refused(self, entry_id: int, error: str) -> None:
        """The service refused the create, so no task exists (``submitting`` -> ``refused``)."""
        self._change(entry_id, self._from(entry_id, {_S.SUBMITTING, _S.REFUSED}, _S.REFUSED, error=_first_line(error)))

    def observed(self, entry_id: int, status: TaskStatus) -> None:
        """Record a status: SUCCEEDED -> ``succeeded`` with its URLs (fresh URLs replace older ones), FAILED ->
        ``failed`` with Kie's code and message; other states only touch ``updated_at``. Needs a task id."""

        def decide(_db: sqlite3.Connection, state: JournalState, task_id: str | None) -> dict[str, Any]:
            if task_id is None:
                raise ValueError(f"journal entry {entry_id} has no task id to observe")
            if status.state is TaskState.SUCCEEDED:
                if state in (_S.SUBMITTED, _S.SUCCEEDED, _S.ABANDONED):
                    new = _S.ABANDONED if state is _S.ABANDONED else _S.SUCCEEDED
                    return {"state": new.value, "urls": json.dumps(list(status.urls))}
                if state is _S.DOWNLOADED:
                    return {}
            elif status.state is TaskState.FAILED:
                if state in (_S.SUBMITTED, _S.FAILED, _S.ABANDONED):
                    new = _S.ABANDONED if state is _S.ABANDONED else _S.FAILED
                    failure = {
                        "fail_code": clean_text(status.fail_code),
                        "fail_message": clean_text(status.fail_message),
                    }
                    return {"state": new.value, **failure}
            else:
                return {}
            raise ValueError(f"journal entry {entry_id} is {state}: it cannot have {status.state}")

        self._change(entry_id, decide, durable=False)

    def downloaded(self, entry_id: int, files: Sequence[Path]) -> None:
        """Every result is saved (``succeeded`` -> ``downloaded``); a repeat call replaces the recorded files."""
        paths = json.dumps([str(file) for file in files])
        self._change(
            entry_id,
            self._from(entry_id, {_S.SUCCEEDED, _S.DOWNLOADED, _S.ABANDONED}, _S.DOWNLOADED, files=paths),
            durable=False,
        )

    def saved(self, entry_id: int, file: Path) -> None:
        """One result of a ``succeeded`` entry is on disk: add ``file`` to its recorded files (state unchanged), so
        a later resume fetches only the others."""

        def decide(db: sqlite3.Connection, state: JournalState, _task_id: str | None) -> dict[str, Any]:
            if state not in (_S.SUCCEEDED, _S.ABANDONED, _S.DOWNLOADED):
                raise ValueError(f"journal entry {entry_id} is {state}: it has no results to save")
            files = json.loads(db.execute("SELECT files FROM tasks WHERE id = ?", (entry_id,)).fetchone()[0])
            return {"files": json.dumps(list(dict.fromkeys([*files, str(file)])))}

        self._change(entry_id, decide, durable=False)

    def claim(self, entry_id: int) -> bool:
        """Make this process the entry's owner unless another live process owns it; returns whether it did.

        Atomic across processes: of two resumes of one task, only one gets it.
        """
        with self._write() as db:
            row = db.execute("SELECT pid, updated_at FROM tasks WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                raise KeyError(f"no journal entry {entry_id}")
            owner = row["pid"]
            if owner not in (None, os.getpid()):
                alive = process_alive(owner)  # None (unknowable): a recent write counts as a live owner
                if alive or (alive is None and time.time() - row["updated_at"] < STALE_SUBMIT_SECONDS):
                    return False
            db.execute("UPDATE tasks SET pid = ?, updated_at = ? WHERE id = ?", (os.getpid(), time.time(), entry_id))
            return True

    def abandon(self, entry_id: int) -> None:
        """The user gives up on an unfinished entry: it leaves ``resumable()`` and ``attention()`` for good."""
        unfinished = {_S.SUBMITTING, _S.UNCERTAIN, _S.SUBMITTED, _S.SUCCEEDED, _S.ABANDONED}
        self._change(entry_id, self._from(entry_id, unfinished, _S.ABANDONED))

    def move_output(self, entry_id: int, folder: str | os.PathLike[str]) -> None:
        """The entry's results now go to ``folder`` (``kie resume -o DIR``): its recorded output folder, in any
        state. The files already saved elsewhere stay recorded where they are."""
        self._change(entry_id, lambda _db, _state, _task_id: {"output_dir": os.fspath(folder)}, durable=False)

    def note_error(self, entry_id: int, error: str) -> None:
        """Record the last error (e.g. a timeout while waiting), first line only; the state is unchanged."""
        self._change(entry_id, lambda _db, _state, _task_id: {"error": _first_line(error)}, durable=False)

    def record_runtime(self, base_url: str, model: str, seconds: float) -> None:
        """Keep one run time (seconds from create to done) of ``model`` at ``base_url`` (trailing slash ignored),
        dropping all but the newest :data:`MAX_RUNTIMES` of that pair; one transaction. ``seconds`` must be
        finite and positive (``ValueError``)."""
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"a run time must be finite and positive, not {seconds!r}")
        key = (base_url.rstrip("/"), model)
        with self._write(durable=False) as db:
            db.execute(
                "INSERT INTO runtimes (base_url, model, seconds, observed_at) VALUES (?, ?, ?, ?)",
                (*key, float(seconds), time.time()),
            )
            db.execute(
                "DELETE FROM runtimes WHERE base_url = ? AND model = ? AND rowid NOT IN (SELECT rowid FROM runtimes"
                " WHERE base_url = ? AND model = ? ORDER BY observed_at DESC, rowid DESC LIMIT ?)",
                (*key, *key, MAX_RUNTIMES),
            )

    @staticmethod
    def _from(
        entry_id: int, allowed: Collection[JournalState], target: JournalState, **values: Any
    ) -> Callable[[sqlite3.Connection, JournalState, str | None], dict[str, Any]]:
        def decide(_db: sqlite3.Connection, state: JournalState, task_id: str | None) -> dict[str, Any]:
            if state not in allowed or (target is _S.DOWNLOADED and task_id is None):
                raise ValueError(f"journal entry {entry_id} is {state}: it cannot become {target}")
            return {**values, "state": target.value}

        return decide

    def _change(
        self,
        entry_id: int,
        decide: Callable[[sqlite3.Connection, JournalState, str | None], dict[str, Any]],
        *,
        durable: bool = True,
    ) -> None:
        with self._write(durable=durable) as db:
            row = db.execute("SELECT state, task_id FROM tasks WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                raise KeyError(f"no journal entry {entry_id}")
            values = {**decide(db, JournalState(row["state"]), row["task_id"])}
            values.update(updated_at=time.time(), pid=os.getpid())
            assignments = ", ".join(f"{column} = ?" for column in values)
            db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*values.values(), entry_id))

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, entry_id: int) -> JournalEntry:
        """The entry ``entry_id``, as stored; ``KeyError`` if there is none."""
        found = self._select("WHERE id = ?", (entry_id,))
        if not found:
            raise KeyError(f"no journal entry {entry_id}")
        return found[0]

    def find(self, base_url: str, task_id: str) -> JournalEntry | None:
        """The entry of task ``task_id`` at ``base_url`` (trailing slash ignored), if journaled."""
        found = self._select("WHERE base_url = ? AND task_id = ?", (base_url.rstrip("/"), task_id))
        return found[0] if found else None

    def find_item(self, item_key: str) -> JournalEntry | None:
        """The newest entry recorded with ``item_key`` (:meth:`begin_submit`), if any, in whatever state."""
        found = self._select("WHERE item_key = ? ORDER BY id DESC LIMIT 1", (item_key,))
        return found[0] if found else None

    def lookup(self, name: str) -> list[JournalEntry]:
        """The entries ``name`` means on the command line: an entry id (all digits) or a task id at any host."""
        if name.isdigit():
            return self._select("WHERE id = ? OR task_id = ? ORDER BY id", (int(name), name))
        return self._select("WHERE task_id = ? ORDER BY id", (name,))

    def entries(
        self, *, states: Collection[JournalState] | None = None, limit: int | None = None
    ) -> list[JournalEntry]:
        """Entries newest first, with their stored states, optionally only those in ``states``, at most ``limit``
        (``ValueError`` if negative)."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        clause, params = "", []
        if states is not None:
            params = [JournalState(state).value for state in states]
            clause = f"WHERE state IN ({', '.join('?' * len(params))})"
        return self._select(clause + " ORDER BY id DESC" + ("" if limit is None else f" LIMIT {int(limit)}"), params)

    def resumable(self) -> list[JournalEntry]:
        """What ``kie resume`` finishes, oldest first: ``submitted`` (wait, download) and ``succeeded`` (download).

        An entry whose ``pid`` is another live process may be in progress there right now.
        """
        return self._select("WHERE state IN (?, ?) ORDER BY id", (_S.SUBMITTED.value, _S.SUCCEEDED.value))

    def attention(self) -> list[JournalEntry]:
        """Entries a person must check in their Kie task list, newest first: ``uncertain`` ones, and ``submitting``
        ones whose process died or that are older than :data:`STALE_SUBMIT_SECONDS` -- reported as ``uncertain``
        (the stored row is not changed). Submits in progress in a live process are left out."""
        found = []
        now = time.time()
        for entry in self._select("WHERE state IN (?, ?) ORDER BY id DESC", (_S.UNCERTAIN.value, _S.SUBMITTING.value)):
            if entry.state is _S.SUBMITTING:
                dead = entry.pid is None or process_alive(entry.pid) is False
                if not dead and now - entry.created_at <= STALE_SUBMIT_SECONDS:
                    continue
                why = f"process {entry.pid} died" if dead else "it never finished"
                error = entry.error or f"interrupted while submitting ({why}): the task may exist"
                entry = attrs.evolve(entry, state=_S.UNCERTAIN, error=error)
            found.append(entry)
        return found

    def runtimes(self, base_url: str, model: str, limit: int = 50) -> list[float]:
        """The newest ``limit`` run times recorded for ``model`` at ``base_url`` (trailing slash ignored), oldest
        first."""
        if limit <= 0:
            return []
        with self._connection() as db:
            rows = db.execute(
                "SELECT seconds FROM (SELECT seconds, observed_at, rowid AS position FROM runtimes WHERE base_url = ?"
                " AND model = ? ORDER BY observed_at DESC, rowid DESC LIMIT ?) ORDER BY observed_at, position",
                (base_url.rstrip("/"), model, int(limit)),
            ).fetchall()
        return [float(row[0]) for row in rows]

    # -- the fallback log ------------------------------------------------------------------------------

    def merge_fallback(self) -> int:
        """Bring the facts in :attr:`fallback` into the journal (a no-op when it is empty); returns how many
        tasks were merged. The log is emptied only once every record is in: a :class:`JournalError` leaves it
        for next time."""
        with self.fallback.locked() as held:
            if not held.records:
                return 0
            for record in held.records:
                self._merge(record)
            held.clear()
            return len(held.records)

    def _merge(self, record: FallbackRecord) -> None:
        entry = self.find(record.base_url, record.task_id)
        entry_id = entry.id if entry is not None else record.entry_id
        if entry is None and (entry_id is None or not self._select("WHERE id = ? AND task_id IS NULL", (entry_id,))):
            entry_id = self.begin_submit(
                model=record.model,
                profile=record.profile,
                base_url=record.base_url,
                request=record.request,
                output_dir=record.output_dir,
                key_fingerprint=record.key_fingerprint,
                item_key=record.item_key,
                naming=record.naming,
            )
        assert entry_id is not None
        state = JournalState(record.state)
        steps: list[Callable[[], None]] = [lambda: self.submitted(entry_id, record.handle)]
        if state in (_S.SUCCEEDED, _S.DOWNLOADED):
            steps.append(lambda: self.observed(entry_id, TaskStatus(state=TaskState.SUCCEEDED, urls=record.urls)))
        if state is _S.FAILED:
            failed = TaskStatus(state=TaskState.FAILED, fail_code=record.fail_code, fail_message=record.fail_message)
            steps.append(lambda: self.observed(entry_id, failed))
        if state is _S.DOWNLOADED:
            steps.append(lambda: self.downloaded(entry_id, [Path(file) for file in record.files]))
        for step in steps:
            with contextlib.suppress(ValueError):  # the journal already knows better (e.g. downloaded)
                step()

    def _select(self, clause: str, params: Sequence[Any]) -> list[JournalEntry]:
        with self._connection() as db:
            rows = db.execute(f"SELECT * FROM tasks {clause}", tuple(params)).fetchall()
        return [_entry(row) for row in rows]

    # -- uploads ---------------------------------------------------------------------------------------

    def record_upload(
        self,
        upload_url: str,
        key_fingerprint: str,
        sha256: str,
        download_url: str,
        *,
        uploaded_at: float | None = None,
    ) -> None:
        """Keep the URL the bytes with digest ``sha256`` were uploaded to at ``upload_url`` (trailing slash
        ignored) with the key of ``key_fingerprint``, uploaded at ``uploaded_at`` (unix seconds, default now),
        replacing an older record of the same three; records older than :data:`UPLOAD_RETENTION_SECONDS` are
        dropped. One transaction."""
        at = time.time() if uploaded_at is None else float(uploaded_at)
        with self._write(durable=False) as db:
            db.execute(
                "INSERT OR REPLACE INTO uploads (sha256, upload_url, key_fingerprint, download_url, uploaded_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (sha256, upload_url.rstrip("/"), key_fingerprint, download_url, at),
            )
            db.execute("DELETE FROM uploads WHERE uploaded_at < ?", (time.time() - UPLOAD_RETENTION_SECONDS,))

    def cached_upload(
        self, upload_url: str, key_fingerprint: str, sha256: str, *, newer_than: float
    ) -> tuple[str, float] | None:
        """``(download URL, uploaded at)`` of the bytes with digest ``sha256`` at ``upload_url`` with the key of
        ``key_fingerprint`` (:meth:`record_upload`), if uploaded after ``newer_than`` (unix seconds); else
        ``None``."""
        with self._connection() as db:
            row = db.execute(
                "SELECT download_url, uploaded_at FROM uploads WHERE sha256 = ? AND upload_url = ?"
                " AND key_fingerprint = ? AND uploaded_at > ?",
                (sha256, upload_url.rstrip("/"), key_fingerprint, float(newer_than)),
            ).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))


def _entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        id=row["id"],
        model=row["model"],
        profile=Profile(row["profile"]),
        base_url=row["base_url"],
        request=from_json(GenerationRequest, json.loads(row["request"])),
        output_dir=row["output_dir"],
        task_id=row["task_id"],
        state=JournalState(row["state"]),
        urls=tuple(json.loads(row["urls"])),
        files=tuple(json.loads(row["files"])),
        fail_code=row["fail_code"],
        fail_message=row["fail_message"],
        error=row["error"],
        submitted_at=row["submitted_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        pid=row["pid"],
        key_fingerprint=row["key_fingerprint"],
        item_key=row["item_key"],
        naming=_naming(row["naming"]),
    )


def _naming(stored: str | None) -> Naming:
    """An entry's naming as stored (``NULL``: the default); one this kiecore cannot read counts as the default,
    so that one odd row never hides the others."""
    if stored is None:
        return Naming()
    try:
        return from_json(Naming, json.loads(stored))
    except Exception:
        return Naming()
