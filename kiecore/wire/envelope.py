"""The reply envelope shared by every dialect: ``{"code": int, "msg"|"message": str, "data": ...}``.

Helpers here never raise anything but :class:`~kiecore.errors.ParseError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kiecore.errors import ParseError


def as_int(value: Any) -> int | None:
    """An int from an int or a numeric string; ``None`` for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def reply_code(reply: Any) -> int | None:
    """The body ``code`` as an int, or ``None`` when absent or not a number."""
    if not isinstance(reply, Mapping):
        return None
    return as_int(reply.get("code"))


def reply_message(reply: Any) -> str:
    """``msg``, else ``message`` (pages differ), else ``""``."""
    if not isinstance(reply, Mapping):
        return ""
    for key in ("msg", "message"):
        value = reply.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def reply_data(reply: Any) -> Mapping[str, Any]:
    """The ``data`` object of a reply; raises ParseError when the reply has none."""
    if not isinstance(reply, Mapping):
        raise ParseError(f"expected a JSON object, got {type(reply).__name__}")
    data = reply.get("data")
    if not isinstance(data, Mapping):
        raise ParseError("the reply has no 'data' object")
    return data


def text(value: Any) -> str | None:
    """A non-empty string form of a scalar, or ``None``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (str, int, float)):
        result = str(value).strip()
        return result or None
    return None


def task_id_of(data: Mapping[str, Any]) -> str | None:
    """``taskId``, else ``task_id`` (the prose and the reference use the latter)."""
    for key in ("taskId", "task_id"):
        value = text(data.get(key))
        if value is not None:
            return value
    return None


def parse_submit_reply(reply: Any) -> str:
    """The task id of a create reply, in any dialect or profile."""
    task_id = task_id_of(reply_data(reply))
    if task_id is None:
        raise ParseError("the create reply has no taskId")
    return task_id


def json_string(value: Any, what: str) -> Any:
    """Decode a field that holds JSON as a string (``resultJson``); a mapping passes through."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise ParseError(f"{what} is not a JSON string")
    try:
        return json.loads(value)
    except ValueError as error:
        raise ParseError(f"{what} is not valid JSON: {error}") from None
    except RecursionError:
        raise ParseError(f"{what} is nested too deeply") from None


def url_list(value: Any, what: str) -> list[str]:
    """A list of URL strings from a list (or one string); ParseError for anything else."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list):
        raise ParseError(f"{what} is not a list of URLs")
    urls: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ParseError(f"{what} holds a non-string entry")
        if item:
            urls.append(item)
    return urls


def result_holders(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The objects that hold result URLs in a dedicated-endpoint record: ``response`` (a status reply), then
    ``info`` (a callback), whichever are present; ParseError if one is present but not an object."""
    holders = []
    for key in ("response", "info"):
        holder = data.get(key)
        if holder is None:
            continue
        if not isinstance(holder, Mapping):
            raise ParseError(f"'{key}' is not an object")
        holders.append(holder)
    return holders


def run_seconds(create_ms: Any, complete_ms: Any) -> float | None:
    """Seconds from ``createTime`` to ``completeTime`` (unix milliseconds); ``None`` unless both are numbers and
    the span is between 0 and a day (anything else is not a run time to learn from)."""
    if isinstance(create_ms, bool) or isinstance(complete_ms, bool):
        return None
    if not isinstance(create_ms, (int, float)) or not isinstance(complete_ms, (int, float)):
        return None
    seconds = (complete_ms - create_ms) / 1000.0
    return seconds if 0.0 <= seconds <= 86400.0 else None
