"""``kie tasks``: the journal's tasks, newest first."""

from __future__ import annotations

import argparse
import datetime

from kiecore.cli.output import print_json
from kiecore.journal import Journal, JournalEntry
from kiecore.serialization import to_json

LIMIT = 50


def run(args: argparse.Namespace) -> int:
    with Journal(args.journal) as journal:
        entries = journal.entries(limit=None if args.all else LIMIT)
        attention = {entry.id for entry in journal.attention()}
    if args.json:
        print_json([{**to_json(entry), "needs_attention": entry.id in attention} for entry in entries])
        return 0
    if not entries:
        print(f"no tasks in {args.journal or 'the journal'}")
        return 0
    for entry in entries:
        print(_line(entry, entry.id in attention))
    return 0


def _line(entry: JournalEntry, attention: bool) -> str:
    when = datetime.datetime.fromtimestamp(entry.created_at).strftime("%Y-%m-%d %H:%M")
    state = "uncertain" if attention else entry.state.value
    detail = ""
    if entry.files:
        detail = f"{len(entry.files)} file(s) in {entry.output_dir or '.'}"
    elif entry.fail_message or entry.error:
        detail = entry.fail_message or entry.error or ""
    return f"{entry.id:>5}  {when}  {state:<11} {entry.model:<36} {entry.task_id or '-':<34} {detail}".rstrip()
