"""Status replies in any dialect or profile: parse as the model's declared dialect, by shape otherwise.

A reply is read as the dialect the model declares whenever it has that dialect's shape: today's live market
records also carry ``successFlag`` and ``response``, which must not make them look like Flux replies. Each
dialect's ``matches`` looks for the fields only it has, so a reply that lacks its declared dialect's shape is
clearly of another, and is read as that one (the live docs and the reference disagree, and a server may answer
either way, e.g. a 4o reply to a reference-profile query).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from kiecore.declarations import Dialect
from kiecore.errors import ParseError
from kiecore.model import TaskStatus
from kiecore.wire import flux, gpt4o, market, reference
from kiecore.wire.envelope import reply_data

_MODULES: dict[Dialect, ModuleType] = {
    Dialect.GPT4O: gpt4o,
    Dialect.MARKET: market,
    Dialect.FLUX: flux,
    Dialect.REFERENCE: reference,
}


def _dialect(data: Mapping[str, Any], declared: Dialect | None) -> ModuleType:
    if declared is not None and _MODULES[declared].matches(data):
        return _MODULES[declared]
    for module in _MODULES.values():
        if module.matches(data):
            return module
    raise ParseError("the status reply has no state, successFlag or status field")


def parse_status_reply(reply: Any, dialect: Dialect | None = None) -> TaskStatus:
    """A :class:`TaskStatus` (without URLs) from a status reply; ``raw`` is the whole reply.

    ``dialect`` is the one the model declares for the profile it was created in (``None``: by shape only).
    """
    data = reply_data(reply)
    status: TaskStatus = _dialect(data, dialect).parse_status(data)
    return TaskStatus(
        state=status.state,
        progress=status.progress,
        fail_code=status.fail_code,
        fail_message=status.fail_message,
        raw=reply,
    )


def extract_result_urls(reply: Any, dialect: Dialect | None = None) -> list[str]:
    """Result URLs from a status or callback reply, read as ``dialect`` first (see :func:`parse_status_reply`)."""
    data = reply_data(reply)
    info = data.get("info")
    if "successFlag" not in data and isinstance(info, Mapping):  # a 4o or Flux callback
        return gpt4o.extract_urls(data) or flux.extract_urls(data)
    urls: list[str] = _dialect(data, dialect).extract_urls(data)
    return urls
