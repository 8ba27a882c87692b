"""The task journal end to end: moves, listings, durability across processes, privacy, location and upgrades."""

from __future__ import annotations

import inspect
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kiecore.journal import (
    SCHEMA_VERSION,
    STALE_SUBMIT_SECONDS,
    Journal,
    JournalEntry,
    JournalError,
    JournalState,
    default_path,
    process_alive,
)
from kiecore.model import GenerationRequest, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.naming import Naming
from kiecore.ratelimit import account_fingerprint

BASE = "https://api.kie.ai"
REPO = Path(__file__).resolve().parent.parent
#: The sample key the CLI tests use: it must never reach the journal.
SAMPLE_KEY = "sk-cli-test-key-0123456789"
DOCUMENTED_COLUMNS = {
    "id",
    "model",
    "profile",
    "base_url",
    "request",
    "output_dir",
    "task_id",
    "state",
    "urls",
    "files",
    "fail_code",
    "fail_message",
    "error",
    "submitted_at",
    "created_at",
    "updated_at",
    "pid",
    "key_fingerprint",
    "item_key",
    "naming",
}
S = JournalState


def begin(journal: Journal, prompt: str = "a red fox", extra: dict[str, object] | None = None) -> int:
    request = GenerationRequest(prompt=prompt, extra=extra)
    return journal.begin_submit(
        model="nano-banana", profile=Profile.LIVE, base_url=BASE + "/", request=request, output_dir="out"
    )


def handle(task_id: str = "task-1") -> TaskHandle:
    return TaskHandle(model="google/nano-banana", task_id=task_id, profile=Profile.REFERENCE, submitted_at=1000.0)


def succeeded(*urls: str) -> TaskStatus:
    return TaskStatus(state=TaskState.SUCCEEDED, urls=urls or ("https://files.example/a.png",))


def run_child(journal_path: Path, body: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    script = "from kiecore.journal import Journal\nfrom kiecore.model import *\n" + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(REPO), "JOURNAL": str(journal_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)
    if check:
        assert done.returncode == 0, done.stderr
    return done


# -- transitions ---------------------------------------------------------------------------------------


def test_a_task_goes_from_submitting_to_downloaded(journal: Journal) -> None:
    entry_id = begin(journal)
    entry = journal.get(entry_id)
    assert entry.state is S.SUBMITTING and entry.task_id is None and entry.handle is None
    assert entry.base_url == BASE and entry.output_dir == "out" and entry.pid == os.getpid()

    journal.submitted(entry_id, handle())
    entry = journal.get(entry_id)
    assert entry.state is S.SUBMITTED and entry.handle == handle()
    assert entry.model == "google/nano-banana" and entry.profile is Profile.REFERENCE and entry.submitted_at == 1000.0

    journal.observed(entry_id, TaskStatus(state=TaskState.RUNNING, progress=0.5))
    assert journal.get(entry_id).state is S.SUBMITTED
    journal.note_error(entry_id, "timed out after 60s\ntraceback noise")
    assert journal.get(entry_id).error == "timed out after 60s"

    journal.observed(entry_id, succeeded("https://f/1.png", "https://f/2.png"))
    entry = journal.get(entry_id)
    assert entry.state is S.SUCCEEDED and entry.urls == ("https://f/1.png", "https://f/2.png")
    journal.observed(entry_id, succeeded("https://f/fresh.png"))  # fresh links replace expired ones
    assert journal.get(entry_id).urls == ("https://f/fresh.png",)

    journal.downloaded(entry_id, [Path("out/task-1.png")])
    journal.downloaded(entry_id, [Path("out/task-1.png")])  # idempotent
    entry = journal.get(entry_id)
    assert entry.state is S.DOWNLOADED and entry.files == ("out/task-1.png",)
    assert entry.created_at <= entry.updated_at
    journal.observed(entry_id, succeeded())  # a late observation changes nothing
    assert journal.get(entry_id).state is S.DOWNLOADED

    with pytest.raises(ValueError):
        journal.submitted(entry_id, handle())
    with pytest.raises(ValueError):
        journal.observed(entry_id, TaskStatus(state=TaskState.FAILED))
    with pytest.raises(ValueError):
        journal.abandon(entry_id)


def test_failed_refused_and_uncertain(journal: Journal) -> None:
    failed = begin(journal)
    journal.submitted(failed, handle("t-failed"))
    status = TaskStatus(state=TaskState.FAILED, fail_code="501", fail_message="content policy")
    journal.observed(failed, status)
    journal.observed(failed, status)
    entry = journal.get(failed)
    assert (entry.state, entry.fail_code, entry.fail_message) == (S.FAILED, "501", "content policy")
    with pytest.raises(ValueError):
        journal.observed(failed, succeeded())
    with pytest.raises(ValueError):
        journal.downloaded(failed, [])

    refused = begin(journal)
    journal.refused(refused, "insufficient credits")
    journal.refused(refused, "insufficient credits")
    assert journal.get(refused).state is S.REFUSED and journal.get(refused).error == "insufficient credits"
    moves: list[Callable[[], None]] = [
        lambda: journal.submitted(refused, handle("t-x")),
        lambda: journal.uncertain(refused, "?"),
        lambda: journal.abandon(refused),
        lambda: journal.observed(refused, succeeded()),
    ]
    for move in moves:
        with pytest.raises(ValueError):
            move()

    lost = begin(journal)
    journal.uncertain(lost, "connection reset after sending")
    journal.uncertain(lost, "connection reset after sending")
    assert journal.get(lost).state is S.UNCERTAIN
    with pytest.raises(ValueError):
        journal.refused(lost, "no")
    with pytest.raises(ValueError):
        journal.observed(lost, succeeded())  # no task id yet
    journal.submitted(lost, handle("t-found"))  # someone found the task in their Kie history
    assert journal.get(lost).state is S.SUBMITTED
    with pytest.raises(ValueError):
        journal.uncertain(lost, "too late")


def test_submitted_is_idempotent_but_refuses_duplicates(journal: Journal) -> None:
    first, second = begin(journal), begin(journal)
    journal.submitted(first, handle("t-1"))
    journal.submitted(first, handle("t-1"))
    with pytest.raises(ValueError, match="t-2"):
        journal.submitted(first, handle("t-2"))
    with pytest.raises(ValueError, match="duplicate"):
        journal.submitted(second, handle("t-1"))
    assert journal.get(second).state is S.SUBMITTING
    # The same task id at another host is another task.
    other = journal.begin_submit(
        model="m", profile=Profile.LIVE, base_url="http://127.0.0.1:9", request=GenerationRequest(), output_dir=None
    )
    journal.submitted(other, handle("t-1"))
    assert journal.find(BASE, "t-1") == journal.get(first)
    assert journal.find(BASE + "/", "t-1") == journal.get(first)
    assert journal.find("http://127.0.0.1:9", "t-1") == journal.get(other)
    assert journal.find(BASE, "nope") is None


def test_abandon_is_sticky(journal: Journal) -> None:
    entry_id = begin(journal)
    journal.abandon(entry_id)
    journal.abandon(entry_id)
    # A process that was still submitting records what it learns without resurrecting the entry.
    journal.submitted(entry_id, handle())
    journal.observed(entry_id, succeeded("https://f/1.png"))
    entry = journal.get(entry_id)
    assert (entry.state, entry.task_id, entry.urls) == (S.ABANDONED, "task-1", ("https://f/1.png",))
    journal.downloaded(entry_id, [Path("out/task-1.png")])
    assert journal.get(entry_id).state is S.DOWNLOADED


def test_unknown_entries_and_closed_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    with pytest.raises(KeyError):
        journal.get(42)
    with pytest.raises(KeyError):
        journal.abandon(42)
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.entries()


def test_requests_round_trip_through_json(journal: Journal) -> None:
    request = GenerationRequest(
        prompt="ü and 漢字",
        aspect_ratio="16:9",
        num_images=2,
        seed=7,
        image_urls=("https://img/1.png", "https://img/2.png"),
        callback_url="https://example.com/hook",
        extra={"isEnhance": True, "style": {"weights": [0.5, 1]}, "n": None},
    )
    entry_id = journal.begin_submit(
        model="m", profile=Profile.REFERENCE, base_url=BASE, request=request, output_dir=None
    )
    entry = journal.get(entry_id)
    assert entry.request == request and entry.request.extra == request.extra
    assert entry.profile is Profile.REFERENCE and entry.output_dir is None


# -- listing -------------------------------------------------------------------------------------------


def test_entries_newest_first_with_filters(journal: Journal) -> None:
    ids = [begin(journal, f"p{n}") for n in range(5)]
    journal.submitted(ids[1], handle("t1"))
    journal.submitted(ids[3], handle("t3"))
    journal.refused(ids[4], "no")
    assert [entry.id for entry in journal.entries()] == ids[::-1]
    assert [entry.id for entry in journal.entries(limit=2)] == [ids[4], ids[3]]
    assert [entry.id for entry in journal.entries(states={S.SUBMITTED})] == [ids[3], ids[1]]
    assert [entry.id for entry in journal.entries(states=[S.SUBMITTED, S.REFUSED], limit=2)] == [ids[4], ids[3]]
    assert journal.entries(states=()) == []


def test_resumable_and_attention(journal: Journal) -> None:
    waiting, done_at_kie, finished, lost, live = (begin(journal, str(n)) for n in range(5))
    journal.submitted(waiting, handle("t-wait"))
    journal.submitted(done_at_kie, handle("t-done"))
    journal.observed(done_at_kie, succeeded())
    journal.submitted(finished, handle("t-fin"))
    journal.observed(finished, succeeded())
    journal.downloaded(finished, [])
    journal.uncertain(lost, "read timeout")
    assert [entry.id for entry in journal.resumable()] == [waiting, done_at_kie]  # oldest first
    # ``live`` is submitting in this (live) process, so it is no one's to worry about yet.
    assert [(entry.id, entry.state) for entry in journal.attention()] == [(lost, S.UNCERTAIN)]
    assert live not in [entry.id for entry in journal.attention()]

    with sqlite3.connect(journal.path) as db:  # ...until it has been submitting for too long
        db.execute("UPDATE tasks SET created_at = ? WHERE id = ?", (time.time() - STALE_SUBMIT_SECONDS - 1, live))
    stale = journal.attention()
    assert [(entry.id, entry.state) for entry in stale] == [(live, S.UNCERTAIN), (lost, S.UNCERTAIN)]
    assert stale[0].error and "may exist" in stale[0].error
    assert journal.get(live).state is S.SUBMITTING  # reported, not rewritten
    journal.abandon(live)
    journal.abandon(lost)
    assert journal.attention() == []


def test_a_submit_from_a_dead_process_needs_attention(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    run_child(
        path,
        """
        import os, signal
        journal = Journal(os.environ["JOURNAL"])
        journal.begin_submit(model="m", profile=Profile.LIVE, base_url="https://api.kie.ai",
                             request=GenerationRequest(prompt="x"), output_dir=None)
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        check=False,
    )
    with Journal(path) as journal:
        (entry,) = journal.attention()
        assert entry.state is S.UNCERTAIN and entry.pid != os.getpid() and process_alive(entry.pid or 0) is False
        assert entry.error and "died" in entry.error
        assert journal.get(entry.id).state is S.SUBMITTING


# -- durability and concurrency ------------------------------------------------------------------------


def test_a_submitted_entry_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    done = run_child(
        path,
        """
        import os, signal
        journal = Journal(os.environ["JOURNAL"])
        entry = journal.begin_submit(model="m", profile=Profile.LIVE, base_url="https://api.kie.ai",
                                     request=GenerationRequest(prompt="x"), output_dir="out")
        journal.submitted(entry, TaskHandle(model="m", task_id="survivor"))
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    with Journal(path) as journal:
        entry = journal.find(BASE, "survivor")
        assert entry is not None and entry.state is S.SUBMITTED
        assert [resumable.task_id for resumable in journal.resumable()] == ["survivor"]


def test_many_threads_share_one_journal(journal: Journal) -> None:
    def work(thread: int) -> None:
        for n in range(10):
            entry_id = begin(journal, f"{thread}-{n}")
            journal.submitted(entry_id, handle(f"t-{thread}-{n}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = journal.entries(states={S.SUBMITTED})
    assert len(entries) == 200 and len({entry.task_id for entry in entries}) == 200


def test_processes_write_at_the_same_time(tmp_path: Path) -> None:
    path, gate = tmp_path / "journal.sqlite3", tmp_path / "go"
    Journal(path).close()
    script = f"""
        import os, sys, time
        from pathlib import Path
        journal = Journal(os.environ["JOURNAL"])
        while not Path({str(gate)!r}).exists():
            time.sleep(0.005)
        for n in range(40):
            entry = journal.begin_submit(model="m", profile=Profile.LIVE, base_url="https://api.kie.ai",
                                         request=GenerationRequest(prompt="x"), output_dir=None)
            journal.submitted(entry, TaskHandle(model="m", task_id=f"{{sys.argv[1]}}-{{n}}"))
        """
    env = {**os.environ, "PYTHONPATH": str(REPO), "JOURNAL": str(path)}
    code = "from kiecore.journal import Journal\nfrom kiecore.model import *\n" + textwrap.dedent(script)
    children = [
        subprocess.Popen([sys.executable, "-c", code, name], env=env, stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    gate.touch()
    for child in children:
        _, stderr = child.communicate(timeout=30)
        assert child.returncode == 0, stderr
    with Journal(path) as journal:
        task_ids = {entry.task_id for entry in journal.entries()}
    assert task_ids == {f"{name}-{n}" for name in "ab" for n in range(40)}


# -- secrets, location, permissions --------------------------------------------------------------------


def test_the_journal_never_holds_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIE_API_KEY", SAMPLE_KEY)
    parameters = set(inspect.signature(Journal.begin_submit).parameters)
    # a fingerprint (a SHA-256 digest of host and key) says which key may resume a task; never the key
    expected = {"self", "model", "profile", "base_url", "request", "output_dir", "key_fingerprint", "item_key"}
    expected.add("naming")  # how its files are named: a template or a file name, never a secret
    assert parameters == expected
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        entry_id = begin(journal, extra={"isEnhance": True, "style": "photo", "steps": 30})
        journal.submitted(entry_id, handle())
        journal.observed(entry_id, succeeded())
        journal.downloaded(entry_id, [Path("out/task-1.png")])
        upload_host = "https://kieai.redpandaai.co"
        journal.record_upload(upload_host, account_fingerprint(upload_host, SAMPLE_KEY), "ab" * 32, "https://f/x.png")
        with sqlite3.connect(path) as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
            upload_columns = {row[1] for row in db.execute("PRAGMA table_info(uploads)")}
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        raw = b"".join(file.read_bytes() for file in tmp_path.iterdir())
    assert columns == DOCUMENTED_COLUMNS and tables == {"tasks", "runtimes", "uploads"}
    assert upload_columns == {"sha256", "upload_url", "key_fingerprint", "download_url", "uploaded_at"}
    assert b"isEnhance" in raw or b"photo" in raw  # the raw bytes really hold the request...
    for secret in (SAMPLE_KEY, "Bearer", "Authorization", "x-api-key"):
        assert secret.encode() not in raw  # ...and nothing like a key or a header


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KIECORE_JOURNAL", str(tmp_path / "mine.db"))
    assert default_path() == tmp_path / "mine.db"
    monkeypatch.delenv("KIECORE_JOURNAL")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_path() == tmp_path / "data" / "kiecore" / "journal.sqlite3"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".local" / "share" / "kiecore" / "journal.sqlite3"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_path() == tmp_path / "home" / "Library" / "Application Support" / "kiecore" / "journal.sqlite3"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert default_path() == tmp_path / "local" / "kiecore" / "journal.sqlite3"
    monkeypatch.delenv("LOCALAPPDATA")
    assert default_path() == tmp_path / "home" / "AppData" / "Local" / "kiecore" / "journal.sqlite3"


def test_a_configured_journal_path_may_start_at_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KIECORE_JOURNAL", "~/journals/kie.db")
    assert default_path() == tmp_path / "home" / "journals" / "kie.db"
    monkeypatch.setenv("KIECORE_JOURNAL", "")  # set but empty: the platform's place
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", "")
    assert default_path() == tmp_path / "home" / ".local" / "share" / "kiecore" / "journal.sqlite3"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_journal_is_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KIECORE_JOURNAL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "platform", "linux")
    with Journal() as journal:
        assert journal.path == tmp_path / "data" / "kiecore" / "journal.sqlite3"
        begin(journal)
        assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
        assert all(stat.S_IMODE(file.stat().st_mode) & 0o077 == 0 for file in journal.path.parent.iterdir())
        assert stat.S_IMODE(journal.path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_a_newer_or_broken_journal_is_a_clean_error(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(JournalError, match="newer"):
        Journal(newer)
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"not a database at all" * 100)
    with pytest.raises(JournalError, match="cannot open"):
        Journal(broken)


def test_journal_uses_wal_and_a_schema_version(journal: Journal) -> None:
    begin(journal)
    with sqlite3.connect(journal.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with Journal(journal.path) as again:  # reopening keeps what is there
        assert len(again.entries()) == 1


def test_a_version_1_journal_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY, model TEXT NOT NULL, profile TEXT NOT NULL, base_url TEXT"
            " NOT NULL, request TEXT NOT NULL, output_dir TEXT, task_id TEXT, state TEXT NOT NULL, urls TEXT NOT NULL"
            " DEFAULT '[]', files TEXT NOT NULL DEFAULT '[]', fail_code TEXT, fail_message TEXT, error TEXT,"
            " submitted_at REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL, pid INTEGER)"
        )
        db.execute(
            "INSERT INTO tasks (model, profile, base_url, request, task_id, state, submitted_at, created_at,"
            " updated_at) VALUES ('m', 'live', ?, '{}', 'task-1', 'submitted', 1, 1, 1)",
            (BASE,),
        )
        db.execute("PRAGMA user_version = 1")
    with Journal(path) as journal:
        (entry,) = journal.resumable()
        assert entry.task_id == "task-1" and entry.key_fingerprint is None


def test_a_version_3_journal_gains_item_keys(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    with Journal(path) as journal:
        old = begin(journal)
        journal.submitted(old, handle())
    with sqlite3.connect(path) as db:  # what version 3 had: no item_key column and no index on it, no naming
        db.execute("DROP INDEX tasks_item_key")
        db.execute("ALTER TABLE tasks DROP COLUMN item_key")
        db.execute("ALTER TABLE tasks DROP COLUMN naming")
        db.execute("PRAGMA user_version = 3")
    with Journal(path) as journal:
        (entry,) = journal.resumable()
        assert entry.id == old and entry.item_key is None
        new = journal.begin_submit(
            model="m", profile=Profile.LIVE, base_url=BASE, request=GenerationRequest(), output_dir=None, item_key="k"
        )
        found = journal.find_item("k")
        assert found is not None and found.id == new and found.item_key == "k"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {row[1] for row in db.execute("PRAGMA index_list(tasks)")}
    assert "tasks_item_key" in indexes


def test_a_version_5_journal_gains_namings_and_its_entries_keep_the_default(tmp_path: Path) -> None:
    path = tmp_path / "v5.sqlite3"
    with Journal(path) as journal:
        old = begin(journal)
        journal.submitted(old, handle())
    with sqlite3.connect(path) as db:  # what version 5 had: no naming column
        db.execute("ALTER TABLE tasks DROP COLUMN naming")
        db.execute("PRAGMA user_version = 5")
    named = Naming(template="{prompt_slug}_{task}")
    with Journal(path) as journal:
        assert journal.get(old).naming == Naming()
        new = journal.begin_submit(
            model="m", profile=Profile.LIVE, base_url=BASE, request=GenerationRequest(), output_dir=None, naming=named
        )
        assert journal.get(new).naming == named
        with journal._write() as db:  # a naming a later kiecore wrote, that this one cannot read
            db.execute("UPDATE tasks SET naming = ? WHERE id = ?", ('{"template": "{unknown}"}', old))
        assert journal.get(old).naming == Naming()  # the default, and the other entries still read
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_move_output_records_the_new_folder_in_any_state(journal: Journal, tmp_path: Path) -> None:
    entry_id = begin(journal)
    journal.submitted(entry_id, handle())
    journal.move_output(entry_id, tmp_path / "later")
    assert journal.get(entry_id).output_dir == str(tmp_path / "later")
    assert journal.get(entry_id).state is S.SUBMITTED
    journal.observed(entry_id, succeeded())
    journal.downloaded(entry_id, [tmp_path / "later" / "task-1.png"])
    journal.move_output(entry_id, "elsewhere")
    assert journal.get(entry_id).output_dir == "elsewhere" and journal.get(entry_id).state is S.DOWNLOADED
    with pytest.raises(KeyError):
        journal.move_output(9999, "x")


def test_find_item_gives_the_newest_entry_of_an_item(journal: Journal) -> None:
    def begin_item(key: str | None) -> int:
        return journal.begin_submit(
            model="m", profile=Profile.LIVE, base_url=BASE, request=GenerationRequest(), output_dir=None, item_key=key
        )

    assert journal.find_item("line-1") is None
    first = begin_item("line-1")
    journal.refused(first, "no credits")
    begin_item(None)
    other = begin_item("line-2")
    second = begin_item("line-1")
    found = journal.find_item("line-1")
    assert found is not None and (found.id, found.state, found.item_key) == (second, S.SUBMITTING, "line-1")
    assert journal.get(first).item_key == "line-1" and journal.get(other).item_key == "line-2"
    assert journal.find_item("line-3") is None
    journal.submitted(second, handle())
    found = journal.find_item("line-1")
    assert found is not None and found.state is S.SUBMITTED and found.task_id == "task-1"


def test_entries_are_plain_values(journal: Journal) -> None:
    entry = journal.get(begin(journal))
    assert isinstance(entry, JournalEntry)
    assert entry == journal.get(entry.id)
