"""What a suggested ``kie`` command must add to reach the same task: the API host and profile it was created
with where they are not the defaults, and the journal it is in where one was named. Every hint that tells a
person to run ``kie status``, ``kie resume`` or ``kie abandon`` ends with these."""

from __future__ import annotations

import shlex
from pathlib import Path

from kiecore.transport import DEFAULT_BASE_URL


def connection_options(base_url: str | None, profile: str | None) -> str:
    """`` --base-url URL`` for a host other than Kie's (:data:`~kiecore.transport.DEFAULT_BASE_URL`), then
    `` --profile reference`` for that profile; ``""`` for the defaults (``None`` means the default)."""
    options = ""
    if base_url and base_url.rstrip("/") != DEFAULT_BASE_URL:
        options += f" --base-url {shlex.quote(base_url.rstrip('/'))}"
    if profile is not None and str(profile) != "live":
        options += f" --profile {shlex.quote(str(profile))}"
    return options


def journal_option(journal: str | Path | None) -> str:
    """`` --journal PATH`` for a journal named with ``--journal``; ``""`` for ``None`` (the default one, or
    ``KIECORE_JOURNAL``'s, which the same shell still has)."""
    return f" --journal {shlex.quote(str(journal))}" if journal else ""
