"""Fault-injection runs against the emulator, with the books kept: for each kind of fault, many generations
through a journalling client, then a count of what was created, delivered, duplicated, lost or reported.

Used by the reliability tests (small runs) and ``bench/chaos.py`` (the figures in docs/reliability.md); not
part of the shipped test kit. Import it as ``tests.chaos`` with the repository root on ``sys.path``.
"""

from __future__ import annotations

import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.errors import KieError, SubmitUncertainError, TaskFailedError
from kiecore.journal import BUSY_TIMEOUT_SECONDS, Journal, JournalEntry, JournalError, JournalState
from kiecore.loading import load_registry
from kiecore.model import TaskHandle, TaskStatus
from kiecore.naming import SIDECAR_SUFFIX
from kiecore.registry import Registry
from kiecore.testing.endtoend import FAST_RETRY, check_image

KEY = "sk-chaos-0123456789abcdef"
FAIL_MESSAGE = "Invalid prompt: prohibited content"


@attrs.frozen
class FaultCase:
    """One kind of fault: ``times`` injections of ``kind`` on ``on`` requests, spread over a run."""

    kind: str
    on: str = "any"
    times: int = 2
    options: dict[str, Any] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        options = ", ".join(f"{key}={value}" for key, value in self.options.items() if key != "message")
        return f"{self.kind} ({options}) on {self.on}" if options else f"{self.kind} on {self.on}"


CASES: tuple[FaultCase, ...] = (
    FaultCase("rate_limit", "submit", 3),
    FaultCase("rate_limit", "status", 3),
    FaultCase("server_error", "status", 3),
    FaultCase("server_error", "status", 3, {"status": 502}),
    FaultCase("drop", "status", 3),
    FaultCase("non_json", "status", 3),
    FaultCase("slow", "status", 2, {"seconds": 0.3}),
    FaultCase("invisible", "status", 3, {"tasks": 2}),
    FaultCase("server_error", "download", 3),
    FaultCase("drop", "download", 2),
    FaultCase("expire", "download", 2),
    FaultCase("fail_task", "any", 2, {"message": FAIL_MESSAGE}),
    FaultCase("drop", "submit", 2),
    FaultCase("drop_after_create", "submit", 2),
    FaultCase("non_json", "submit", 2),
    FaultCase("server_error", "submit", 2),
    FaultCase("auth", "submit", 1),
    FaultCase("credits", "submit", 1),
)


@attrs.frozen
class Outcome:
    """The books of one run. ``duplicates`` and ``lost`` must be 0; every failure must have been reported."""

    case: str
    generations: int
    faults_injected: int
    tasks_created: int
    images_expected: int
    images_delivered: int
    duplicates: int
    lost: int
    failed_reported: int
    failed_at_kie: int
    uncertain_reported: int
    refused_reported: int
    key_leaks: int
    delivered_generations: int

    @property
    def clean(self) -> bool:
        """Nothing duplicated, lost or leaked, and every generation accounted for and reported."""
        reported = self.delivered_generations + self.failed_reported + self.uncertain_reported + self.refused_reported
        return (
            self.duplicates == 0
            and self.lost == 0
            and self.key_leaks == 0
            and self.failed_reported == self.failed_at_kie
            and reported == self.generations
        )


def _generate(client: Client, model: str, out: Path, index: int) -> str:
    try:
        client.generate(model, f"chaos picture {index}", output_dir=out, timeout=30)
    except TaskFailedError as error:
        return "failed" if FAIL_MESSAGE in str(error) or error.status.fail_message else "failed-unreported"
    except SubmitUncertainError:
        return "uncertain"
    except KieError:
        return "refused"
    return "ok"


def _emulator(registry: Registry) -> Emulator:
    return Emulator(registry, task_seconds=0.2, retry_after=0.05, api_key=KEY)


def _client(emulator: Emulator, registry: Registry, journal: Journal, **options: Any) -> Client:
    """A journalling client of ``emulator``, polling and retrying at emulator speed."""
    return Client(
        api_key=KEY,
        base_url=emulator.base_url,
        registry=registry,
        journal=journal,
        poll_interval=0.05,
        retry=FAST_RETRY,
        **options,
    )


def run_case(
    registry: Registry, model: str, case: FaultCase, directory: Path, *, generations: int = 6, workers: int = 3
) -> Outcome:
    """Run ``generations`` generations of ``model`` under ``case`` and keep the books."""
    out = directory / "out"
    with _emulator(registry) as emulator, Journal(directory / "journal.sqlite3") as journal:
        emulator.inject(case.kind, on=case.on, times=case.times, **case.options)
        with _client(emulator, registry, journal, visibility_grace=10.0) as client:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(lambda i: _generate(client, model, out, i), range(generations)))
            for entry in journal.resumable():  # anything a fault left half-done
                client.resume(entry)
        entries = journal.entries()
        fired = sum(fault.fired for fault in emulator.faults.faults)
        return _books(case.name, generations, fired, emulator, entries, results, out)


def _books(
    case: str,
    generations: int,
    fired: int,
    emulator: Emulator,
    entries: list[JournalEntry],
    results: list[str],
    out: Path,
) -> Outcome:
    tasks = emulator.tasks
    known = {entry.task_id for entry in entries if entry.task_id}
    uncertain = [entry for entry in entries if entry.state is JournalState.UNCERTAIN]
    orphans = [task_id for task_id in tasks if task_id not in known]
    expected = sum(len(task.urls) for task_id, task in tasks.items() if task_id in known and not task.failed)
    files = _results(out)
    delivered = sum(1 for path in files if check_image(path))
    leaks = sum(
        1
        for request in emulator.requests
        if request.server != "api" and any(KEY in value for value in request.headers.values())
    )
    return Outcome(
        case=case,
        generations=generations,
        faults_injected=fired,
        tasks_created=len(tasks),
        images_expected=expected,
        images_delivered=delivered,
        duplicates=max(0, len(orphans) - len(uncertain)),
        lost=max(0, expected - delivered),
        failed_reported=results.count("failed"),
        failed_at_kie=sum(1 for task in tasks.values() if task.failed),
        uncertain_reported=results.count("uncertain"),
        refused_reported=results.count("refused"),
        key_leaks=leaks,
        delivered_generations=results.count("ok"),
    )


class FaultyJournal(Journal):
    """A journal that fails once a create was answered, as a full disk or a damaged file does.

    From its ``submitted`` call on, every write about the first ``times`` tasks (default: all) raises
    :class:`JournalError` with ``fail_after_create`` as SQLite's message; with ``lock_after_create`` (seconds),
    another connection instead holds the write lock that long when the task id is to be recorded, and the write
    itself is real. ``fired`` counts the tasks hit.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fail_after_create: str | None = None,
        lock_after_create: float | None = None,
        times: int | None = None,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(path, busy_timeout=busy_timeout)
        self.fail_after_create = fail_after_create
        self.lock_after_create = lock_after_create
        self.times = times
        self.fired = 0
        self._hit: set[int] = set()
        self._guard = threading.Lock()

    def _strike(self, entry_id: int, first: bool) -> None:
        with self._guard:
            if first and entry_id not in self._hit and (self.times is None or len(self._hit) < self.times):
                self._hit.add(entry_id)
                self.fired += 1
                if self.lock_after_create is not None:
                    _hold_write_lock(self.path, self.lock_after_create)
            hit = entry_id in self._hit
        if hit and self.fail_after_create is not None:
            raise JournalError(f"task journal {self.path}: {self.fail_after_create}")

    def submitted(self, entry_id: int, handle: TaskHandle) -> None:
        self._strike(entry_id, first=True)
        super().submitted(entry_id, handle)

    def observed(self, entry_id: int, status: TaskStatus) -> None:
        self._strike(entry_id, first=False)
        super().observed(entry_id, status)

    def saved(self, entry_id: int, file: Path) -> None:
        self._strike(entry_id, first=False)
        super().saved(entry_id, file)

    def downloaded(self, entry_id: int, files: Sequence[Path]) -> None:
        self._strike(entry_id, first=False)
        super().downloaded(entry_id, files)

    def note_error(self, entry_id: int, error: str) -> None:
        self._strike(entry_id, first=False)
        super().note_error(entry_id, error)


def _hold_write_lock(path: Path, seconds: float) -> None:
    """Take ``path``'s write lock from another connection now, and let it go after ``seconds``."""
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")

    def release() -> None:
        blocker.rollback()
        blocker.close()

    threading.Timer(seconds, release).start()


#: Journal faults once a create was answered: a lock held past the busy timeout (waited out), one held past
#: every retry (the task goes to the fallback log, then catches up), a full disk, damaged pages.
JOURNAL_CASES: dict[str, dict[str, Any]] = {
    "journal locked past its busy timeout": {"lock_after_create": 0.2, "times": 2},
    "journal locked past every retry": {"lock_after_create": 0.6, "times": 2},
    "journal disk full": {"fail_after_create": "database or disk is full", "times": 3},
    "journal pages damaged": {"fail_after_create": "database disk image is malformed"},
}
#: The busy timeout of the journals in those runs (short, so that a run takes seconds).
CHAOS_BUSY_TIMEOUT = 0.1


def run_journal_case(
    registry: Registry, model: str, name: str, directory: Path, *, generations: int = 6, workers: int = 3
) -> Outcome:
    """Run ``generations`` generations of ``model`` through a journal failing as :data:`JOURNAL_CASES` ``name``
    says, and keep the books with the journal reopened (which merges its fallback log in): a task the journal
    does not know then counts as lost."""
    out = directory / "out"
    path = directory / "journal.sqlite3"
    faulty = FaultyJournal(path, busy_timeout=CHAOS_BUSY_TIMEOUT, **JOURNAL_CASES[name])
    with (
        _emulator(registry) as emulator,
        faulty as journal,
        _client(emulator, registry, journal, notices=io.StringIO()) as client,  # "could not record": expected
    ):
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda i: _generate(client, model, out, i), range(generations)))
        journal.close()
        with Journal(path) as reopened:
            entries = reopened.entries()
        outcome = _books(name, generations, faulty.fired, emulator, entries, results, out)
    unknown = sum(1 for task_id in emulator.tasks if task_id not in {entry.task_id for entry in entries})
    return attrs.evolve(outcome, lost=outcome.lost + unknown)


@attrs.frozen
class SlowOutcome:
    """A generation against a server that drips its replies: how long it took against its deadline, how it
    ended, and whether a resume afterwards delivered its images."""

    on: str
    timeout: float
    elapsed: float
    error: str
    delivered_after_resume: int
    expected: int


def run_slow_case(registry: Registry, model: str, on: str, directory: Path, *, timeout: float = 1.5) -> SlowOutcome:
    """One generation with a ``timeout`` while every reply on ``on`` (``status`` or ``download``) drips a byte
    every half second; then, with the server healthy again, one resume."""
    out = directory / "out"
    with (
        _emulator(registry) as emulator,
        Journal(directory / "journal.sqlite3") as journal,
        _client(emulator, registry, journal) as client,
    ):
        emulator.inject("drip", on=on, times=1000, seconds=0.5)
        started = time.monotonic()
        try:
            client.generate(model, "a slow picture", output_dir=out, timeout=timeout)
            error = "none"
        except KieError as failure:
            error = type(failure).__name__
        elapsed = time.monotonic() - started
        emulator.faults.clear()
        for entry in journal.resumable():
            client.resume(entry, timeout=30)
        expected = sum(len(task.urls) for task in emulator.tasks.values())
    delivered = sum(1 for path in _results(out) if check_image(path))
    return SlowOutcome(on, timeout, elapsed, error, delivered, expected)


@attrs.frozen
class KillOutcome:
    """The books of a kill -9 run: processes killed at random points, then one ``kie resume``."""

    runs: int
    killed: int
    tasks_created: int
    creates_sent: int
    images_expected: int
    images_delivered: int
    duplicates: int
    lost: int
    uncertain_reported: int
    resume_exit: int


def run_kill_and_resume(
    model: str, directory: Path, *, runs: int = 6, seed: int = 0, task_seconds: float = 0.6
) -> KillOutcome:
    """Start ``kie generate`` ``runs`` times against an emulator, kill -9 each at a random moment, then run
    ``kie resume`` once and count: every task created delivers its images exactly once, nothing is resent."""
    chance = random.Random(seed)
    out = directory / "out"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KIE_", "KIECORE_"))},
        "KIE_API_KEY": KEY,
        "KIECORE_JOURNAL": str(directory / "journal.sqlite3"),
    }
    killed = 0
    with Emulator(load_registry(), task_seconds=task_seconds, api_key=KEY) as emulator:
        for index in range(runs):
            argv = [
                sys.executable,
                "-m",
                "kiecore",
                "generate",
                model,
                f"killed picture {index}",
                "-o",
                str(out),
                "--base-url",
                emulator.base_url,
                "--poll-interval",
                "0.05",
            ]
            process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(chance.uniform(0.15, 0.15 + task_seconds * 1.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                killed += 1
            process.wait()
        resumed = subprocess.run(
            [sys.executable, "-m", "kiecore", "resume", "--poll-interval", "0.05"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        creates = sum(1 for r in emulator.requests if r.server == "api" and r.method == "POST")
        tasks = emulator.tasks
        with Journal(directory / "journal.sqlite3") as journal:
            entries = journal.entries()
            attention = journal.attention()
        known = {entry.task_id for entry in entries if entry.task_id}
        orphans = [task_id for task_id in tasks if task_id not in known]
        expected = sum(len(task.urls) for task_id, task in tasks.items() if task_id in known)
        files = _results(out)
        by_task = {task_id: [p for p in files if p.name.startswith(task_id)] for task_id in known}
        delivered = sum(len(paths) for paths in by_task.values())
        return KillOutcome(
            runs=runs,
            killed=killed,
            tasks_created=len(tasks),
            creates_sent=creates,
            images_expected=expected,
            images_delivered=sum(1 for path in files if check_image(path)),
            duplicates=max(0, len(orphans) - len(attention)) + max(0, creates - len(tasks)),
            lost=max(0, expected - delivered),
            uncertain_reported=len(attention),
            resume_exit=resumed.returncode,
        )


def _results(out: Path) -> list[Path]:
    """The result files saved under ``out``: not the partial files of downloads, nor the tasks' sidecars."""
    return [
        path
        for path in out.rglob("*")
        if path.is_file() and not path.name.startswith(".") and not path.name.endswith(SIDECAR_SUFFIX)
    ]
