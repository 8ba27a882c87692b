"""The market jobs dialect (``/api/v1/jobs/createTask`` + ``recordInfo``): state words, ``resultJson``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.model import TaskStatus
from kiecore.wire.envelope import json_string, text, url_list
from kiecore.wire.states import state_from_word


def matches(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` looks like a market record."""
    return "state" in data or "resultJson" in data


def parse_status(data: Mapping[str, Any]) -> TaskStatus:
    return TaskStatus(
        state=state_from_word(data.get("state")),
        fail_code=text(data.get("failCode")),
        fail_message=text(data.get("failMsg")),
    )


def extract_urls(data: Mapping[str, Any]) -> list[str]:
    """``json.loads(resultJson)["resultUrls"]``; ``""`` or a missing field means none."""
    raw = data.get("resultJson")
    if raw is None or raw == "":
        return []
    result = json_string(raw, "resultJson")
    if not isinstance(result, Mapping):
        return url_list(result, "resultJson")
    urls = result.get("resultUrls", result.get("result_urls"))
    return url_list(urls, "resultJson.resultUrls")
