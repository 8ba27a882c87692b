"""``kie abandon``: give up on journalled tasks, so they are no longer announced, waited on or resumed."""

from __future__ import annotations

import argparse
import sys

from kiecore.journal import Journal


def run(args: argparse.Namespace) -> int:
    worst = 0
    with Journal(args.journal) as journal:
        for name in args.ids:
            found = journal.lookup(name)
            if len(found) != 1:
                why = "no journal entry or task has that id" if not found else "several entries match; use the entry id"
                print(f"kie: error: {name}: {why} (see `kie tasks`)", file=sys.stderr)
                worst = 2
                continue
            (entry,) = found
            try:
                journal.abandon(entry.id)
            except ValueError:
                print(
                    f"kie: error: entry {entry.id} is {entry.state.value}: only unfinished tasks can be abandoned",
                    file=sys.stderr,
                )
                worst = 2
                continue
            print(f"abandoned entry {entry.id} ({entry.model} task {entry.task_id or '-'})")
    return worst
