"""``kie resume``: finish every journalled task not yet downloaded. Nothing is ever submitted again."""

from __future__ import annotations

import argparse
import os
import sys

from kiecore.cli.output import Progress, print_json
from kiecore.client import Client
from kiecore.errors import KieError
from kiecore.journal import Journal, process_alive


def run(args: argparse.Namespace) -> int:
    worst = 0
    with Journal(args.journal) as journal:
        for entry in journal.attention():
            print(
                f"kie: task entry {entry.id} ({entry.model}) may or may not have been created at Kie "
                f"({entry.error or 'the submit did not finish'}); it is not resubmitted: "
                "check your Kie task history",
                file=sys.stderr,
            )
        entries = journal.resumable()
        if not entries:
            print("kie: nothing to resume", file=sys.stderr)
        clients: dict[str, Client] = {}
        try:
            for entry in entries:
                if entry.pid not in (None, os.getpid()) and process_alive(entry.pid) is True:
                    print(
                        f"kie: task {entry.task_id} is still being handled by process {entry.pid}; skipped",
                        file=sys.stderr,
                    )
                    continue
                if entry.base_url not in clients:
                    clients[entry.base_url] = Client(
                        base_url=entry.base_url, poll_interval=args.poll_interval, journal=journal
                    )
                progress = Progress()
                print(f"resuming {entry.model} task {entry.task_id}", file=sys.stderr)
                try:
                    result = clients[entry.base_url].resume(
                        entry, output_dir=args.output_dir, timeout=args.timeout, on_status=progress.update
                    )
                except KieError as error:
                    progress.done()
                    print(f"kie: error: task {entry.task_id}: {error}", file=sys.stderr)
                    worst = max(worst, error.exit_code)
                    continue
                progress.done()
                if args.json:
                    print_json(
                        {
                            "task_id": result.handle.task_id,
                            "model": result.handle.model,
                            "state": result.status.state.value,
                            "urls": list(result.status.urls),
                            "files": [str(path) for path in result.files],
                        }
                    )
                else:
                    for path in result.files:
                        print(path)
        finally:
            for client in clients.values():
                client.close()
    return worst
