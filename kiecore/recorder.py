"""The one place a client keeps each task's record: the journal when it can, a fallback when it cannot.

Before a create is sent its entry must be written (a failure there sends nothing). Once Kie has answered a
create the task id must survive whatever the journal does: a write is retried for longer than the journal's
busy timeout; if it still fails, the task's facts go to the journal's fallback log and one line on stderr
names the task and how to finish it, and the generation goes on in memory. Every later write about that task
follows the same rule, so a journal failure never ends a generation that Kie is already running (and billing).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import attrs

from kiecore.errors import SubmitUncertainError
from kiecore.hints import connection_options
from kiecore.journal import Journal, JournalEntry, JournalError, clean_text
from kiecore.journal_fallback import FallbackRecord
from kiecore.model import GenerationRequest, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.naming import Naming

log = logging.getLogger("kiecore.journal")
log.addHandler(logging.NullHandler())  # its notices are written to the stream already: no second copy on stderr

#: How many busy timeouts a write after the create keeps retrying before it falls back.
RETRY_BUSY_TIMEOUTS = 2.5


@attrs.frozen
class Ticket:
    """A create about to be sent: its journal entry (``None`` without a journal) and what the entry holds."""

    entry_id: int | None
    base_url: str
    request: GenerationRequest
    output_dir: str | None
    key_fingerprint: str | None
    item_key: str | None = None
    naming: Naming = attrs.field(factory=Naming)


class Recorder:
    """Keeps the records of one client's tasks. Thread-safe; with ``journal=None`` every call is a no-op."""

    def __init__(
        self,
        journal: Journal | None,
        *,
        stream: TextIO | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self._stream = stream
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = False
        self._records: dict[tuple[str, str], FallbackRecord] = {}
        self._entries: dict[tuple[str, str], int] = {}
        self._announced: set[tuple[str, str]] = set()
        self._fallen: set[tuple[str, str]] = set()  # tasks whose latest facts are only in the fallback log

    # -- before the create ----------------------------------------------------------------------------

    def begin(
        self,
        *,
        model: str,
        profile: Profile,
        base_url: str,
        request: GenerationRequest,
        output_dir: str | None,
        key_fingerprint: str | None,
        item_key: str | None = None,
        naming: Naming | None = None,
    ) -> Ticket:
        """Write the entry of a create about to be sent, with the batch item's ``item_key`` if any and how its
        results are to be named (``naming``; ``None``: the default). Raises
        :class:`JournalError` (send nothing) if the journal cannot record it; the first call also checks the
        journal's health."""
        entry_id = None
        if self.journal is not None:
            with self._lock:
                if not self._checked:
                    self.journal.check()
                    self._checked = True
            entry_id = self.journal.begin_submit(
                model=model,
                profile=profile,
                base_url=base_url,
                request=request,
                output_dir=output_dir,
                key_fingerprint=key_fingerprint,
                item_key=item_key,
                naming=naming,
            )
        return Ticket(
            entry_id, base_url.rstrip("/"), request, output_dir, key_fingerprint, item_key, naming or Naming()
        )

    # -- the create's outcome -------------------------------------------------------------------------

    def submitted(self, ticket: Ticket, handle: TaskHandle) -> None:
        """Kie answered the create with ``handle``'s task. Never loses it: see the module docstring.

        Raises :class:`SubmitUncertainError` if the journal already holds that task id under another entry.
        """
        record = FallbackRecord(
            base_url=ticket.base_url,
            task_id=handle.task_id,
            model=handle.model,
            profile=handle.profile,
            submitted_at=handle.submitted_at,
            state="submitted",
            request=ticket.request,
            output_dir=ticket.output_dir,
            entry_id=ticket.entry_id,
            key_fingerprint=ticket.key_fingerprint,
            item_key=ticket.item_key,
            naming=ticket.naming,
        )
        key = (ticket.base_url, handle.task_id)
        with self._lock:
            self._records[key] = record
            if ticket.entry_id is not None:
                self._entries[key] = ticket.entry_id
        if self.journal is None or ticket.entry_id is None:
            return
        entry_id = ticket.entry_id
        try:
            self._write(key, lambda journal: journal.submitted(entry_id, handle))
        except ValueError as error:  # the id is another entry's: this answer cannot be trusted
            message = f"Kie answered the create with task id {handle.task_id}, but {error}"
            with contextlib.suppress(JournalError, ValueError):
                self.journal.uncertain(entry_id, message)
            with self._lock:
                del self._records[key]
            raise SubmitUncertainError(message + "; check your Kie task history before submitting again") from None

    def uncertain(self, ticket: Ticket, error: str) -> None:
        """The create's answer was lost: the task may exist. Best effort (there is no task id to keep)."""
        self._settle(ticket, lambda journal, entry_id: journal.uncertain(entry_id, error))

    def refused(self, ticket: Ticket, error: str) -> None:
        """Kie refused the create: nothing was created. Best effort."""
        self._settle(ticket, lambda journal, entry_id: journal.refused(entry_id, error))

    # -- a known task ---------------------------------------------------------------------------------

    def adopt(self, entry: JournalEntry) -> None:
        """Keep the record of a task created earlier (``kie resume``)."""
        handle = entry.handle
        if handle is None:
            return
        key = (entry.base_url, handle.task_id)
        with self._lock:
            self._entries[key] = entry.id
            self._records[key] = FallbackRecord(
                base_url=entry.base_url,
                task_id=handle.task_id,
                model=handle.model,
                profile=handle.profile,
                submitted_at=handle.submitted_at,
                state=entry.state.value,
                request=entry.request,
                output_dir=entry.output_dir,
                entry_id=entry.id,
                urls=entry.urls,
                files=entry.files,
                fail_code=entry.fail_code,
                fail_message=entry.fail_message,
                key_fingerprint=entry.key_fingerprint,
                item_key=entry.item_key,
                naming=entry.naming,
            )

    def entry_id(self, base_url: str, task_id: str) -> int | None:
        """The journal entry of the task, if this recorder knows it or the journal has it."""
        key = (base_url.rstrip("/"), task_id)
        with self._lock:
            if key in self._entries:
                return self._entries[key]
        if self.journal is None:
            return None
        try:
            entry = self.journal.find(*key)
        except JournalError:
            return None
        if entry is not None:
            self.adopt(entry)
            return entry.id
        return None

    def observed(self, base_url: str, handle: TaskHandle, status: TaskStatus) -> None:
        """A terminal status: its URLs (success) or Kie's failure code and message."""
        if not status.state.terminal:
            return

        def update(record: FallbackRecord) -> FallbackRecord:
            if status.state is TaskState.SUCCEEDED:
                return attrs.evolve(record, state="succeeded", urls=status.urls)
            code, message = clean_text(status.fail_code), clean_text(status.fail_message)
            return attrs.evolve(record, state="failed", fail_code=code, fail_message=message)

        self._fact(base_url, handle, update, lambda journal, entry_id: journal.observed(entry_id, status))

    def saved(self, base_url: str, handle: TaskHandle, file: Path) -> None:
        """One result is on disk."""

        def update(record: FallbackRecord) -> FallbackRecord:
            return attrs.evolve(record, files=tuple(dict.fromkeys([*record.files, str(file)])))

        self._fact(base_url, handle, update, lambda journal, entry_id: journal.saved(entry_id, file))

    def downloaded(self, base_url: str, handle: TaskHandle, files: Sequence[Path]) -> None:
        """Every result is on disk (or none was wanted)."""

        def update(record: FallbackRecord) -> FallbackRecord:
            return attrs.evolve(record, state="downloaded", files=tuple(str(file) for file in files))

        self._fact(base_url, handle, update, lambda journal, entry_id: journal.downloaded(entry_id, files))

    def moved(self, base_url: str, handle: TaskHandle, folder: Path) -> None:
        """The task's results now go to ``folder`` (``kie resume -o DIR``)."""

        def update(record: FallbackRecord) -> FallbackRecord:
            return attrs.evolve(record, output_dir=str(folder))

        self._fact(base_url, handle, update, lambda journal, entry_id: journal.move_output(entry_id, folder))

    def note_error(self, base_url: str, handle: TaskHandle, error: str) -> None:
        """The last error about a task (e.g. a timeout); best effort, the state is unchanged."""
        self._fact(
            base_url, handle, lambda record: record, lambda journal, entry_id: journal.note_error(entry_id, error)
        )

    # -- the machinery --------------------------------------------------------------------------------

    def _settle(self, ticket: Ticket, action: Callable[[Journal, int], None]) -> None:
        journal, entry_id = self.journal, ticket.entry_id
        if journal is None or entry_id is None:
            return
        try:
            self._retrying(lambda: action(journal, entry_id))
        except (JournalError, ValueError) as error:
            log.warning("the task journal could not record entry %s: %s", entry_id, error)

    def _fact(
        self,
        base_url: str,
        handle: TaskHandle,
        update: Callable[[FallbackRecord], FallbackRecord],
        action: Callable[[Journal, int], None],
    ) -> None:
        key = (base_url.rstrip("/"), handle.task_id)
        entry_id = self.entry_id(*key)
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                self._records[key] = update(record)
        if self.journal is None or entry_id is None:
            return
        with self._lock:
            fallen = key in self._fallen
        if fallen:  # the journal lost an earlier fact: bring the fallback log in first, if it can take it now
            try:
                self._retrying(self.journal.merge_fallback)
            except JournalError as error:
                self._fall_back(key, error)
                return
            with self._lock:
                self._fallen.discard(key)
        with contextlib.suppress(ValueError):  # a move the journal refuses: it already knows better
            self._write(key, lambda journal: action(journal, entry_id))

    def _write(self, key: tuple[str, str], action: Callable[[Journal], None]) -> None:
        """Run ``action`` on the journal, retried; on failure, keep the task in the fallback log instead."""
        journal = self.journal
        assert journal is not None
        try:
            self._retrying(lambda: action(journal))
        except JournalError as error:
            self._fall_back(key, error)

    def _retrying(self, write: Callable[[], object]) -> None:
        journal = self.journal
        assert journal is not None
        give_up = self._clock() + RETRY_BUSY_TIMEOUTS * journal.busy_timeout
        delay = 0.05
        while True:
            try:
                write()
                return
            except JournalError as error:
                if not error.transient or self._clock() + delay > give_up:
                    raise
            self._sleep(delay)
            delay = min(delay * 2, 1.0)

    def _fall_back(self, key: tuple[str, str], error: JournalError) -> None:
        journal = self.journal
        assert journal is not None
        with self._lock:
            record = self._records.get(key)
            first = key not in self._announced
            self._announced.add(key)
            self._fallen.add(key)
        if record is None:
            return
        kept = f"it is kept in {journal.fallback.path}"
        try:
            journal.fallback.append(record)
        except OSError as fallback_error:
            kept = f"nor could {journal.fallback.path} ({fallback_error.strerror or fallback_error})"
        if first:
            self._say(
                f"kiecore: the task journal could not record {record.model} task {record.task_id} ({error}); {kept}."
                f" The generation goes on; if it is interrupted, finish it with `kie resume` or check it with"
                f" `kie status {record.model} {record.task_id}" + _connection_hint(record) + "`"
            )

    def notice(self, line: str) -> None:
        """Show ``line`` to the person running this (the notices stream, default standard error) and log it."""
        self._say(line)

    def _say(self, line: str) -> None:
        log.warning("%s", line)
        stream = self._stream or sys.stderr
        with contextlib.suppress(OSError, ValueError):
            stream.write(line + "\n")
            stream.flush()


def _connection_hint(record: FallbackRecord) -> str:
    return connection_options(record.base_url, record.profile)
