"""Reading status replies with a dialect, and the same by name for callers without a registry.

:class:`~kiecore.registry.Registry` chooses the dialect (:func:`kiecore.dialects.for_reply`); these helpers
read with it. ``parse_status_reply`` and ``extract_result_urls`` take a dialect object or a built-in dialect's
name (``None``: the reply's shape alone decides, among the built-in dialects).
"""

from __future__ import annotations

from typing import Any

from kiecore.dialects.base import WireDialect, for_reply
from kiecore.dialects.builtin import BUILTIN
from kiecore.errors import ParseError
from kiecore.model import TaskStatus
from kiecore.wire.envelope import reply_data


def read_status(reply: Any, dialect: WireDialect) -> TaskStatus:
    """A :class:`TaskStatus` (without URLs) from a status reply read as ``dialect``; ``raw`` is the whole reply.
    A record without ``dialect``'s shape is a :class:`ParseError`."""
    data = reply_data(reply)
    if not dialect.matches(data):
        raise ParseError(f"the status reply is not a {dialect.name} record (no state, successFlag or status field)")
    status = dialect.parse_status(data)
    return TaskStatus(
        state=status.state,
        progress=status.progress,
        fail_code=status.fail_code,
        fail_message=status.fail_message,
        raw=reply,
    )


def parse_status_reply(reply: Any, dialect: WireDialect | str | None = None) -> TaskStatus:
    """:func:`read_status` with the dialect that reads ``reply`` among the built-in ones."""
    return read_status(reply, _choose(reply, dialect))


def extract_result_urls(reply: Any, dialect: WireDialect | str | None = None) -> list[str]:
    """Result URLs from a status or callback reply, read as :func:`parse_status_reply` would."""
    return _choose(reply, dialect).extract_urls(reply_data(reply))


def _choose(reply: Any, dialect: WireDialect | str | None) -> WireDialect:
    data = reply_data(reply)
    if dialect is None:
        for candidate in BUILTIN.values():
            if candidate.matches(data):
                return candidate
        if "info" in data:  # a 4o or Flux callback: {taskId, info: {...}}
            return BUILTIN["gpt4o"] if _has_4o_info(data) else BUILTIN["flux"]
        raise ParseError("the status reply has no state, successFlag or status field")
    declared = dialect if isinstance(dialect, WireDialect) else BUILTIN[str(dialect)]
    return for_reply(data, declared, BUILTIN.values())


def _has_4o_info(data: Any) -> bool:
    info = data.get("info")
    return isinstance(info, dict) and ("result_urls" in info or "resultUrls" in info)
