"""The Flux Kontext dialect: ``successFlag`` 0-3, one result in ``response.resultImageUrl``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.errors import ParseError
from kiecore.model import TaskStatus
from kiecore.wire.envelope import text, url_list
from kiecore.wire.states import state_from_flag


def matches(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` looks like a Flux record: a ``successFlag`` with no state word beside it."""
    return "successFlag" in data and "state" not in data and "status" not in data


def parse_status(data: Mapping[str, Any]) -> TaskStatus:
    return TaskStatus(
        state=state_from_flag(data.get("successFlag")),
        fail_code=text(data.get("errorCode")),
        fail_message=text(data.get("errorMessage")),
    )


def extract_urls(data: Mapping[str, Any]) -> list[str]:
    """``response.resultImageUrl`` (status) or ``info.resultImageUrl`` (callback); never ``originImageUrl``."""
    for holder_key in ("response", "info"):
        holder = data.get(holder_key)
        if holder is None:
            continue
        if not isinstance(holder, Mapping):
            raise ParseError(f"'{holder_key}' is not an object")
        urls = url_list(holder.get("resultImageUrl"), f"{holder_key}.resultImageUrl")
        if urls:
            return urls
    return []
