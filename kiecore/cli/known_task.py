"""Where a task lives, for the commands that name one (``kie status``, ``kie download``): ``--base-url`` and
``--profile`` as given, else the journal's for a task it knows, else the defaults."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kiecore.journal import Journal, JournalEntry, JournalError, default_path
from kiecore.model import Profile
from kiecore.transport import DEFAULT_BASE_URL


def connection(args: argparse.Namespace) -> tuple[str | None, Profile]:
    """The base URL (``None``: the client's default) and profile to ask about ``args.task_id`` with."""
    base_url, profile = args.base_url, args.profile
    if base_url is None or profile is None:
        entry = journalled(args.journal, args.task_id, base_url)
        if entry is not None:
            base_url = base_url or entry.base_url
            profile = profile or entry.profile.value
    return base_url, Profile(profile or Profile.LIVE)


def journalled(journal_path: str | None, task_id: str, base_url: str | None = None) -> JournalEntry | None:
    """The journal's entry of ``task_id`` (at ``base_url``, when given; else preferably at the configured host,
    else the newest); ``None`` when there is none, or no journal to ask (none is created for the question)."""
    path = Path(journal_path).expanduser() if journal_path else default_path()
    if not path.is_file():
        return None
    try:
        with Journal(path) as journal:
            found = [entry for entry in journal.lookup(task_id) if entry.task_id == task_id]
    except JournalError:
        return None
    if base_url is not None:
        found = [entry for entry in found if entry.base_url == base_url.rstrip("/")]
    configured = (os.environ.get("KIE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    found.sort(key=lambda entry: (entry.base_url == configured, entry.id))
    return found[-1] if found else None
