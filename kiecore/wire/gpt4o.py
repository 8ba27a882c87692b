"""The GPT-4o Image dialect: ``successFlag`` 0-2 plus a text status, ``response.resultUrls``, progress "0.45"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.errors import ParseError
from kiecore.model import TaskState, TaskStatus
from kiecore.wire.envelope import text, url_list
from kiecore.wire.progress import fraction
from kiecore.wire.states import state_from_flag, state_from_word


def matches(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` looks like a 4o record: a ``successFlag`` with a text ``status`` or a ``progress``."""
    return "successFlag" in data and "state" not in data and ("status" in data or "progress" in data)


def parse_status(data: Mapping[str, Any]) -> TaskStatus:
    state = state_from_flag(data.get("successFlag"))
    if state is TaskState.UNKNOWN:
        state = state_from_word(data.get("status"))
    return TaskStatus(
        state=state,
        progress=fraction(data.get("progress"), percent=False),
        fail_code=text(data.get("errorCode")),
        fail_message=text(data.get("errorMessage")),
    )


def extract_urls(data: Mapping[str, Any]) -> list[str]:
    """``response.resultUrls`` or ``response.result_urls`` (status), ``info.result_urls`` (callback)."""
    for holder_key in ("response", "info"):
        holder = data.get(holder_key)
        if holder is None:
            continue
        if not isinstance(holder, Mapping):
            raise ParseError(f"'{holder_key}' is not an object")
        for key in ("resultUrls", "result_urls"):
            urls = url_list(holder.get(key), f"{holder_key}.{key}")
            if urls:
                return urls
    return []
