"""The journal as a store: opening and its errors, the pre-submit check, run times, uploads, the fallback merge."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kiecore.journal as journal_module
from kiecore.journal import (
    MAX_RUNTIMES,
    MIN_FREE_BYTES,
    SCHEMA_VERSION,
    UPLOAD_RETENTION_SECONDS,
    Journal,
    JournalError,
    JournalState,
    clean_text,
    process_alive,
)
from kiecore.journal_fallback import FallbackLog, FallbackRecord
from kiecore.model import GenerationRequest, Profile
from kiecore.naming import Naming
from tests.test_journal import BASE, begin, handle, succeeded
from tests.unit.test_journal_moves import START, Clock, clock

__all__ = ["clock"]  # the fake-clock fixture, shared with the entries' tests

S = JournalState
UPLOADS = "https://kieai.redpandaai.co"
#: A base URL ending in a letter that a careless strip would eat: only a trailing slash is ignored.
GATEWAY = "https://gateway.example/kieX"
DIGEST = "ab" * 32


def damage_pages(path: Path) -> None:
    """A journal of several pages of entries, with garbage written over every page after the first two."""
    Journal(path).close()
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO tasks (model, profile, base_url, request, state, created_at, updated_at)"
            " VALUES (?, 'live', ?, '{}', 'submitting', 0, 0)",
            [(f"m{index}", BASE) for index in range(300)],
        )
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(2 * page, len(data), page):
        data[start + 8 : start + 64] = b"\xff" * 56
    path.write_bytes(bytes(data))


def pragma(journal: Journal, name: str) -> Any:
    """A setting of the journal's own connection."""
    with journal._connection() as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another connection holds the journal's write lock inside the block."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.rollback()
        other.close()


def record(task_id: str, state: str, **facts: Any) -> FallbackRecord:
    return FallbackRecord(
        base_url=BASE, task_id=task_id, model="m", profile=Profile.LIVE, submitted_at=5.0, state=state, **facts
    )


# -- pure helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (None, None),
        ("", ""),
        (" \n \n", ""),
        ("  timed out\nTraceback (most recent call last):", "timed out"),
        ("a  \nb", "a"),  # the first line loses its trailing spaces as a one-line text does
        ("x" * 2500, "x" * 2000),
        ("odd \udcff text", "odd ? text"),
        (501, "501"),
    ],
)
def test_clean_text_keeps_one_short_encodable_line(text: Any, kept: str | None) -> None:
    assert clean_text(text) == kept


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("Database Busy"), True),
        (sqlite3.OperationalError("disk I/O error"), False),
        (sqlite3.DatabaseError("database is locked"), False),
    ],
)
def test_only_a_lock_or_busy_operational_error_is_transient(error: sqlite3.Error, transient: bool) -> None:
    assert journal_module._is_transient(error) is transient


def test_process_alive_knows_this_its_parent_and_a_finished_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_alive(os.getpid()) is True
    assert process_alive(os.getppid()) is True
    assert process_alive(child.pid) is False
    assert (process_alive(0), process_alive(-1)) == (False, False)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="only root may signal another user's process")
def test_process_alive_counts_init_as_alive() -> None:
    assert process_alive(1) is True


def test_a_process_we_may_not_signal_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(journal_module.os, "kill", refuse)
    assert process_alive(12345) is True  # another user's process: a resume there is live, not dead


def test_process_alive_is_unknowable_off_posix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module.os, "name", "nt")
    assert (process_alive(os.getppid()), process_alive(os.getpid()), process_alive(0)) == (None, True, False)


# -- opening ---------------------------------------------------------------------------------------


def test_an_open_journal_waits_for_locks_and_flushes_each_commit(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3", busy_timeout=2.5) as journal:
        assert (journal.busy_timeout, pragma(journal, "busy_timeout")) == (2.5, 2500)
        assert (pragma(journal, "journal_mode"), pragma(journal, "synchronous")) == ("wal", 2)
        assert pragma(journal, "user_version") == SCHEMA_VERSION
        journal.record_runtime(BASE, "m", 1.0)  # a first write that need not be flushed switches to NORMAL
        assert pragma(journal, "synchronous") == 1


def test_a_folder_another_process_creates_meanwhile_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raced = tmp_path / "data"
    raced.mkdir()
    real = Path.exists
    # the folder was missing when the journal looked, and is there when it makes it
    monkeypatch.setattr(Path, "exists", lambda path: path != raced and real(path))
    with Journal(raced / "kiecore" / "journal.sqlite3") as journal:
        begin(journal)
        assert len(journal.entries()) == 1


def test_only_the_entry_and_its_task_id_are_flushed_to_disk(journal: Journal) -> None:
    """FULL (2) for a new entry, its task id and its moves; NORMAL (1) for the facts a resume finds again."""
    entry_id, lost, refused = begin(journal), begin(journal), begin(journal)
    steps: list[tuple[Callable[[], object], int]] = [
        (lambda: journal.submitted(entry_id, handle()), 2),
        (lambda: journal.note_error(entry_id, "slow"), 1),
        (lambda: journal.move_output(entry_id, "elsewhere"), 1),
        (lambda: journal.observed(entry_id, succeeded()), 1),
        (lambda: journal.saved(entry_id, Path("out/a.png")), 1),
        (lambda: journal.downloaded(entry_id, [Path("out/a.png")]), 1),
        (lambda: journal.record_runtime(BASE, "m", 3.0), 1),
        (lambda: journal.record_upload(UPLOADS, "fp", DIGEST, "https://files/x.png"), 1),
        (lambda: journal.refused(refused, "no credits"), 2),
        (lambda: begin(journal), 2),
        (lambda: journal.abandon(lost), 2),
    ]
    modes = []
    for step, _ in steps:
        journal.uncertain(begin(journal), "lost")  # a durable write first, so each step starts from FULL
        modes.append(pragma(journal, "synchronous"))
        step()
        modes.append(pragma(journal, "synchronous"))
    assert modes == [mode for _, expected in steps for mode in (2, expected)]


def test_a_journal_newer_than_this_kiecore_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError) as raised:
        Journal(path)
    assert str(raised.value) == f"the task journal {path} was written by a newer kiecore"
    assert raised.value.transient is False


def test_a_file_that_is_no_database_cannot_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(JournalError) as raised:
        Journal(path)
    assert str(raised.value) == f"cannot open the task journal {path}: file is not a database"
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError) and raised.value.transient is False


def test_a_journal_under_a_file_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("a file, not a folder")
    path = tmp_path / "plain" / "journal.sqlite3"
    with pytest.raises(JournalError, match=f"^cannot open the task journal {path}: ") as raised:
        Journal(path)
    assert isinstance(raised.value.__cause__, OSError)


def test_an_empty_file_becomes_a_journal_of_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    path.touch()
    with Journal(path) as journal:
        assert journal.entries() == [] and journal.runtimes(BASE, "m") == []
        assert pragma(journal, "user_version") == SCHEMA_VERSION
    with sqlite3.connect(path) as db:
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"tasks_task_id", "tasks_state", "runtimes_key", "tasks_item_key"} <= indexes


def test_a_closed_journal_says_so(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.close()
    with pytest.raises(JournalError) as raised:
        journal.runtimes(BASE, "m")
    assert str(raised.value) == f"the task journal {path} is closed"


def test_a_write_held_up_by_another_lock_is_a_transient_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path, busy_timeout=0.05) as impatient, locked(path):
        with pytest.raises(JournalError) as raised:
            impatient.record_runtime(BASE, "m", 1.0)
        assert str(raised.value) == f"task journal {path}: database is locked"
        assert raised.value.transient is True


def test_a_broken_table_is_a_lasting_error(journal: Journal) -> None:
    with sqlite3.connect(journal.path) as db:
        db.execute("DROP TABLE runtimes")
    with pytest.raises(JournalError) as raised:
        journal.runtimes(BASE, "m")
    assert str(raised.value) == f"task journal {journal.path}: no such table: runtimes"
    assert raised.value.transient is False


# -- the check before a submit ---------------------------------------------------------------------


def test_check_passes_a_sound_journal_with_just_enough_room(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Path] = []
    real = shutil.disk_usage

    def usage(where: Path) -> Any:
        asked.append(Path(where))
        return real(where)._replace(free=MIN_FREE_BYTES)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    journal.check()
    assert asked == [journal.path.parent]
    begin(journal)  # the check left no transaction open


def test_check_refuses_a_nearly_full_disk(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda where: real(where)._replace(free=MIN_FREE_BYTES - 1))
    with pytest.raises(JournalError) as raised:
        journal.check()
    assert str(raised.value) == f"the disk holding the task journal {journal.path} is full; free some space first"


def test_check_refuses_when_the_free_space_is_unknown(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    def usage(where: Path) -> Any:
        raise PermissionError("denied")

    monkeypatch.setattr(shutil, "disk_usage", usage)
    with pytest.raises(JournalError) as raised:
        journal.check()
    assert str(raised.value) == f"cannot check the free space beside {journal.path}: denied"


def test_check_refuses_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path, busy_timeout=0.05) as impatient, locked(path):
        with pytest.raises(JournalError) as raised:
            impatient.check()
        assert str(raised.value) == f"task journal {path}: database is locked"
        assert raised.value.transient is True


def test_check_refuses_a_damaged_journal(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite3"
    damage_pages(path)
    with Journal(path) as journal, pytest.raises(JournalError) as raised:
        journal.check()
    said = str(raised.value)
    assert said.startswith(f"the task journal {path} is damaged (*** in database main ***\n")
    assert said.endswith("); move it aside and retry")


# -- run times -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.inf, math.nan])
def test_a_run_time_must_be_finite_and_positive(journal: Journal, seconds: float) -> None:
    with pytest.raises(ValueError) as raised:
        journal.record_runtime(BASE, "m", seconds)
    assert str(raised.value) == f"a run time must be finite and positive, not {seconds!r}"
    assert journal.runtimes(BASE, "m") == []


def test_run_times_are_kept_per_host_and_model_oldest_first(journal: Journal, clock: Clock) -> None:
    for offset, seconds in ((20.0, 1.0), (10.0, 2.0), (20.0, 3.0)):  # the clock may step back
        clock.now = START + offset
        journal.record_runtime(BASE + "/", "m", seconds)
    journal.record_runtime(BASE, "other", 9.0)
    journal.record_runtime("http://127.0.0.1:9", "m", 8.0)
    assert journal.runtimes(BASE, "m") == [2.0, 1.0, 3.0]
    assert journal.runtimes(BASE + "/", "m", limit=2) == [1.0, 3.0]
    assert journal.runtimes(BASE, "m", limit=1) == [3.0]
    assert journal.runtimes(BASE, "m", limit=0) == [] and journal.runtimes(BASE, "m", limit=-1) == []
    assert journal.runtimes(BASE, "other") == [9.0] and journal.runtimes("http://127.0.0.1:9", "m") == [8.0]


def test_only_a_trailing_slash_of_a_base_url_is_ignored(journal: Journal, clock: Clock) -> None:
    entry_id = journal.begin_submit(
        model="m", profile=Profile.LIVE, base_url=GATEWAY + "/", request=GenerationRequest(), output_dir=None
    )
    journal.submitted(entry_id, handle("t-1"))
    journal.record_runtime(GATEWAY + "/", "m", 4.0)
    journal.record_upload(GATEWAY + "/", "fp", DIGEST, "https://files/x.png", uploaded_at=START)
    with sqlite3.connect(journal.path) as db:
        hosts = {row[0] for row in db.execute("SELECT base_url FROM runtimes UNION SELECT upload_url FROM uploads")}
        hosts |= {row[0] for row in db.execute("SELECT base_url FROM tasks")}
    assert hosts == {GATEWAY}
    assert journal.find(GATEWAY + "/", "t-1") == journal.get(entry_id) and journal.find(GATEWAY[:-1], "t-1") is None
    assert journal.runtimes(GATEWAY + "/", "m") == [4.0] and journal.runtimes(GATEWAY[:-1], "m") == []
    assert journal.cached_upload(GATEWAY + "/", "fp", DIGEST, newer_than=0) == ("https://files/x.png", START)
    assert journal.cached_upload(GATEWAY[:-1], "fp", DIGEST, newer_than=0) is None


def test_runtimes_give_the_newest_fifty_by_default(journal: Journal, clock: Clock) -> None:
    for n in range(1, 53):
        journal.record_runtime(BASE, "m", float(n))
    assert journal.runtimes(BASE, "m") == [float(n) for n in range(3, 53)]


def test_only_the_newest_run_times_of_a_pair_are_kept(journal: Journal, clock: Clock) -> None:
    for n in range(1, MAX_RUNTIMES + 3):
        clock.now = START + n
        journal.record_runtime(BASE, "m", float(n))
    journal.record_runtime(BASE, "other", 1.0)
    with sqlite3.connect(journal.path) as db:
        counts = dict(db.execute("SELECT model, count(*) FROM runtimes GROUP BY model").fetchall())
        times = [row[0] for row in db.execute("SELECT observed_at FROM runtimes WHERE model = 'm' ORDER BY rowid")]
    assert counts == {"m": MAX_RUNTIMES, "other": 1}
    assert times == [START + n for n in range(3, MAX_RUNTIMES + 3)]
    assert journal.runtimes(BASE, "m", limit=MAX_RUNTIMES + 5) == [float(n) for n in range(3, MAX_RUNTIMES + 3)]


# -- uploads ---------------------------------------------------------------------------------------


def test_an_upload_is_found_by_host_key_and_digest_until_it_is_too_old(journal: Journal, clock: Clock) -> None:
    journal.record_upload(UPLOADS + "/", "fp", DIGEST, "https://files/x.png")
    assert journal.cached_upload(UPLOADS, "fp", DIGEST, newer_than=START - 1) == ("https://files/x.png", START)
    assert journal.cached_upload(UPLOADS + "/", "fp", DIGEST, newer_than=0) == ("https://files/x.png", START)
    assert journal.cached_upload(UPLOADS, "fp", DIGEST, newer_than=START) is None  # uploaded after, not at
    assert journal.cached_upload(UPLOADS, "other-key", DIGEST, newer_than=0) is None
    assert journal.cached_upload(UPLOADS, "fp", "cd" * 32, newer_than=0) is None
    assert journal.cached_upload("https://elsewhere", "fp", DIGEST, newer_than=0) is None


def test_a_new_upload_of_the_same_bytes_replaces_the_record(journal: Journal, clock: Clock) -> None:
    journal.record_upload(UPLOADS, "fp", DIGEST, "https://files/old.png", uploaded_at=START - 100)
    journal.record_upload(UPLOADS, "fp", DIGEST, "https://files/new.png", uploaded_at=START - 50)
    assert journal.cached_upload(UPLOADS, "fp", DIGEST, newer_than=0) == ("https://files/new.png", START - 50)
    with sqlite3.connect(journal.path) as db:
        assert db.execute("SELECT count(*) FROM uploads").fetchone()[0] == 1


def test_uploads_older_than_the_retention_are_dropped(journal: Journal, clock: Clock) -> None:
    edge, expired = START - UPLOAD_RETENTION_SECONDS, START - UPLOAD_RETENTION_SECONDS - 1
    journal.record_upload(UPLOADS, "fp", "01" * 32, "https://files/edge.png", uploaded_at=edge)
    journal.record_upload(UPLOADS, "fp", "02" * 32, "https://files/expired.png", uploaded_at=expired)
    assert journal.cached_upload(UPLOADS, "fp", "01" * 32, newer_than=0) == ("https://files/edge.png", edge)
    assert journal.cached_upload(UPLOADS, "fp", "02" * 32, newer_than=0) is None


# -- the fallback log ------------------------------------------------------------------------------


def test_merging_an_absent_log_merges_nothing(journal: Journal) -> None:
    assert journal.merge_fallback() == 0
    assert journal.entries() == []


def test_a_merge_brings_each_final_state_in_and_empties_the_log(journal: Journal) -> None:
    log = FallbackLog.beside(journal.path)
    log.append(record("t-ok", "succeeded", urls=("https://f/1.png",), output_dir="out", key_fingerprint="fp"))
    log.append(record("t-bad", "failed", fail_code="501", fail_message="content policy"))
    log.append(record("t-done", "downloaded", urls=("https://f/2.png",), files=("out/t-done.png",)))
    assert journal.merge_fallback() == 3
    assert log.records() == [] and journal.merge_fallback() == 0
    found = {entry.task_id: entry for entry in journal.entries()}
    ok, bad, done = found["t-ok"], found["t-bad"], found["t-done"]
    assert (ok.state, ok.urls, ok.output_dir, ok.key_fingerprint, ok.submitted_at) == (
        S.SUCCEEDED,
        ("https://f/1.png",),
        "out",
        "fp",
        5.0,
    )
    assert (bad.state, bad.fail_code, bad.fail_message) == (S.FAILED, "501", "content policy")
    assert (done.state, done.urls, done.files) == (S.DOWNLOADED, ("https://f/2.png",), ("out/t-done.png",))


def test_a_merge_completes_the_entry_the_record_names(journal: Journal) -> None:
    waiting = begin(journal)
    FallbackLog.beside(journal.path).append(record("t-1", "submitted", entry_id=waiting))
    assert journal.merge_fallback() == 1
    assert [(entry.id, entry.state, entry.task_id) for entry in journal.entries()] == [(waiting, S.SUBMITTED, "t-1")]


def test_a_merge_never_reuses_an_entry_of_another_task(journal: Journal) -> None:
    taken = begin(journal)
    journal.submitted(taken, handle("t-other"))
    FallbackLog.beside(journal.path).append(record("t-1", "submitted", entry_id=taken))
    assert journal.merge_fallback() == 1
    (merged,) = [entry for entry in journal.entries() if entry.task_id == "t-1"]
    assert merged.id != taken and merged.state is S.SUBMITTED
    assert journal.get(taken).task_id == "t-other"


def test_a_merge_keeps_what_the_journal_already_knows_better(journal: Journal) -> None:
    entry_id = begin(journal)
    journal.submitted(entry_id, handle("t-1"))
    journal.observed(entry_id, succeeded("https://f/1.png"))
    journal.downloaded(entry_id, [Path("out/t-1.png")])
    before = journal.get(entry_id)
    log = FallbackLog.beside(journal.path)
    log.append(record("t-1", "succeeded", urls=("https://f/stale.png",)))
    assert journal.merge_fallback() == 1
    after = journal.get(entry_id)
    assert (after.state, after.urls, after.files) == (before.state, before.urls, before.files)
    assert len(journal.entries()) == 1 and log.records() == []


def test_a_log_that_cannot_be_merged_yet_stays_and_the_journal_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    with sqlite3.connect(path) as db:  # new entries cannot be written for now
        db.execute("CREATE TRIGGER no_entries BEFORE INSERT ON tasks BEGIN SELECT RAISE(ABORT, 'no room'); END")
    log = FallbackLog.beside(path)
    log.append(record("t-1", "submitted"))
    with Journal(path) as journal:
        assert journal.entries() == [] and [kept.task_id for kept in log.records()] == ["t-1"]
        with pytest.raises(JournalError, match="no room"):
            journal.merge_fallback()
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER no_entries")
    with Journal(path) as journal:
        assert [entry.task_id for entry in journal.entries()] == ["t-1"] and log.records() == []


def test_opening_a_journal_merges_its_log(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    naming = Naming(template="{prompt_slug}_{task}")
    FallbackLog.beside(path).append(record("t-1", "submitted", item_key="line-1", naming=naming))
    with Journal(path) as journal:
        (entry,) = journal.entries()
        assert (entry.task_id, entry.state, entry.item_key, entry.model) == ("t-1", S.SUBMITTED, "line-1", "m")
        assert entry.naming == naming
    assert FallbackLog.beside(path).records() == []
