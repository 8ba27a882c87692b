"""Status replies in any dialect or profile: pick the parser by the reply's shape, not by the profile.

Reply parsing accepts every shape whatever the profile, since the live docs and the reference disagree
and a server may answer either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from kiecore.errors import ParseError
from kiecore.model import TaskStatus
from kiecore.wire import flux, gpt4o, market, reference
from kiecore.wire.envelope import reply_data

_BY_SHAPE: tuple[ModuleType, ...] = (gpt4o, flux, market, reference)


def _dialect(data: Mapping[str, Any]) -> ModuleType:
    for module in _BY_SHAPE:
        if module.matches(data):
            return module
    raise ParseError("the status reply has no state, successFlag or status field")


def parse_status_reply(reply: Any) -> TaskStatus:
    """A :class:`TaskStatus` (without URLs) from a status reply; ``raw`` is the whole reply."""
    data = reply_data(reply)
    status: TaskStatus = _dialect(data).parse_status(data)
    return TaskStatus(
        state=status.state,
        progress=status.progress,
        fail_code=status.fail_code,
        fail_message=status.fail_message,
        raw=reply,
    )


def extract_result_urls(reply: Any) -> list[str]:
    """Result URLs from a status or callback reply of any dialect."""
    data = reply_data(reply)
    info = data.get("info")
    if "successFlag" not in data and isinstance(info, Mapping):  # a 4o or Flux callback
        return gpt4o.extract_urls(data) or flux.extract_urls(data)
    urls: list[str] = _dialect(data).extract_urls(data)
    return urls
