"""Non-blocking rate-limit budgets: a scheduler asks whether a slot is free now and, if not, when to ask again.

The exact rule
--------------
The service counts a request when it *arrives*, in a sliding window: a request arriving at ``a`` is refused when
``limit`` earlier arrivals lie in ``(a - period, a]`` (see :mod:`kiecore.emulator.limits`). The client cannot see
arrivals, only that each one lies between the moment it started sending (``take``) and the moment the reply or the
failure came back (``release``). So a slot *counts* from ``take`` until ``period`` seconds after its ``release``
(while in flight its end is unknown: +inf), and

    a slot may be taken at ``t`` iff fewer than ``limit`` slots have ``end > t - period``.

A slot given back with ``cancel`` (nothing was sent) counts no more. This is exact, not padded: suppose the server
saw ``limit + 1`` arrivals in some ``(a - period, a]`` with ``a`` the latest; let ``t`` be the latest take among
them. Every other one was taken before ``t`` and ends (``release >= arrival``) after ``a - period >= t - period``,
so all ``limit`` of them counted at ``t`` and that take was refused. And no rule that knows only take and release
times can allow more: any slot it ignored might have arrived at its release, next to the new one arriving at its
take.

:class:`LocalWindow` applies the rule in one process (``time.monotonic``); :class:`SharedWindow` applies it to
every process of the host using the same :class:`BudgetStore` file and window name (SQLite, wall-clock
``time.time``, since processes share no monotonic clock). A shared in-flight slot counts as ending at its
``expires`` (``taken + max_flight``), so a process that died holding slots blocks the others for a bounded time.
Waits are durations, so callers never mix the two clocks.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import attrs

from kiecore.errors import KieError
from kiecore.ratelimit import RateLimits, account_fingerprint

#: The longest a shared slot counts as in flight (seconds): more than one attempt may take (the transport allows
#: 10 s to connect plus 60 s for the reply), so an unreleased slot only ever stops counting for a dead process.
MAX_FLIGHT_SECONDS = 75.0
#: How soon a shared window asks again when other processes' in-flight slots (which may be cancelled) block it.
SHARED_POLL_SECONDS = 0.05
#: A per-task window with nothing in flight is forgotten once unused for this long (seconds; at least its period).
IDLE_TASK_WINDOW_SECONDS = 60.0
STORE_FILE_NAME = "budgets.sqlite3"
#: Rows that ended this long (seconds) before the newest take are deleted whatever their window, on opening.
STALE_ROW_SECONDS = 86400.0
SCHEMA_VERSION = 1

_owners = itertools.count(1)


class BudgetStoreError(KieError):
    """The budget store could not be opened, read or written (permissions, a corrupt file, a newer schema)."""


@attrs.frozen
class Slot:
    """One taken slot; give it back to the window that issued it. ``taken`` is in that window's clock."""

    owner: int  # which window object issued it
    key: int  # the window's id for the slot (a row id for a shared window)
    taken: float


class Window(Protocol):
    """At most ``limit`` requests in any ``period`` seconds, by the exact rule (module docstring). Thread-safe."""

    limit: int
    period: float

    def take(self) -> Slot | float:
        """A slot if one is free now; else how many seconds (> 0) until asking again may succeed. ``math.inf``
        only when nothing but a ``release``/``cancel`` in this process can free a slot."""
        ...

    def release(self, slot: Slot, *, defer: bool = False) -> None:
        """The slot's request got its reply or failed (it may have arrived): it counts ``period`` more seconds
        from now. A slot already released or cancelled is left alone. With ``defer``, a window whose writes cost
        (a shared one) may record the release with its next ``take`` or ``flush`` instead; until then the slot
        counts as in flight, which is safe: the caller flushes when it takes nothing more."""
        ...

    def cancel(self, slot: Slot) -> None:
        """Nothing was sent for the slot: it counts no more. A slot already released or cancelled is left alone."""
        ...

    def flush(self) -> None:
        """Record the deferred releases now (nothing to do for most windows)."""
        ...


def _check(limit: int, period: float) -> None:
    if limit < 1 or not 0 < period < math.inf:
        raise ValueError("a rate limit needs a positive count and a positive, finite period")


def _wait(now: float, period: float, limit: int, ends: list[float]) -> float:
    """Seconds until fewer than ``limit`` of the counted slots with these sorted ``ends`` count (``ends`` holds
    at least ``limit``); ``inf`` if that needs an end not yet known."""
    end = ends[len(ends) - limit]
    return end + period - now if end < math.inf else math.inf


class LocalWindow:
    """The exact rule in this process: thread-safe, memory O(``limit``), clock injectable."""

    def __init__(self, limit: int, period: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        _check(limit, period)
        self.limit = limit
        self.period = period
        self._clock = clock
        self._owner = next(_owners)
        self._keys = itertools.count()
        self._lock = threading.Lock()
        self._flying: dict[int, float] = {}  # slot key -> taken
        self._ended: list[float] = []  # release times of slots that may still count, sorted
        self.last_used = clock()

    def take(self) -> Slot | float:
        with self._lock:
            now = self._clock()
            self.last_used = now
            expired = 0
            while expired < len(self._ended) and self._ended[expired] + self.period <= now:
                expired += 1
            del self._ended[:expired]
            counted = len(self._flying) + len(self._ended)
            if counted < self.limit:
                key = next(self._keys)
                self._flying[key] = now
                return Slot(self._owner, key, now)
            return _wait(now, self.period, self.limit, self._ended + [math.inf] * len(self._flying))

    def release(self, slot: Slot, *, defer: bool = False) -> None:
        with self._lock:
            self._own(slot)
            if self._flying.pop(slot.key, None) is not None:
                self.last_used = now = self._clock()
                bisect.insort(self._ended, now)

    def flush(self) -> None:
        """Nothing is ever deferred here."""

    def cancel(self, slot: Slot) -> None:
        with self._lock:
            self._own(slot)
            if self._flying.pop(slot.key, None) is not None:
                self.last_used = self._clock()

    @property
    def in_flight(self) -> int:
        """How many slots are taken and neither released nor cancelled."""
        with self._lock:
            return len(self._flying)

    def _own(self, slot: Slot) -> None:
        if slot.owner != self._owner:
            raise ValueError("that slot was issued by another window")

    def __repr__(self) -> str:
        return f"LocalWindow({self.limit} per {self.period:g} s)"


# -- shared (SQLite) ------------------------------------------------------------------------------------------

_SCHEMA = (
    # AUTOINCREMENT: a row id is never reused, so a late release cannot touch another process's slot.
    """CREATE TABLE IF NOT EXISTS slots (
        id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, taken REAL NOT NULL, ended REAL,
        expires REAL NOT NULL, pid INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS slots_name ON slots (name)",
    # The longest period any process used with a name: rows are kept that long, so none is pruned too early.
    "CREATE TABLE IF NOT EXISTS windows (name TEXT PRIMARY KEY, period REAL NOT NULL)",
)


def _is_transient(error: sqlite3.Error) -> bool:
    return isinstance(error, sqlite3.OperationalError) and any(
        word in str(error).lower() for word in ("locked", "busy")
    )


def _create_file(path: Path) -> None:
    missing = [parent for parent in path.parents if not parent.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


def default_path_beside(journal_path: Path) -> Path:
    """The budget store that goes with the task journal at ``journal_path``: ``budgets.sqlite3`` in its folder."""
    return Path(journal_path).parent / STORE_FILE_NAME


class _Transient(Exception):
    """Another process held the store's lock for longer than the busy timeout, every attempt."""


class BudgetStore:
    """The SQLite file holding the shared windows of every process of the host; created (mode 0600) if missing.

    One connection, guarded by a lock, serves all its windows and threads. A store inherited through ``fork``
    opens a connection of its own in the child. Raises :class:`BudgetStoreError` when the file cannot be used.
    """

    default_path_beside = staticmethod(default_path_beside)

    def __init__(self, path: Path | str, *, busy_timeout: float = 0.2, attempts: int = 3) -> None:
        self.path = Path(path).expanduser()
        self._busy_timeout = busy_timeout
        self._attempts = attempts
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []  # a parent's connections: never used nor closed here
        self._closed = False
        self._open()

    def _open(self) -> None:
        try:
            _create_file(self.path)
            db = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
            self._db = db
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # losing the last writes to a power cut costs nothing here
            with self._transaction(db) as tx:
                version = tx.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise BudgetStoreError(f"the budget store {self.path} was written by a newer kiecore")
                for statement in _SCHEMA:
                    tx.execute(statement)
                # rows of names no longer used (a revoked key, say): none counts a day after the newest take
                tx.execute(
                    "DELETE FROM slots WHERE coalesce(ended, expires) < (SELECT max(taken) FROM slots) - ?",
                    (STALE_ROW_SECONDS,),
                )
                tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (OSError, sqlite3.Error, _Transient, BudgetStoreError) as error:
            self.close()
            if isinstance(error, BudgetStoreError):
                raise
            reason = "it stayed locked by another process" if isinstance(error, _Transient) else str(error)
            raise BudgetStoreError(f"cannot open the budget store {self.path}: {reason}") from error

    def window(
        self,
        name: str,
        limit: int,
        period: float,
        *,
        max_flight: float = MAX_FLIGHT_SECONDS,
        clock: Callable[[], float] = time.time,
        poll: float = SHARED_POLL_SECONDS,
    ) -> SharedWindow:
        """The window ``name`` of this store (see :class:`SharedWindow`)."""
        return SharedWindow(self, name, limit, period, max_flight=max_flight, clock=clock, poll=poll)

    def close(self) -> None:
        """Close the connection; further use raises :class:`BudgetStoreError`. Safe to call twice."""
        with self._lock:
            self._closed = True
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    def __enter__(self) -> BudgetStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BudgetStore({str(self.path)!r})"

    @property
    def forked(self) -> bool:
        """Whether this process is not the one that opened the store (checked, and the store reopened, on use)."""
        return self._pid != os.getpid()

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise BudgetStoreError(f"the budget store {self.path} is closed")
        if self.forked:
            if self._db is not None:
                self._inherited.append(self._db)
            self._db = None
            self._pid = os.getpid()
            self._open()
        assert self._db is not None
        return self._db

    @contextlib.contextmanager
    def _transaction(self, db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (the caller holds ``_lock``); :class:`_Transient` if the lock stayed
        busy through every attempt (each waits up to the busy timeout)."""
        for attempt in range(self._attempts):
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.Error as error:
                if not _is_transient(error):
                    raise
                if attempt == self._attempts - 1:
                    raise _Transient() from error
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """A write transaction for a window: store errors become :class:`BudgetStoreError`, except a lock that
        stayed busy (:class:`_Transient`), which the window handles."""
        with self._lock:
            db = self._connection()
            try:
                with self._transaction(db) as tx:
                    yield tx
            except sqlite3.Error as error:
                if _is_transient(error):
                    raise _Transient() from error
                raise BudgetStoreError(f"budget store {self.path}: {error}") from error


class SharedWindow:
    """The exact rule across every process of the host that uses the same store file and ``name``.

    Times are wall-clock (``clock``, default ``time.time``). A slot in flight counts, for everyone, as ending at
    ``taken + max_flight``, so a dead process's slots free up; ``take`` never returns ``inf``, and returns at most
    ``poll`` while other windows' in-flight slots (which they may cancel) block. Each take prunes the rows that
    no longer count. Every user of a name should use one period; the store keeps rows for the longest one used.
    When another process holds the store's lock too long, ``take`` answers ``poll`` and ``release``/``cancel``
    are remembered and written by this window's next call (until then the slot counts as in flight: safe).
    Other store failures raise :class:`BudgetStoreError`.
    """

    def __init__(
        self,
        store: BudgetStore,
        name: str,
        limit: int,
        period: float,
        *,
        max_flight: float = MAX_FLIGHT_SECONDS,
        clock: Callable[[], float] = time.time,
        poll: float = SHARED_POLL_SECONDS,
    ) -> None:
        _check(limit, period)
        if not 0 < max_flight < math.inf or not 0 < poll < math.inf:
            raise ValueError("max_flight and poll must be positive and finite")
        self.store = store
        self.name = name
        self.limit = limit
        self.period = period
        self.max_flight = max_flight
        self.poll = poll
        self._clock = clock
        self._owner = next(_owners)
        self._pid = os.getpid()
        self._mine: set[int] = set()  # row ids of this window's slots in flight
        self._pending: list[tuple[int, float | None]] = []  # (row id, release time, or None: cancel) not written
        self._keep = period  # the longest period of this name, as last read
        with store._lock:
            try:
                with store._use() as tx:
                    tx.execute(
                        "INSERT INTO windows (name, period) VALUES (?, ?)"
                        " ON CONFLICT (name) DO UPDATE SET period = max(period, excluded.period)",
                        (name, period),
                    )
            except _Transient:
                pass  # the next take registers it

    def take(self) -> Slot | float:
        with self.store._lock:
            self._after_fork()
            try:
                with self.store._use() as tx:
                    self._flush(tx)
                    result = self._take(tx)
            except _Transient:
                return self.poll
            self._pending.clear()  # written and committed
            return result

    def _take(self, tx: sqlite3.Connection) -> Slot | float:
        now = self._clock()
        self._register(tx)
        tx.execute(
            "DELETE FROM slots WHERE name = ? AND coalesce(ended, expires) + ? <= ?", (self.name, self._keep, now)
        )
        rows: list[tuple[int, float | None, float]] = tx.execute(
            "SELECT id, ended, expires FROM slots WHERE name = ?", (self.name,)
        ).fetchall()
        self._mine.intersection_update(row[0] for row in rows)  # a pruned slot is no longer anyone's
        ends = sorted(
            end for _id, ended, expires in rows if (end := expires if ended is None else ended) + self.period > now
        )
        if len(ends) < self.limit:
            cursor = tx.execute(
                "INSERT INTO slots (name, taken, ended, expires, pid) VALUES (?, ?, NULL, ?, ?)",
                (self.name, now, now + self.max_flight, os.getpid()),
            )
            key = cursor.lastrowid
            assert key is not None
            self._mine.add(key)
            return Slot(self._owner, key, now)
        wait = _wait(now, self.period, self.limit, ends)
        if any(ended is None and key not in self._mine for key, ended, _expires in rows):
            wait = min(wait, self.poll)  # another process may cancel one at any moment
        return wait

    def release(self, slot: Slot, *, defer: bool = False) -> None:
        self._give_back(slot, self._clock(), write=not defer)

    def cancel(self, slot: Slot) -> None:
        self._give_back(slot, None)

    def flush(self) -> None:
        with self.store._lock:
            self._after_fork()
            if self._pending:
                self._write_pending()

    def _give_back(self, slot: Slot, ended: float | None, *, write: bool = True) -> None:
        if slot.owner != self._owner:
            raise ValueError("that slot was issued by another window")
        with self.store._lock:
            self._after_fork()
            if slot.key not in self._mine:
                return
            self._mine.discard(slot.key)
            self._pending.append((slot.key, ended))
            if write:
                self._write_pending()

    def _write_pending(self) -> None:
        """Write ``_pending`` in a transaction of its own (the caller holds the store's lock)."""
        try:
            with self.store._use() as tx:
                self._flush(tx)
        except _Transient:
            return  # written by the next call
        self._pending.clear()

    def _flush(self, tx: sqlite3.Connection) -> None:
        """Write the releases and cancels not yet written (each statement is idempotent)."""
        for key, ended in self._pending:
            if ended is None:
                tx.execute("DELETE FROM slots WHERE id = ? AND ended IS NULL", (key,))
            else:
                tx.execute("UPDATE slots SET ended = ? WHERE id = ? AND ended IS NULL", (ended, key))

    def _register(self, tx: sqlite3.Connection) -> None:
        row = tx.execute("SELECT period FROM windows WHERE name = ?", (self.name,)).fetchone()
        if row is None or row[0] < self.period:
            tx.execute("INSERT OR REPLACE INTO windows (name, period) VALUES (?, ?)", (self.name, self.period))
            self._keep = self.period
        else:
            self._keep = float(row[0])

    def _after_fork(self) -> None:
        if self._pid != os.getpid():  # the parent's slots are the parent's to give back
            self._pid = os.getpid()
            self._mine.clear()
            self._pending.clear()

    def __repr__(self) -> str:
        return f"SharedWindow({self.name!r}, {self.limit} per {self.period:g} s, {self.store.path})"


# -- one account's budgets --------------------------------------------------------------------------------------


class AccountBudgets:
    """The budgets of one account (one key on one host): ``creates``, ``status``, and per-task status windows.

    Per-task windows are always in-process :class:`LocalWindow` objects; one with nothing in flight that has been
    unused for :data:`IDLE_TASK_WINDOW_SECONDS` (and its period) is forgotten.
    """

    def __init__(
        self,
        limits: RateLimits,
        creates: Window,
        status: Window,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.creates = creates
        self.status = status
        self._clock = clock
        self._tasks: dict[str, LocalWindow] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    @classmethod
    def local(cls, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> AccountBudgets:
        """Budgets for this process alone."""
        return cls(
            limits, LocalWindow(*limits.creates, clock=clock), LocalWindow(*limits.status, clock=clock), clock=clock
        )

    @classmethod
    def shared(
        cls,
        store: BudgetStore,
        account: str,
        limits: RateLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> AccountBudgets:
        """Budgets whose ``creates`` and ``status`` windows (``{account}:creates``, ``{account}:status``) are shared
        through ``store``; ``account`` is :func:`kiecore.ratelimit.account_fingerprint`. ``clock`` is for the
        per-task windows (the shared ones use the wall clock)."""
        return cls(
            limits,
            store.window(f"{account}:creates", *limits.creates),
            store.window(f"{account}:status", *limits.status),
            clock=clock,
        )

    def flush(self) -> None:
        """Record the deferred releases of the account's windows (:meth:`Window.release`)."""
        self.creates.flush()
        self.status.flush()

    def task_status(self, task_id: str) -> Window:
        """The per-task window of ``task_id`` (for the GPT-4o record-info endpoint)."""
        with self._lock:
            now = self._clock()
            if now - self._swept >= IDLE_TASK_WINDOW_SECONDS / 6:
                self._swept = now
                idle = max(IDLE_TASK_WINDOW_SECONDS, self.limits.task_status[1])
                for stale in [
                    key
                    for key, window in self._tasks.items()
                    if window.in_flight == 0 and now - window.last_used > idle
                ]:
                    del self._tasks[stale]
            window = self._tasks.get(task_id)
            if window is None:
                window = self._tasks[task_id] = LocalWindow(*self.limits.task_status, clock=self._clock)
            return window

    @property
    def task_windows(self) -> int:
        """How many per-task windows are held."""
        with self._lock:
            return len(self._tasks)


_BUDGETS: dict[tuple[str, RateLimits, Path | None], AccountBudgets] = {}
_STORES: dict[Path, BudgetStore] = {}
_REGISTRY_LOCK = threading.Lock()


def account_budgets(base_url: str, api_key: str, limits: RateLimits, store_path: Path | None) -> AccountBudgets:
    """The process-wide budgets for this key on this host with these limits: every caller passing the same
    arguments shares one :class:`AccountBudgets`. With ``store_path``, ``creates`` and ``status`` are shared with
    the host's other processes through the :class:`BudgetStore` there (one store per file per process); without,
    they are local. Raises :class:`BudgetStoreError` if the store cannot be opened."""
    account = account_fingerprint(base_url, api_key)
    path = None if store_path is None else Path(store_path).expanduser().resolve()
    with _REGISTRY_LOCK:
        key = (account, limits, path)
        budgets = _BUDGETS.get(key)
        if budgets is None:
            if path is None:
                budgets = AccountBudgets.local(limits)
            else:
                store = _STORES.get(path)
                if store is None:
                    store = _STORES[path] = BudgetStore(path)
                budgets = AccountBudgets.shared(store, account, limits)
            _BUDGETS[key] = budgets
        return budgets


def _forget_after_fork() -> None:
    """A forked child starts its own registry: the parent's budgets hold the parent's slots and locks."""
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    _BUDGETS.clear()
    _STORES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def wait_for_slot(window: Window, sleep: Callable[[float], None]) -> Slot:
    """A slot of ``window``, waiting in the calling thread as long as it takes."""
    while True:
        taken = window.take()
        if isinstance(taken, Slot):
            return taken
        sleep(min(taken, 1.0))
