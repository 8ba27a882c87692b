"""``kie resume [TASK_ID]``: finish every journalled task not yet downloaded, or only the one named. Nothing is
ever submitted again. With ``-o DIR`` the results go to DIR, which becomes each task's recorded folder.

One bad entry never blocks the others: each is reported on its own line and the loop goes on. Tasks the
journal could not record (kept in its fallback log) are resumed too, even while the journal cannot be opened.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kiecore.cli import describe, destination, worst
from kiecore.cli.gallery_command import Refresher
from kiecore.cli.output import error_json, print_json, print_result, printable
from kiecore.cli.progress import Progress
from kiecore.client import Client
from kiecore.errors import TaskBusyError, UsageError, WrongKeyError
from kiecore.hints import journal_option
from kiecore.journal import Journal, JournalEntry, JournalError, JournalState, default_path
from kiecore.journal_fallback import FallbackLog, FallbackRecord
from kiecore.model import GenerationResult, TaskState, TaskStatus


def run(args: argparse.Namespace) -> int:
    try:
        journal = Journal(args.journal)
    except JournalError as error:
        print(f"kie: error: {error}; resuming only the tasks in its fallback log", file=sys.stderr)
        log = FallbackLog.beside(Path(args.journal) if args.journal else default_path())
        return worst((1, _resume_unjournalled(args, log.records())))
    output_dir = destination.folder(args.output_dir) if args.output_dir is not None else None
    pages = Refresher(journal.entries) if args.gallery else None
    with journal:
        try:
            return _resume_journalled(args, journal, output_dir, pages)
        finally:
            if pages is not None:
                pages.flush()  # the pages of every folder results were saved in


def _resume_journalled(
    args: argparse.Namespace, journal: Journal, output_dir: str | None, pages: Refresher | None
) -> int:
    """Resume what the open ``journal`` holds (every entry, or ``TASK_ID``'s); returns the worst exit code."""
    if args.task is not None:
        entries = _chosen(args, journal, args.task)
    else:
        _announce_uncertain(journal, args.journal)
        entries = journal.resumable()
        if not entries:
            print("kie: nothing to resume", file=sys.stderr)
    with _Clients(args, journal) as clients:
        code = 0
        for entry in entries:
            label = f"task {entry.task_id} ({entry.model}, journal entry {entry.id})"
            try:
                client = clients.get(entry.base_url)
                print(f"resuming {entry.model} task {entry.task_id}", file=sys.stderr)
                progress = Progress()
                try:
                    result = client.resume(
                        entry,
                        output_dir=output_dir,
                        timeout=args.timeout,
                        on_status=progress.update,
                        on_retry=progress.retry,
                    )
                finally:
                    progress.done()
            except (TaskBusyError, WrongKeyError) as error:
                print(f"kie: skipped {label}: {printable(str(error))}", file=sys.stderr)
                continue
            except Exception as error:  # one entry that fails, even oddly, must never block the rest
                code = worst((code, _failed(args, label, error)))
                continue
            print_result(result, as_json=args.json)
            if pages is not None:
                pages.saved(result.files)
    return code


def _chosen(args: argparse.Namespace, journal: Journal, name: str) -> list[JournalEntry]:
    """The entries ``name`` (a task id or journal entry id) means, to resume; one already downloaded is reported
    with its files instead. :class:`UsageError` when the journal holds no such task."""
    found = journal.lookup(name)
    if not found:
        raise UsageError(
            f"no task {name} in the journal ({journal.path}); a task made elsewhere is saved with"
            f" `kie download MODEL {name}`"
        )
    chosen = []
    for entry in found:
        handle = entry.handle
        if entry.state is JournalState.DOWNLOADED and handle is not None:
            print(f"kie: task {entry.task_id} is downloaded already; nothing to resume", file=sys.stderr)
            status = TaskStatus(state=TaskState.SUCCEEDED, urls=entry.urls)
            print_result(
                GenerationResult(handle=handle, status=status, files=tuple(map(Path, entry.files))), as_json=args.json
            )
        else:
            chosen.append(entry)
    return chosen


def _announce_uncertain(journal: Journal, journal_path: str | None) -> None:
    for entry in journal.attention():
        print(
            f"kie: task entry {entry.id} ({entry.model}) may or may not have been created at Kie "
            f"({printable(entry.error or 'the submit did not finish')}); it is not resubmitted: check your Kie"
            f" task history, then `kie abandon {entry.id}{journal_option(journal_path)}` to stop this notice",
            file=sys.stderr,
        )


def _resume_unjournalled(args: argparse.Namespace, records: list[FallbackRecord]) -> int:
    pages = Refresher(None) if args.gallery else None
    try:
        return _resume_records(args, records, pages)
    finally:
        if pages is not None:
            pages.flush()


def _resume_records(args: argparse.Namespace, records: list[FallbackRecord], pages: Refresher | None) -> int:
    code = 0
    with _Clients(args, None) as clients:
        for record in records:
            if record.state in (JournalState.DOWNLOADED.value, JournalState.FAILED.value):
                continue
            try:
                if args.task is not None and args.task != record.task_id:
                    continue
                output_dir = destination.folder(args.output_dir) if args.output_dir else record.output_dir
                result = clients.get(record.base_url).resume(
                    record.handle,
                    output_dir=output_dir,
                    timeout=args.timeout,
                    name=record.naming,
                    request=record.request,
                )
            except Exception as error:
                code = worst((code, _failed(args, f"task {record.task_id}", error)))
                continue
            print_result(result, as_json=args.json)
            if pages is not None:
                pages.saved(result.files)
    return code


def _failed(args: argparse.Namespace, label: str, error: Exception) -> int:
    """Say in one line (and with ``--json`` as an error object) that resuming ``label`` failed; its exit code.
    The message is :func:`~kiecore.cli.describe`'s: the key masked, control characters escaped, an unexpected
    error named as one."""
    code, message = describe(error)
    print(f"kie: error: {label}: {message}", file=sys.stderr)
    if args.json:
        print_json(error_json(error, code, f"{label}: {message}"))
    return code


class _Clients:
    """One client per API host the journal names, closed together."""

    def __init__(self, args: argparse.Namespace, journal: Journal | None) -> None:
        self._args = args
        self._journal = journal
        self._clients: dict[str, Client] = {}

    def get(self, base_url: str) -> Client:
        if base_url not in self._clients:
            self._clients[base_url] = Client(
                base_url=base_url, poll_interval=self._args.poll_interval, journal=self._journal
            )
        return self._clients[base_url]

    def __enter__(self) -> _Clients:
        return self

    def __exit__(self, *_exc: object) -> None:
        for client in self._clients.values():
            client.close()
