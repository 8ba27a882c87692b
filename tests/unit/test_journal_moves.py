"""The journal's entries: what each move stores, which moves it refuses and how, claims, attention and look-ups."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest

import kiecore.journal as journal_module
from kiecore.journal import STALE_SUBMIT_SECONDS, Journal, JournalEntry, JournalState
from kiecore.model import GenerationRequest, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.naming import Naming
from kiecore.serialization import to_json
from tests.test_journal import BASE, begin, handle, succeeded

S = JournalState
START = 1_700_000_000.0


@attrs.define
class Clock:
    """Stands in for the ``time`` module inside :mod:`kiecore.journal`: ``time()`` is ``now``, moved by hand."""

    now: float = START

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(journal_module, "time", fake)
    return fake


def stored(journal: Journal, entry_id: int) -> dict[str, Any]:
    """The entry's row exactly as SQLite holds it, read through a connection of its own."""
    with sqlite3.connect(journal.path) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM tasks WHERE id = ?", (entry_id,)).fetchone()
    assert row is not None
    return dict(row)


def set_columns(journal: Journal, entry_id: int, **values: Any) -> None:
    """Write ``values`` straight into the entry's row, as another process or an older kiecore would have."""
    assignments = ", ".join(f"{column} = ?" for column in values)
    with sqlite3.connect(journal.path) as db:
        db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*values.values(), entry_id))


def at_kie(journal: Journal, task_id: str = "task-1", *, done: bool = False) -> int:
    """An entry whose task exists at Kie: ``submitted``, or ``succeeded`` with one URL when ``done``."""
    entry_id = begin(journal)
    journal.submitted(entry_id, handle(task_id))
    if done:
        journal.observed(entry_id, succeeded("https://f/1.png"))
    return entry_id


# -- what a move stores ----------------------------------------------------------------------------


def test_begin_submit_stores_the_request_facts_and_nothing_else(journal: Journal, clock: Clock) -> None:
    request = GenerationRequest(prompt="a red fox", seed=7)
    naming = Naming(template="{prompt_slug}_{task}")
    first = journal.begin_submit(
        model="nano-banana",
        profile=Profile.REFERENCE,
        base_url=BASE + "/",
        request=request,
        output_dir="out",
        key_fingerprint="fp-1",
        item_key="line-1",
        naming=naming,
    )
    second = journal.begin_submit(
        model="m", profile=Profile.LIVE, base_url=BASE, request=GenerationRequest(), output_dir=None, naming=Naming()
    )
    assert second == first + 1
    assert stored(journal, first) == {
        "id": first,
        "model": "nano-banana",
        "profile": "reference",
        "base_url": BASE,
        "request": json.dumps(to_json(request)),
        "output_dir": "out",
        "task_id": None,
        "state": "submitting",
        "urls": "[]",
        "files": "[]",
        "fail_code": None,
        "fail_message": None,
        "error": None,
        "submitted_at": None,
        "created_at": START,
        "updated_at": START,
        "pid": os.getpid(),
        "key_fingerprint": "fp-1",
        "item_key": "line-1",
        "naming": json.dumps(to_json(naming)),
    }
    assert journal.get(first) == JournalEntry(
        id=first,
        model="nano-banana",
        profile=Profile.REFERENCE,
        base_url=BASE,
        request=request,
        output_dir="out",
        task_id=None,
        state=S.SUBMITTING,
        urls=(),
        files=(),
        fail_code=None,
        fail_message=None,
        error=None,
        submitted_at=None,
        created_at=START,
        updated_at=START,
        pid=os.getpid(),
        key_fingerprint="fp-1",
        item_key="line-1",
        naming=naming,
    )
    assert stored(journal, second)["naming"] is None  # the default naming is stored as NULL
    assert journal.get(second).naming == Naming()


def test_submitted_takes_task_model_profile_and_time_from_the_handle(journal: Journal, clock: Clock) -> None:
    entry_id = begin(journal)
    clock.now = START + 5
    journal.submitted(entry_id, handle("t-1"))
    row = stored(journal, entry_id)
    assert (row["task_id"], row["model"], row["profile"], row["submitted_at"]) == (
        "t-1",
        "google/nano-banana",
        "reference",
        1000.0,
    )
    assert (row["state"], row["updated_at"], row["created_at"], row["pid"]) == (
        "submitted",
        START + 5,
        START,
        os.getpid(),
    )
    # the same task again, as a resume learns it: its facts are refreshed, the state stays
    later = TaskHandle(model="google/nano-banana-2", task_id="t-1", profile=Profile.LIVE, submitted_at=2000.0)
    journal.submitted(entry_id, later)
    row = stored(journal, entry_id)
    assert (row["state"], row["model"], row["profile"], row["submitted_at"]) == (
        "submitted",
        "google/nano-banana-2",
        "live",
        2000.0,
    )


def test_an_entry_with_a_task_id_but_no_submit_time_dates_its_handle_from_its_creation(
    journal: Journal, clock: Clock
) -> None:
    entry_id = at_kie(journal)
    set_columns(journal, entry_id, submitted_at=None)
    assert journal.get(entry_id).handle == TaskHandle(
        model="google/nano-banana", task_id="task-1", profile=Profile.REFERENCE, submitted_at=START
    )


def test_uncertain_and_refused_keep_the_first_line_of_the_error(journal: Journal) -> None:
    lost, refused = begin(journal), begin(journal)
    journal.uncertain(lost, "  read timed out\nafter sending")
    journal.refused(refused, "insufficient credits\n(code 402)")
    assert (stored(journal, lost)["state"], stored(journal, lost)["error"]) == ("uncertain", "read timed out")
    assert (stored(journal, refused)["state"], stored(journal, refused)["error"]) == ("refused", "insufficient credits")
    journal.note_error(lost, "")
    assert stored(journal, lost)["error"] == ""


def test_a_failure_keeps_the_first_line_of_kies_code_and_message(journal: Journal) -> None:
    entry_id = at_kie(journal)
    journal.observed(
        entry_id, TaskStatus(state=TaskState.FAILED, fail_code=" 501 \n", fail_message="content policy\nline two")
    )
    row = stored(journal, entry_id)
    assert (row["state"], row["fail_code"], row["fail_message"]) == ("failed", "501", "content policy")
    journal.observed(entry_id, TaskStatus(state=TaskState.RUNNING))  # a late non-final status is harmless
    assert stored(journal, entry_id)["state"] == "failed"


def test_an_abandoned_entry_records_a_failure_but_stays_abandoned(journal: Journal) -> None:
    entry_id = at_kie(journal)
    journal.abandon(entry_id)
    journal.observed(entry_id, TaskStatus(state=TaskState.FAILED, fail_code="500", fail_message="internal"))
    row = stored(journal, entry_id)
    assert (row["state"], row["fail_code"], row["fail_message"]) == ("abandoned", "500", "internal")


def test_a_progress_report_only_moves_updated_at(journal: Journal, clock: Clock) -> None:
    entry_id = at_kie(journal)
    before = stored(journal, entry_id)
    clock.now = START + 30
    journal.observed(entry_id, TaskStatus(state=TaskState.RUNNING, progress=0.5))
    assert stored(journal, entry_id) == {**before, "updated_at": START + 30}


def test_downloaded_replaces_the_recorded_files(journal: Journal) -> None:
    entry_id = at_kie(journal, done=True)
    journal.downloaded(entry_id, [Path("out/a.png"), Path("out/b.png")])
    assert json.loads(stored(journal, entry_id)["files"]) == ["out/a.png", "out/b.png"]
    journal.downloaded(entry_id, [Path("out/c.png")])
    assert journal.get(entry_id).files == ("out/c.png",)


def test_saved_adds_each_file_once_in_the_order_saved(journal: Journal) -> None:
    entry_id = at_kie(journal, done=True)
    for name in ("b.png", "a.png", "b.png"):
        journal.saved(entry_id, Path("out") / name)
    row = stored(journal, entry_id)
    assert (row["state"], json.loads(row["files"])) == ("succeeded", ["out/b.png", "out/a.png"])
    journal.abandon(entry_id)
    journal.saved(entry_id, Path("out/c.png"))
    journal.downloaded(entry_id, [Path("out/d.png")])
    journal.saved(entry_id, Path("out/e.png"))
    assert (journal.get(entry_id).state, journal.get(entry_id).files) == (S.DOWNLOADED, ("out/d.png", "out/e.png"))


def test_move_output_and_note_error_change_one_column_and_the_writer(journal: Journal, clock: Clock) -> None:
    entry_id = at_kie(journal)
    set_columns(journal, entry_id, pid=4242)  # last written by another process
    before = stored(journal, entry_id)
    clock.now = START + 1
    journal.move_output(entry_id, Path("elsewhere") / "sub")
    clock.now = START + 2
    journal.note_error(entry_id, "timed out\ntraceback")
    changed = {"output_dir": os.path.join("elsewhere", "sub"), "error": "timed out", "updated_at": START + 2}
    assert stored(journal, entry_id) == {**before, **changed, "pid": os.getpid()}


# -- which moves are refused, and how --------------------------------------------------------------


def test_submitted_refusals_name_the_entry_and_the_tasks(journal: Journal) -> None:
    first, second = at_kie(journal, "t-1"), begin(journal)
    with pytest.raises(ValueError, match=f"^task t-1 is already journal entry {first}: a duplicate$"):
        journal.submitted(second, handle("t-1"))
    with pytest.raises(ValueError, match=f"^journal entry {first} is task t-1, not t-2$"):
        journal.submitted(first, handle("t-2"))
    journal.observed(first, succeeded())
    with pytest.raises(ValueError, match=f"^journal entry {first} is succeeded: it cannot become submitted$"):
        journal.submitted(first, handle("t-1"))
    journal.refused(second, "no")
    with pytest.raises(ValueError, match=f"^journal entry {second} is refused: it cannot become submitted$"):
        journal.submitted(second, handle("t-3"))


@pytest.mark.parametrize(
    ("setup", "move", "message"),
    [
        ("refused", lambda j, e: j.uncertain(e, "?"), "is refused: it cannot become uncertain"),
        ("uncertain", lambda j, e: j.refused(e, "no"), "is uncertain: it cannot become refused"),
        ("submitted", lambda j, e: j.downloaded(e, []), "is submitted: it cannot become downloaded"),
        ("abandoned", lambda j, e: j.downloaded(e, []), "is abandoned: it cannot become downloaded"),
        ("refused", lambda j, e: j.abandon(e), "is refused: it cannot become abandoned"),
        ("failed", lambda j, e: j.observed(e, succeeded()), "is failed: it cannot have succeeded"),
        (
            "succeeded",
            lambda j, e: j.observed(e, TaskStatus(state=TaskState.FAILED)),
            "is succeeded: it cannot have failed",
        ),
        ("uncertain", lambda j, e: j.observed(e, TaskStatus(state=TaskState.RUNNING)), "has no task id to observe"),
        ("submitted", lambda j, e: j.saved(e, Path("x.png")), "is submitted: it has no results to save"),
    ],
)
def test_a_refused_move_says_why_and_leaves_the_row_as_it_was(
    journal: Journal, clock: Clock, setup: str, move: Any, message: str
) -> None:
    entry_id = begin(journal)
    if setup in ("submitted", "failed", "succeeded"):
        journal.submitted(entry_id, handle())
    steps = {
        "refused": lambda: journal.refused(entry_id, "no"),
        "uncertain": lambda: journal.uncertain(entry_id, "lost"),
        "abandoned": lambda: journal.abandon(entry_id),
        "failed": lambda: journal.observed(entry_id, TaskStatus(state=TaskState.FAILED)),
        "succeeded": lambda: journal.observed(entry_id, succeeded()),
    }
    if setup in steps:
        steps[setup]()
    before = stored(journal, entry_id)
    clock.now = START + 60
    with pytest.raises(ValueError, match=f"^journal entry {entry_id} {message}$"):
        move(journal, entry_id)
    assert stored(journal, entry_id) == before
    journal.note_error(entry_id, "still writable")  # the failed move's transaction was rolled back
    assert stored(journal, entry_id)["error"] == "still writable"


@pytest.mark.parametrize(
    "move",
    [
        lambda j: j.get(42),
        lambda j: j.abandon(42),
        lambda j: j.note_error(42, "x"),
        lambda j: j.claim(42),
        lambda j: j.saved(42, Path("x.png")),
    ],
)
def test_an_unknown_entry_id_is_a_key_error_naming_it(journal: Journal, move: Any) -> None:
    begin(journal)
    with pytest.raises(KeyError, match=r"^'no journal entry 42'$"):
        move(journal)


# -- claims ----------------------------------------------------------------------------------------


def test_claim_takes_an_entry_nobody_or_this_process_owns(journal: Journal, clock: Clock) -> None:
    entry_id = at_kie(journal)
    set_columns(journal, entry_id, pid=None)
    clock.now = START + 10
    assert journal.claim(entry_id) is True
    assert (stored(journal, entry_id)["pid"], stored(journal, entry_id)["updated_at"]) == (os.getpid(), START + 10)
    clock.now = START + 20
    assert journal.claim(entry_id) is True
    assert stored(journal, entry_id)["updated_at"] == START + 20


def test_claim_leaves_an_entry_a_live_process_owns(journal: Journal, clock: Clock) -> None:
    entry_id = at_kie(journal)
    set_columns(journal, entry_id, pid=os.getppid(), updated_at=START - 10 * STALE_SUBMIT_SECONDS)
    before = stored(journal, entry_id)
    assert journal.claim(entry_id) is False
    assert stored(journal, entry_id) == before


def test_claim_takes_an_entry_whose_owner_died(journal: Journal, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    entry_id = at_kie(journal)
    set_columns(journal, entry_id, pid=4242)
    monkeypatch.setattr(journal_module, "process_alive", {4242: False}.get)
    assert journal.claim(entry_id) is True
    assert stored(journal, entry_id)["pid"] == os.getpid()


@pytest.mark.parametrize(("age", "claimed"), [(STALE_SUBMIT_SECONDS - 1, False), (STALE_SUBMIT_SECONDS, True)])
def test_claim_counts_an_unknowable_owner_as_live_while_it_wrote_recently(
    journal: Journal, clock: Clock, monkeypatch: pytest.MonkeyPatch, age: float, claimed: bool
) -> None:
    entry_id = at_kie(journal)
    set_columns(journal, entry_id, pid=4242, updated_at=START - age)
    monkeypatch.setattr(journal_module, "process_alive", lambda pid: None)
    assert journal.claim(entry_id) is claimed
    assert stored(journal, entry_id)["pid"] == (os.getpid() if claimed else 4242)


# -- attention -------------------------------------------------------------------------------------


def test_attention_reports_a_submit_whose_process_is_gone(
    journal: Journal, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan, dead = begin(journal), begin(journal)
    set_columns(journal, orphan, pid=None)
    set_columns(journal, dead, pid=4242)
    monkeypatch.setattr(journal_module, "process_alive", {4242: False}.get)
    reported = journal.attention()
    assert reported == [
        attrs.evolve(
            journal.get(dead),
            state=S.UNCERTAIN,
            error="interrupted while submitting (process 4242 died): the task may exist",
        ),
        attrs.evolve(
            journal.get(orphan),
            state=S.UNCERTAIN,
            error="interrupted while submitting (process None died): the task may exist",
        ),
    ]
    assert [journal.get(entry.id).state for entry in reported] == [S.SUBMITTING, S.SUBMITTING]


@pytest.mark.parametrize(("age", "reported"), [(STALE_SUBMIT_SECONDS, False), (STALE_SUBMIT_SECONDS + 0.5, True)])
def test_attention_reports_a_live_submit_only_once_it_is_stale(
    journal: Journal, clock: Clock, age: float, reported: bool
) -> None:
    entry_id = begin(journal)
    clock.now = START + age
    expected = "interrupted while submitting (it never finished): the task may exist"
    assert [(entry.id, entry.state, entry.error) for entry in journal.attention()] == (
        [(entry_id, S.UNCERTAIN, expected)] if reported else []
    )


def test_attention_keeps_a_submit_whose_process_cannot_be_checked_while_it_is_recent(
    journal: Journal, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry_id = begin(journal)
    set_columns(journal, entry_id, pid=4242)
    monkeypatch.setattr(journal_module, "process_alive", lambda pid: None)
    assert journal.attention() == []
    clock.now = START + STALE_SUBMIT_SECONDS + 1
    assert [entry.error for entry in journal.attention()] == [
        "interrupted while submitting (it never finished): the task may exist"
    ]


def test_attention_keeps_the_error_a_submit_recorded(journal: Journal, clock: Clock) -> None:
    entry_id = begin(journal)
    journal.note_error(entry_id, "connection reset")
    clock.now = START + STALE_SUBMIT_SECONDS + 1
    assert [(entry.state, entry.error) for entry in journal.attention()] == [(S.UNCERTAIN, "connection reset")]


# -- look-ups --------------------------------------------------------------------------------------


def test_lookup_takes_digits_as_an_entry_id_or_a_task_id(journal: Journal) -> None:
    first = at_kie(journal, "abc")
    other_host = journal.begin_submit(
        model="m", profile=Profile.LIVE, base_url="http://127.0.0.1:9", request=GenerationRequest(), output_dir=None
    )
    journal.submitted(other_host, handle("abc"))
    numeric = at_kie(journal, str(first))
    assert [entry.id for entry in journal.lookup("abc")] == [first, other_host]  # oldest first
    assert [entry.id for entry in journal.lookup(str(first))] == [first, numeric]
    assert [entry.id for entry in journal.lookup(str(other_host))] == [other_host]
    assert journal.lookup("999") == [] and journal.lookup("nope") == []


def test_entries_take_state_names_and_a_limit(journal: Journal) -> None:
    ids = [at_kie(journal, f"t{n}") for n in range(3)]
    assert [entry.id for entry in journal.entries(states=["submitted"], limit=2)] == [ids[2], ids[1]]
    assert [entry.id for entry in journal.entries(limit=1)] == [ids[2]]
    assert journal.entries(limit=0) == []
    with pytest.raises(ValueError, match=r"^limit must be 0 or more, not -1$"):
        journal.entries(limit=-1)
