"""Resuming, downloading and abandoning known tasks against a scripted transport, with results already on disk."""

from __future__ import annotations

import io
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kiecore import sidecar
from kiecore.client import Client
from kiecore.errors import (
    DeadlineExceededError,
    DownloadError,
    ServerError,
    TaskBusyError,
    UsageError,
    WrongKeyError,
)
from kiecore.journal import Journal, JournalEntry, JournalState
from kiecore.model import GenerationRequest, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.naming import Naming
from kiecore.registry import Registry
from kiecore.testing.scripted import Script, ScriptedTransport
from tests.unit.test_client_calls import RUNNING, Hooked, ticking
from tests.unit.test_client_policy import STATUS, handle, ok

#: A result URL on a private address: the downloader refuses it at once, so a result that is not on disk fails
#: without any connection being made.
URL = "https://10.255.0.1/files/t1/a.png"
SUCCEEDED = ok({"state": "success", "resultJson": f'{{"resultUrls": ["{URL}"]}}'})
DONE = TaskStatus(state=TaskState.SUCCEEDED, urls=(URL,))
FOX = GenerationRequest(prompt="a fox")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # "." is the test's own folder


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        yield opened


def client(registry: Registry, script: Script | None = None, **options: Any) -> Client:
    settings: dict[str, Any] = {"api_key": "k", "rate_limits": None, "poll_interval": 0.01, **options}
    return Client(transport=ScriptedTransport(script or {}), registry=registry, **settings)


def sent(kie: Client) -> list[tuple[str, str]]:
    transport = kie.transport
    assert isinstance(transport, ScriptedTransport)
    return [(request.method, request.path) for request, _ in transport.requests]


def result(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PNG)
    return path


def entry(
    journal: Journal,
    kie: Client,
    *,
    state: JournalState = JournalState.SUCCEEDED,
    output_dir: Path | None = None,
    naming: Naming | None = None,
    files: tuple[Path, ...] = (),
    key_fingerprint: str | None = "client's",
) -> JournalEntry:
    """A journal entry of task t1 (test/market, "a fox") in ``state``, created with ``kie``'s key unless told."""
    entry_id = journal.begin_submit(
        model="test/market",
        profile=Profile.LIVE,
        base_url=kie.base_url,
        request=FOX,
        output_dir=None if output_dir is None else str(output_dir),
        key_fingerprint=kie.key_fingerprint if key_fingerprint == "client's" else key_fingerprint,
        naming=naming,
    )
    if state is not JournalState.SUBMITTING:
        journal.submitted(entry_id, handle())
    if state is JournalState.SUCCEEDED:
        journal.observed(entry_id, DONE)
    if state is JournalState.FAILED:
        journal.observed(entry_id, TaskStatus(state=TaskState.FAILED, fail_code="500", fail_message="no"))
    for file in files:
        journal.saved(entry_id, file)
    return journal.get(entry_id)


# -- which entries resume, and how ---------------------------------------------------------------------------------


def test_a_journalled_handle_resumes_as_its_entry_its_folder_naming_and_request(
    sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    kie = client(sample_registry, journal=journal)
    out = tmp_path / "out"
    saved = result(out / "a-fox-t1.png")
    first = entry(journal, kie, output_dir=out, naming=Naming(template="{prompt_slug}-{task}"))
    done = kie.resume(handle())
    assert done.files == (saved,) and sent(kie) == []  # succeeded and saved: nothing to ask or fetch
    assert journal.get(first.id).state is JournalState.DOWNLOADED
    assert done.sidecar == out / "a-fox-t1.kie.json" and sidecar.load(done.sidecar).prompt == "a fox"


@pytest.mark.parametrize("state", [JournalState.SUBMITTING, JournalState.FAILED])
def test_an_entry_neither_running_nor_succeeded_cannot_be_resumed(
    sample_registry: Registry, journal: Journal, state: JournalState
) -> None:
    kie = client(sample_registry, journal=journal)
    stuck = entry(journal, kie, state=state)
    with pytest.raises(UsageError) as caught:
        kie.resume(stuck)
    assert str(caught.value) == f"journal entry {stuck.id} ({state.value}) cannot be resumed"
    assert sent(kie) == []


def test_a_running_entry_is_waited_for_then_saved_where_it_was_started(
    sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    kie = client(sample_registry, {STATUS: [ServerError("boom", code=500), RUNNING, SUCCEEDED]}, journal=journal)
    saved = result(tmp_path / "out" / "t1.png")
    running = entry(journal, kie, state=JournalState.SUBMITTED, output_dir=tmp_path / "out")
    seen: list[TaskStatus] = []
    retries: list[Any] = []
    done = kie.resume(running, on_status=seen.append, on_retry=retries.append)
    assert done.files == (saved,) and done.status.urls == (URL,)
    assert [status.state for status in seen] == [TaskState.RUNNING, TaskState.SUCCEEDED]
    assert [(event.what, event.host, event.attempt) for event in retries] == [("query", "kie.test", 2)]
    assert sent(kie) == [STATUS] * 3
    assert len(journal.runtimes(kie.base_url, "test/market")) == 1  # how long it was seen to run, kept


def test_files_the_journal_recorded_elsewhere_are_not_fetched_again(
    sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    kie = client(sample_registry, journal=journal)
    earlier = result(tmp_path / "earlier" / "t1.png")
    recorded = entry(journal, kie, output_dir=tmp_path / "earlier", files=(earlier,))
    assert kie.resume(recorded, output_dir=tmp_path / "now").files == (earlier,)
    assert journal.get(recorded.id).output_dir == str(tmp_path / "now")  # where later results go


def test_resuming_into_the_entrys_own_folder_keeps_it(
    sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    kie = client(sample_registry, journal=journal)
    saved = result(tmp_path / "out" / "t1.png")
    same = entry(journal, kie, output_dir=tmp_path / "out")
    assert kie.resume(same, output_dir=tmp_path / "out").files == (saved,)
    assert journal.get(same.id).output_dir == str(tmp_path / "out")


def test_an_entry_without_a_folder_resumes_into_the_current_one(
    sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    kie = client(sample_registry, journal=journal)
    saved = result(tmp_path / "t1.png")
    assert kie.resume(entry(journal, kie)).files == (saved,)  # resolved, as a generation's are


def test_a_bare_handle_is_queried_then_saved_in_the_current_folder(sample_registry: Registry, tmp_path: Path) -> None:
    kie = client(sample_registry, {STATUS: [SUCCEEDED]})
    saved = result(tmp_path / "t1.png")
    assert kie.resume(handle()).files == (saved,) and sent(kie) == [STATUS]


def test_an_entry_whose_folder_cannot_be_made_is_refused_before_it_is_claimed_or_asked(
    sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    kie = client(sample_registry, {STATUS: [SUCCEEDED]}, journal=journal)
    (tmp_path / "a-file").write_text("not a folder")
    recorded = entry(journal, kie, state=JournalState.SUBMITTED, output_dir=tmp_path / "a-file" / "out")
    with pytest.raises(UsageError, match="cannot save images in"):
        kie.resume(recorded)
    assert sent(kie) == [] and journal.get(recorded.id).updated_at == recorded.updated_at  # not claimed


def test_a_bare_handle_is_named_and_described_by_the_name_and_request_given(
    sample_registry: Registry, tmp_path: Path
) -> None:
    kie = client(sample_registry, {STATUS: [SUCCEEDED]})
    saved = result(tmp_path / "out" / "a-fox-t1.png")
    done = kie.resume(handle(), output_dir=tmp_path / "out", name="{prompt_slug}-{task}", request=FOX)
    assert done.files == (saved,)
    described = sidecar.load(tmp_path / "out" / "a-fox-t1.kie.json")
    assert described.prompt == "a fox" and described.request is not None
    assert (described.request.path, described.request.body) == (
        "/api/v1/jobs/createTask",
        {"model": "test/market", "input": {"prompt": "a fox", "style": "AUTO"}},
    )


def test_a_request_that_no_longer_builds_still_names_the_results(sample_registry: Registry, tmp_path: Path) -> None:
    kie = client(sample_registry, {STATUS: [SUCCEEDED]})
    saved = result(tmp_path / "a-fox-t1.png")
    old = GenerationRequest(prompt="a fox", aspect_ratio="7:3")  # refused by the model as it is now
    done = kie.resume(handle(), output_dir=tmp_path, name="{prompt_slug}-{task}", request=old)
    assert done.files == (saved,)
    described = sidecar.load(tmp_path / "a-fox-t1.kie.json")
    assert (described.prompt, described.request) == ("a fox", None)


def test_a_handle_resumed_clears_the_partial_files_a_killed_download_left(
    sample_registry: Registry, tmp_path: Path
) -> None:
    kie = client(sample_registry, {STATUS: [SUCCEEDED]})
    partial = tmp_path / f".t1.{os.getpid()}.abc123.part"
    partial.write_bytes(b"half")
    with pytest.raises(DownloadError):
        kie.resume(handle(), output_dir=tmp_path)
    assert not partial.exists()


def test_a_resume_keeps_its_own_timeout(sample_registry: Registry) -> None:
    kie = client(sample_registry, {STATUS: [RUNNING]}, clock=ticking())
    with pytest.raises(DeadlineExceededError, match=r"did not finish within 25s") as caught:
        kie.resume(handle(), timeout=25)
    assert caught.value.timeout == 25.0


# -- who may resume ------------------------------------------------------------------------------------------------


def test_an_entry_created_with_another_key_is_refused(sample_registry: Registry, journal: Journal) -> None:
    kie = client(sample_registry, journal=journal)
    theirs = entry(journal, kie, key_fingerprint="another key's")
    with pytest.raises(WrongKeyError) as caught:
        kie.resume(theirs)
    assert str(caught.value) == (
        "task t1 was created with another API key or at another host than https://kie.test;"
        " set the key it was created with to resume it"
    )
    assert journal.get(theirs.id).pid == os.getpid()  # not claimed: still as recorded by begin_submit


def test_an_entry_another_live_process_holds_is_refused(
    sample_registry: Registry, journal: Journal, tmp_path: Path
) -> None:
    kie = client(sample_registry, journal=journal)
    held = entry(journal, kie)
    with journal._write() as db:  # the parent of this process (alive) claimed it
        db.execute("UPDATE tasks SET pid = ? WHERE id = ?", (os.getppid(), held.id))
    with pytest.raises(TaskBusyError) as caught:
        kie.resume(journal.get(held.id))
    assert str(caught.value) == "task t1 is being handled by another running process"


# -- abandon -------------------------------------------------------------------------------------------------------


def test_abandoning_needs_a_journal(sample_registry: Registry) -> None:
    with pytest.raises(UsageError) as caught:
        client(sample_registry).abandon(handle())
    assert str(caught.value) == "abandoning a task needs a journal"


def test_a_handle_or_an_entry_is_abandoned_in_the_journal(sample_registry: Registry, journal: Journal) -> None:
    kie = client(sample_registry, journal=journal)
    by_handle = entry(journal, kie, state=JournalState.SUBMITTED)
    kie.abandon(handle())
    assert journal.get(by_handle.id).state is JournalState.ABANDONED
    other = journal.begin_submit(
        model="test/market", profile=Profile.LIVE, base_url=kie.base_url, request=FOX, output_dir=None
    )
    kie.abandon(journal.get(other))
    assert journal.get(other).state is JournalState.ABANDONED


def test_abandoning_a_task_the_journal_does_not_hold_is_refused(sample_registry: Registry, journal: Journal) -> None:
    with pytest.raises(UsageError) as caught:
        client(sample_registry, journal=journal).abandon(
            TaskHandle(model="test/market", task_id="t9", submitted_at=0.0)
        )
    assert str(caught.value) == "task t9 is not in the journal"


# -- download ------------------------------------------------------------------------------------------------------


def test_download_refuses_to_overwrite_by_default_and_keeps_when_told(
    sample_registry: Registry, tmp_path: Path
) -> None:
    kie = client(sample_registry)
    saved = result(tmp_path / "t1.png")  # in the current folder, which download() resolves
    with pytest.raises(DownloadError, match=r"t1\.png already exists; not overwriting it"):
        kie.download(handle(), DONE)
    assert kie.download(handle(), DONE, if_exists="keep") == (saved,)
    assert sent(kie) == []


def test_download_saves_one_result_as_the_file_given(sample_registry: Registry, tmp_path: Path) -> None:
    kie = client(sample_registry)
    saved = result(tmp_path / "out" / "pic.png")
    with pytest.raises(UsageError) as caught:
        kie.download(handle(), DONE, output_file=saved)
    assert str(caught.value) == f"{saved} already exists; not overwriting it (choose another -O file)"
    assert kie.download(handle(), DONE, output_file=saved, if_exists="keep") == (saved,)
    two = TaskStatus(state=TaskState.SUCCEEDED, urls=(URL, URL))
    with pytest.raises(UsageError) as many:
        kie.download(handle(), two, output_file=saved, if_exists="overwrite")
    assert str(many.value).startswith("-O (output_file) pic.png saves one image, and task t1 can make 2 images;")


def test_download_names_results_by_the_name_and_request_given(sample_registry: Registry, tmp_path: Path) -> None:
    kie = client(sample_registry)
    saved = result(tmp_path / "a-fox-t1.png")
    old = GenerationRequest(prompt="a fox", aspect_ratio="7:3")  # no longer builds: its prompt still names
    assert kie.download(handle(), DONE, tmp_path, name="{prompt_slug}-{task}", request=old, if_exists="keep") == (
        saved,
    )
    done = kie.download(handle(), DONE, tmp_path, name="{prompt_slug}-{task}", request=FOX, if_exists="keep")
    assert done == (saved,)
    described = sidecar.load(tmp_path / "a-fox-t1.kie.json")
    assert described.request is not None and described.request.body["input"]["prompt"] == "a fox"


def test_download_keeps_its_deadline(sample_registry: Registry) -> None:
    kie = client(sample_registry, clock=lambda: 100.0)
    with pytest.raises(DownloadError) as late:
        kie.download(handle(), DONE, deadline=99.0)
    with pytest.raises(DownloadError) as refused:
        kie.download(handle(), DONE)
    assert str(late.value) != str(refused.value) and "10.255.0.1" in str(refused.value)
    assert not list(Path().glob("t1.*"))


def test_a_generation_started_without_a_folder_saves_in_the_current_one(
    sample_registry: Registry, tmp_path: Path
) -> None:
    kie = client(sample_registry, {("POST", "/api/v1/jobs/createTask"): [ok({"taskId": "t1"})], STATUS: [SUCCEEDED]})
    result(tmp_path / "t1.png")  # there already: the generation stops rather than overwrite it
    with kie:
        failed = kie.start("test/market", "a fox").exception(timeout=5)
    assert isinstance(failed, DownloadError)
    assert str(failed) == f"{tmp_path / 't1.png'} already exists; not overwriting it"


# -- a busy journal ------------------------------------------------------------------------------------------------


class Holder:
    """Another connection to a journal, which holds its write lock until the client's first sleep."""

    def __init__(self, journal: Journal) -> None:
        self.naps: list[float] = []
        self.db = sqlite3.connect(journal.path, isolation_level=None, check_same_thread=False)

    def lock(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        if self.db.in_transaction:
            self.db.execute("COMMIT")


def hooked_client(registry: Registry, journal: Journal, holder: Holder, **options: Any) -> tuple[Client, Hooked]:
    """A client whose create reply comes while ``holder`` has just taken the journal's write lock."""
    transport = Hooked({("POST", "/api/v1/jobs/createTask"): [ok({"taskId": "t1"})]})
    transport.before_send = holder.lock
    kie = Client(
        transport=transport, registry=registry, rate_limits=None, journal=journal, sleep=holder.sleep, **options
    )
    return kie, transport


def test_a_busy_journal_is_waited_for_with_the_clients_sleep(sample_registry: Registry, tmp_path: Path) -> None:
    with Journal(tmp_path / "busy.sqlite3", busy_timeout=0.1) as journal:
        holder = Holder(journal)
        kie, _ = hooked_client(sample_registry, journal, holder)
        with kie:
            assert kie.submit("test/market", prompt="a fox").task_id == "t1"
        assert holder.naps == [0.05]
        recorded = journal.find(kie.base_url, "t1")
        assert recorded is not None and recorded.state is JournalState.SUBMITTED
        holder.db.close()


def test_a_busy_journal_is_given_up_on_by_the_clients_clock_and_the_task_kept_aside(
    sample_registry: Registry, tmp_path: Path
) -> None:
    notices = io.StringIO()
    with Journal(tmp_path / "busy.sqlite3", busy_timeout=0.1) as journal:
        holder = Holder(journal)
        kie, _ = hooked_client(sample_registry, journal, holder, clock=ticking(), notices=notices)
        with kie:
            assert kie.submit("test/market", prompt="a fox").task_id == "t1"  # the task is never lost
        assert holder.naps == [] and "t1" in notices.getvalue()
        (entry,) = journal.entries()
        assert entry.state is JournalState.SUBMITTING  # what the journal got before it was busy
        holder.db.close()
