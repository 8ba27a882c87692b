"""`kie resume` never blocks on one entry, fetches only what is missing, never races (issue: edges, 5-7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from kiecore.cli import main
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.errors import DownloadError, SubmitUncertainError, TaskBusyError, WrongKeyError
from kiecore.journal import Journal, JournalState
from kiecore.model import TaskHandle, TaskState, TaskStatus
from kiecore.registry import Registry
from kiecore.testing.endtoend import check_image

KEY = "sk-resume-key-0123456789"


@pytest.fixture
def client(kie_client_factory: Any, journal: Journal) -> Client:
    client: Client = kie_client_factory(KEY, journal)
    return client


@pytest.fixture
def kie(kie_emulator: Emulator, journal: Journal, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    monkeypatch.setenv("KIE_API_KEY", KEY)

    def run(*args: str) -> tuple[int, str, str]:
        extra = ["--poll-interval", "0.05"] if args[0] == "resume" else []
        code = main(["--journal", str(journal.path), *args, *extra])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def succeeded(client: Client, journal: Journal, model: str, **params: Any) -> Any:
    """A task of ``model`` that succeeded at Kie and was never downloaded."""
    handle = client.submit(model, prompt="a fox", **params)
    status = client.wait(handle)
    (entry,) = [entry for entry in journal.entries() if entry.task_id == handle.task_id]
    assert entry.state is JournalState.SUCCEEDED
    return handle, status, entry


def overlong_entry(
    client: Client, journal: Journal, handle: TaskHandle, status: TaskStatus, request: Any, folder: Path
) -> int:
    """A journal entry like ``handle``'s succeeded task, but with a task id no status query can carry."""
    entry_id = journal.begin_submit(
        model=handle.model,
        profile=handle.profile,
        base_url=client.transport.base_url,
        request=request,
        output_dir=str(folder),
        key_fingerprint=client.key_fingerprint,
    )
    journal.submitted(entry_id, attrs.evolve(handle, task_id="t" * 5000))
    journal.observed(entry_id, status)
    return entry_id


def downloads(emulator: Emulator) -> list[str]:
    return [request.path for request in emulator.requests if request.server == "files"]


def test_one_bad_entry_never_blocks_the_others(
    client: Client, journal: Journal, kie: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    bad, _, bad_entry = succeeded(client, journal, "nano-banana-pro")
    _, _, good_entry = succeeded(client, journal, "nano-banana-pro")
    with journal._write() as db:  # an unwritable old output folder, and a message with a lone surrogate
        db.execute("UPDATE tasks SET output_dir = ? WHERE id = ?", (str(blocked), bad_entry.id))
        db.execute("UPDATE tasks SET output_dir = ? WHERE id = ?", (str(tmp_path / "good"), good_entry.id))
    journal.note_error(good_entry.id, "odd \udcff text from the server")
    code, out, err = kie("resume")
    assert code == 2 and bad.task_id in err and "Traceback" not in err  # its folder, refused before anything
    assert f"cannot save images in {blocked}" in err
    (saved,) = [Path(line) for line in out.splitlines()]
    assert saved.parent == tmp_path / "good" and check_image(saved)
    assert journal.get(good_entry.id).state is JournalState.DOWNLOADED
    assert journal.get(bad_entry.id).state is JournalState.SUCCEEDED  # left for a later resume
    assert journal.get(good_entry.id).error == "odd ? text from the server"  # stored with a replacement
    code, out, _ = kie("tasks", "--json")  # JSON Lines: one entry a line, the odd text escaped
    listed = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {entry["id"] for entry in listed} >= {good_entry.id, bad_entry.id}


def test_the_exit_code_is_the_most_severe_of_the_entries_not_the_largest(
    client: Client, journal: Journal, kie: Any, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    handle, status, refused = succeeded(client, journal, "nano-banana-pro")  # its folder: exit 2
    with journal._write() as db:
        db.execute("UPDATE tasks SET output_dir = ? WHERE id = ?", (str(blocked), refused.id))
    overlong_entry(client, journal, handle, status, refused.request, tmp_path / "out")  # exit 1
    code, out, err = kie("resume")
    assert code == 1 and out == "" and err.count("kie: error:") == 2, err  # 1 is worse than 2 (docs/cli.md)


def test_an_unexpected_failure_of_one_entry_is_one_masked_line_and_the_rest_go_on(
    client: Client, journal: Journal, kie: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _, _ = succeeded(client, journal, "nano-banana-pro")
    succeeded(client, journal, "nano-banana-pro")
    real = Client.resume

    def resume(self: Client, task: Any, **options: Any) -> Any:
        if task.task_id == first.task_id:
            raise RuntimeError(f"a bug that quotes the header Bearer {KEY}")
        return real(self, task, **options)

    monkeypatch.setattr(Client, "resume", resume)
    code, out, err = kie("resume", "-o", str(tmp_path / "out"), "--json")
    assert code == 1 and KEY not in err and KEY not in out and "Traceback" not in err
    assert f"task {first.task_id}" in err and "internal error: RuntimeError" in err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["error"]["type"] for line in lines if "error" in line] == ["RuntimeError"]
    assert len([line for line in lines if "files" in line]) == 1  # the other entry was delivered


def test_an_overlong_task_id_is_reported_not_fatal(client: Client, journal: Journal, kie: Any, tmp_path: Path) -> None:
    handle, status, entry = succeeded(client, journal, "nano-banana-pro")
    overlong_entry(client, journal, handle, status, entry.request, tmp_path / "long")
    code, out, err = kie("resume", "-o", str(tmp_path / "out"))
    assert code == 1 and "Traceback" not in err and "internal error" not in err
    assert len(out.splitlines()) == 1  # the ordinary entry was still delivered


def test_abandoned_entries_are_no_longer_announced_or_resumed(
    client: Client, journal: Journal, kie: Any, kie_emulator: Emulator
) -> None:
    kie_emulator.inject("drop_after_create", on="submit")
    with pytest.raises(SubmitUncertainError):
        client.submit("nano-banana-pro", prompt="a fox")
    handle, _, entry = succeeded(client, journal, "nano-banana-pro")
    (uncertain,) = journal.attention()
    code, _, err = kie("abandon", str(uncertain.id), handle.task_id)
    assert code == 0, err
    assert journal.get(entry.id).state is JournalState.ABANDONED and journal.attention() == []
    code, out, err = kie("resume")
    assert code == 0 and out == "" and "nothing to resume" in err and "may or may not" not in err
    assert "abandoned" in kie("tasks")[1]
    assert kie("abandon", "no-such-task")[0] == 2


def test_resume_fetches_only_the_missing_results(
    client: Client, journal: Journal, kie_emulator: Emulator, tmp_path: Path
) -> None:
    handle, status, entry = succeeded(client, journal, "seedream", num_images=2)
    out = tmp_path / "out"
    first = client.downloader.fetch(status.urls[0], out, lambda ext: f"{handle.task_id}_1.{ext}")
    journal.saved(entry.id, first)
    kie_emulator.inject("expire", times=1)  # would make the first result's link fail if it were fetched again
    before = len(downloads(kie_emulator))
    result = client.resume(journal.get(entry.id), output_dir=out)
    fetched = downloads(kie_emulator)[before:]
    assert result.files[0] == first and len(result.files) == 2 and all(check_image(f) for f in result.files)
    assert fetched and all(status.urls[0].split("/")[-1] not in path for path in fetched)


def test_every_missing_result_is_tried_even_when_one_fails(
    client: Client, journal: Journal, kie_emulator: Emulator, tmp_path: Path
) -> None:
    handle, status, entry = succeeded(client, journal, "seedream", num_images=2)
    broken = TaskStatus(state=TaskState.SUCCEEDED, urls=(f"{kie_emulator.files_url}/files/nope/x.png", status.urls[1]))
    with pytest.raises(DownloadError, match=r"could not download|expired"):
        client.download(handle, broken, tmp_path)
    assert any(path.name.startswith(f"{handle.task_id}_2.") for path in tmp_path.iterdir())
    assert journal.get(entry.id).state is JournalState.SUCCEEDED and len(journal.get(entry.id).files) == 1


def test_a_second_resume_of_a_claimed_task_is_refused(client: Client, journal: Journal, tmp_path: Path) -> None:
    _, _, entry = succeeded(client, journal, "nano-banana-pro")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        with journal._write() as db:  # another live process claimed it
            db.execute("UPDATE tasks SET pid = ? WHERE id = ?", (holder.pid, entry.id))
        with pytest.raises(TaskBusyError):
            client.resume(journal.get(entry.id), output_dir=tmp_path)
        assert journal.claim(entry.id) is False
    finally:
        holder.communicate(b"")
    assert journal.claim(entry.id) is True  # its owner is gone: this process takes it
    assert len(client.resume(journal.get(entry.id), output_dir=tmp_path).files) == 1


def test_resume_sends_the_key_only_where_it_was_used(
    client: Client,
    journal: Journal,
    kie_emulator: Emulator,
    kie_registry: Registry,
    kie: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, _, entry = succeeded(client, journal, "nano-banana-pro")
    with (
        Client(
            api_key="sk-another-key-987654",
            base_url=kie_emulator.base_url,
            registry=kie_registry,
            journal=journal,
            rate_limits=None,
        ) as other,
        pytest.raises(WrongKeyError),
    ):
        other.resume(entry, output_dir=tmp_path)
    monkeypatch.setenv("KIE_API_KEY", "sk-another-key-987654")
    main(["--journal", str(journal.path), "resume", "--poll-interval", "0.05"])
    assert journal.get(entry.id).state is JournalState.SUCCEEDED and not list(tmp_path.glob("*.png"))


def test_partials_of_another_task_are_left_alone(client: Client, journal: Journal, tmp_path: Path) -> None:
    handle, _, entry = succeeded(client, journal, "nano-banana-pro")
    neighbour = tmp_path / f".{handle.task_id}0.{os.getpid()}.abc.part"  # a task whose id extends this one's
    neighbour.write_bytes(b"in progress")
    client.resume(journal.get(entry.id), output_dir=tmp_path)
    assert neighbour.exists()
