"""Text made safe for a terminal."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` safe for a terminal: control and other non-printable characters (escape sequences a server
    might send) are shown escaped, e.g. ``\x1b``."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
