"""What kiecore reads about installed distributions: the few core-metadata fields it needs, without email's parser.

A distribution's core metadata (``METADATA`` in a wheel's ``.dist-info``, ``PKG-INFO`` in an egg's) is a block of
``Name: value`` header lines, then a blank line and the long description. ``importlib_metadata`` reads it with
the standard library's email parser, which costs several times more than everything else ``kie models`` does;
the fields used here (``Name``, ``Version``, ``Requires-Dist``) are plain header lines, so they are read by hand.
"""

from __future__ import annotations

from typing import Protocol

import attrs


class Readable(Protocol):
    """What is needed of an ``importlib_metadata.Distribution``."""

    def read_text(self, filename: str) -> str | None: ...


@attrs.frozen
class DistributionFacts:
    """A distribution's ``Name`` and ``Version`` (empty when missing) and its ``Requires-Dist`` lines."""

    name: str
    version: str
    requires: tuple[str, ...]


def header_fields(text: str) -> dict[str, list[str]]:
    """The header fields of a core-metadata text, by lower-cased name, each name's values in order; a folded
    value (continued on lines that start with white space) is joined with single spaces. Reading stops at the
    first empty line, where the description begins."""
    fields: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in text.splitlines():
        if not line:  # an empty line ends the headers; one of white space only continues a folded value
            break
        if line[0] in " \t":
            if last is not None and line.strip():
                last[-1] = f"{last[-1]} {line.strip()}"
            continue
        name, colon, value = line.partition(":")
        if not colon:
            last = None
            continue
        last = fields.setdefault(name.strip().lower(), [])
        last.append(value.strip())
    return fields


def facts_of(distribution: Readable) -> DistributionFacts:
    """The facts of ``distribution`` from its ``METADATA`` (or ``PKG-INFO``); empty ones when it has neither."""
    text = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO") or ""
    fields = header_fields(text)
    return DistributionFacts(
        name=(fields.get("name") or [""])[0],
        version=(fields.get("version") or [""])[0],
        requires=tuple(fields.get("requires-dist", ())),
    )
