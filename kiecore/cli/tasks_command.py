"""``kie tasks``: the journal's tasks, newest first (``--json``: one entry a line). While the journal cannot be
opened, the tasks in its fallback log, exit 1 (``--json``: the error object, then one record a line, each with
``"source": "fallback_log"``)."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from kiecore.cli import report
from kiecore.cli.output import print_json, printable
from kiecore.journal import Journal, JournalEntry, JournalError, default_path
from kiecore.journal_fallback import FallbackLog
from kiecore.serialization import to_json

LIMIT = 50
#: The longest prompt shown in the listing, in characters.
PROMPT = 30


def run(args: argparse.Namespace) -> int:
    try:
        journal = Journal(args.journal)  # merges the fallback log in, when there is one
    except JournalError as error:
        return _fallback_only(args, error)
    with journal:
        entries = journal.entries(limit=None if args.all else LIMIT)
        attention = {entry.id for entry in journal.attention()}
    if args.json:
        for entry in entries:
            print_json({**to_json(entry), "needs_attention": entry.id in attention})
        return 0
    if not entries:
        print(f"no tasks in {args.journal or 'the journal'}")
        return 0
    for entry in entries:
        print(_line(entry, entry.id in attention))
    return 0


def _fallback_only(args: argparse.Namespace, error: JournalError) -> int:
    """While the journal cannot be opened, the tasks its fallback log holds (``kie resume`` finishes them)."""
    code = report(error, debug=args.debug, as_json=args.json)
    records = FallbackLog.beside(Path(args.journal) if args.journal else default_path()).records()
    for record in records:
        if args.json:
            print_json({**to_json(record), "source": "fallback_log"})
        else:
            print(f"    -  {'':16}  {record.state:<11} {record.model:<36} {record.task_id:<34} (fallback log)")
    return code


def _line(entry: JournalEntry, attention: bool) -> str:
    """One entry: id, when, state, model, task id, its prompt (shortened), then its files or its error."""
    when = datetime.datetime.fromtimestamp(entry.created_at).strftime("%Y-%m-%d %H:%M")
    state = "uncertain" if attention else entry.state.value
    detail = ""
    if entry.files:
        detail = f"{len(entry.files)} file(s) in {entry.output_dir or '.'}"
    elif entry.fail_message or entry.error:
        detail = printable(entry.fail_message or entry.error or "")
    prompt = f'"{_shortened(entry.request.prompt)}"' if entry.request.prompt else "-"
    line = f"{entry.id:>5}  {when}  {state:<11} {entry.model:<36} {entry.task_id or '-':<34} {prompt:<{PROMPT + 2}}"
    return f"{line}  {detail}".rstrip()


def _shortened(prompt: str) -> str:
    """``prompt`` on one line, at most :data:`PROMPT` characters (``...`` where it was cut), terminal-safe."""
    text = " ".join(prompt.split())
    if len(text) > PROMPT:
        text = text[: PROMPT - 3].rstrip() + "..."
    return printable(text)
