"""``kie resume``: finish every journalled task not yet downloaded. Nothing is ever submitted again.

One bad entry never blocks the others: each is reported on its own line and the loop goes on. Tasks the
journal could not record (kept in its fallback log) are resumed too, even while the journal cannot be opened.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kiecore.cli.output import Progress, print_result, printable
from kiecore.client import Client
from kiecore.errors import KieError, TaskBusyError, WrongKeyError
from kiecore.journal import Journal, JournalError, JournalState, default_path
from kiecore.journal_fallback import FallbackLog, FallbackRecord


def run(args: argparse.Namespace) -> int:
    try:
        journal = Journal(args.journal)
    except JournalError as error:
        print(f"kie: error: {error}; resuming only the tasks in its fallback log", file=sys.stderr)
        log = FallbackLog.beside(Path(args.journal) if args.journal else default_path())
        return max(1, _resume_unjournalled(args, log.records()))
    with journal:
        _announce_uncertain(journal)
        entries = journal.resumable()
        if not entries:
            print("kie: nothing to resume", file=sys.stderr)
        with _Clients(args, journal) as clients:
            worst = 0
            for entry in entries:
                label = f"task {entry.task_id} ({entry.model}, journal entry {entry.id})"
                try:
                    client = clients.get(entry.base_url)
                    print(f"resuming {entry.model} task {entry.task_id}", file=sys.stderr)
                    progress = Progress()
                    try:
                        result = client.resume(
                            entry, output_dir=args.output_dir, timeout=args.timeout, on_status=progress.update
                        )
                    finally:
                        progress.done()
                except (TaskBusyError, WrongKeyError) as error:
                    print(f"kie: skipped {label}: {printable(str(error))}", file=sys.stderr)
                    continue
                except KieError as error:
                    print(f"kie: error: {label}: {printable(str(error))}", file=sys.stderr)
                    worst = max(worst, error.exit_code)
                    continue
                except Exception as error:  # one odd entry must never block the rest
                    print(f"kie: internal error on {label}: {type(error).__name__}: {error}", file=sys.stderr)
                    worst = max(worst, 1)
                    continue
                print_result(result, as_json=args.json)
    return worst


def _announce_uncertain(journal: Journal) -> None:
    for entry in journal.attention():
        print(
            f"kie: task entry {entry.id} ({entry.model}) may or may not have been created at Kie "
            f"({printable(entry.error or 'the submit did not finish')}); it is not resubmitted: "
            f"check your Kie task history, then `kie abandon {entry.id}` to stop this notice",
            file=sys.stderr,
        )


def _resume_unjournalled(args: argparse.Namespace, records: list[FallbackRecord]) -> int:
    worst = 0
    with _Clients(args, None) as clients:
        for record in records:
            if record.state in (JournalState.DOWNLOADED.value, JournalState.FAILED.value):
                continue
            try:
                output_dir = args.output_dir or record.output_dir
                result = clients.get(record.base_url).resume(record.handle, output_dir=output_dir, timeout=args.timeout)
            except KieError as error:
                print(f"kie: error: task {record.task_id}: {printable(str(error))}", file=sys.stderr)
                worst = max(worst, error.exit_code)
                continue
            except Exception as error:
                print(f"kie: internal error on task {record.task_id}: {type(error).__name__}: {error}", file=sys.stderr)
                worst = max(worst, 1)
                continue
            print_result(result, as_json=args.json)
    return worst


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
