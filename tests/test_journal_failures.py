"""A journal that fails once a create was answered never loses the paid task (issue: edges, item 1)."""

from __future__ import annotations

import io
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kiecore.cli import main
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.errors import DeadlineExceededError, SubmitUncertainError
from kiecore.journal import Journal, JournalError, JournalState
from kiecore.journal_fallback import FallbackLog, FallbackRecord
from kiecore.model import Profile
from kiecore.testing.endtoend import check_image
from tests.chaos import FaultyJournal
from tests.unit.test_journal_store import damage_pages

KEY = "sk-journal-failure-key-99"


def creates(emulator: Emulator) -> int:
    return sum(1 for request in emulator.requests if request.server == "api" and request.method == "POST")


@pytest.fixture
def make(kie_client_factory: Any) -> Any:
    """Clients whose "could not record" lines are kept for the test to read."""

    def build(journal: Journal) -> tuple[Client, io.StringIO]:
        notices = io.StringIO()
        return kie_client_factory(KEY, journal, notices=notices), notices

    return build


def leave_unjournalled_task(make: Any, kie_emulator: Emulator, path: Path, out: Path) -> None:
    """A task Kie runs that only the fallback log knows: the journal failed and the generation timed out."""
    kie_emulator.task_seconds = 2.0
    with FaultyJournal(path, fail_after_create="database or disk is full") as journal:
        client, _ = make(journal)
        with pytest.raises(DeadlineExceededError):
            client.generate("nano-banana-pro", "a fox", output_dir=out, timeout=0.3)
    (record,) = FallbackLog.beside(path).records()
    assert record.state == "submitted"
    kie_emulator.task_seconds = 0.2


def test_a_lock_held_past_the_busy_timeout_is_waited_out(make: Any, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    # another process holds the write lock for two busy timeouts just as the task id is to be recorded
    with FaultyJournal(path, lock_after_create=0.4, times=1, busy_timeout=0.2) as journal:
        client, stderr = make(journal)
        result = client.generate("nano-banana-pro", "a fox", output_dir=tmp_path / "out")
        (entry,) = journal.entries()
    assert journal.fired == 1 and entry.state is JournalState.DOWNLOADED and entry.task_id == result.handle.task_id
    assert stderr.getvalue() == "" and FallbackLog.beside(path).records() == []


@pytest.mark.parametrize("error", ["database or disk is full", "database disk image is malformed"])
def test_a_failing_journal_after_the_create_keeps_the_task(
    make: Any, kie_emulator: Emulator, tmp_path: Path, error: str
) -> None:
    path = tmp_path / "journal.sqlite3"
    with FaultyJournal(path, fail_after_create=error) as journal:
        client, stderr = make(journal)
        result = client.generate("seedream", "two foxes", num_images=2, output_dir=tmp_path / "out")
    assert len(result.files) == 2 and all(check_image(file) for file in result.files)
    said = stderr.getvalue()
    assert said.count("\n") == 1 and result.handle.task_id in said and "kie resume" in said
    assert f"kie status bytedance/seedream-v4-text-to-image {result.handle.task_id}" in said and KEY not in said
    (record,) = FallbackLog.beside(path).records()
    assert (record.task_id, record.state, len(record.files)) == (result.handle.task_id, "downloaded", 2)
    with Journal(path) as reopened:  # the next open merges the fallback log in
        (entry,) = reopened.entries()
        assert entry.state is JournalState.DOWNLOADED and entry.task_id == result.handle.task_id
        assert [Path(file) for file in entry.files] == list(result.files)
    assert FallbackLog.beside(path).records() == [] and creates(kie_emulator) == 1


def test_an_interrupted_unjournalled_task_is_resumed_from_the_fallback_log(
    make: Any, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.sqlite3"
    leave_unjournalled_task(make, kie_emulator, path, tmp_path / "out")
    monkeypatch.setenv("KIE_API_KEY", KEY)
    assert main(["--journal", str(path), "tasks"]) == 0  # the merge puts it back in the journal
    assert main(["--journal", str(path), "resume", "--poll-interval", "0.05"]) == 0
    files = [file for file in (tmp_path / "out").iterdir() if not file.name.endswith(".kie.json")]
    assert len(files) == 1 and check_image(files[0]) and creates(kie_emulator) == 1
    assert (tmp_path / "out" / f"{files[0].stem}.kie.json").is_file()  # its sidecar beside it


def test_resume_reads_the_fallback_log_while_the_journal_cannot_be_opened(
    make: Any, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    path = tmp_path / "journal.sqlite3"
    leave_unjournalled_task(make, kie_emulator, path, tmp_path / "out")
    path.write_bytes(b"damaged beyond repair" * 200)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    monkeypatch.setenv("KIE_API_KEY", KEY)
    assert main(["--journal", str(path), "tasks"]) == 1
    assert "fallback log" in capsys.readouterr().out
    assert main(["--journal", str(path), "resume", "--poll-interval", "0.05"]) == 1  # the journal is still broken
    files = [file for file in (tmp_path / "out").iterdir() if not file.name.endswith(".kie.json")]
    assert len(files) == 1 and check_image(files[0]) and creates(kie_emulator) == 1
    assert (tmp_path / "out" / f"{files[0].stem}.kie.json").is_file()  # its sidecar beside it


def test_a_journal_that_cannot_record_is_refused_before_anything_is_sent(
    make: Any, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = tmp_path / "damaged.sqlite3"
    damage_pages(damaged)
    with Journal(damaged) as journal, pytest.raises(JournalError, match=r"damaged|malformed"):
        make(journal)[0].generate("nano-banana-pro", "a fox", output_dir=tmp_path)

    locked = tmp_path / "locked.sqlite3"
    with Journal(locked, busy_timeout=0.1) as journal:
        blocker = sqlite3.connect(locked, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(JournalError, match="locked"):
                make(journal)[0].generate("nano-banana-pro", "a fox", output_dir=tmp_path)
        finally:
            blocker.rollback()
            blocker.close()

    full = tmp_path / "full.sqlite3"
    with Journal(full) as journal:
        real = shutil.disk_usage
        monkeypatch.setattr(shutil, "disk_usage", lambda where: real(where)._replace(free=4096))
        with pytest.raises(JournalError, match="full"):
            make(journal)[0].generate("nano-banana-pro", "a fox", output_dir=tmp_path)
    assert creates(kie_emulator) == 0


def test_a_lock_that_outlasts_the_retries_falls_back_then_catches_up(make: Any, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with FaultyJournal(path, lock_after_create=0.8, times=1, busy_timeout=0.1) as journal:
        client, stderr = make(journal)
        result = client.generate("nano-banana-pro", "a fox", output_dir=tmp_path / "out")
        (entry,) = journal.entries()
    assert result.handle.task_id in stderr.getvalue()  # announced while the lock held
    assert entry.state is JournalState.DOWNLOADED and entry.task_id == result.handle.task_id  # then caught up
    assert FallbackLog.beside(path).records() == []


def test_a_create_answered_with_a_journalled_task_id_is_reported_clearly(
    make: Any, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        client, _ = make(journal)
        first = client.submit("nano-banana-pro", prompt="a fox")
        real = client.transport.send

        def replayed(request: Any, **kwargs: Any) -> Any:  # a proxy answering with an earlier reply
            reply = real(request, **kwargs)
            if request.method == "POST":
                reply["data"]["taskId"] = first.task_id
            return reply

        monkeypatch.setattr(client.transport, "send", replayed)
        with pytest.raises(SubmitUncertainError, match=f"task id {first.task_id}.*already journal entry"):
            client.submit("nano-banana-pro", prompt="another fox")
        states = sorted(entry.state.value for entry in journal.entries())
    assert states == ["submitted", "uncertain"]


def test_a_fallback_record_that_makes_a_new_entry_keeps_its_batch_item_key(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    record = FallbackRecord(
        base_url="https://api.kie.ai",
        task_id="t1",
        model="nano-banana-pro",
        profile=Profile.LIVE,
        submitted_at=1.0,
        state="submitted",
        item_key="line-1",
    )
    FallbackLog.beside(path).append(record)
    with Journal(path) as journal:  # the open merges it in, as a new entry
        entry = journal.find_item("line-1")
    assert entry is not None and entry.task_id == "t1" and entry.state is JournalState.SUBMITTED
