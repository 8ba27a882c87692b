"""The market jobs dialect (``/api/v1/jobs/createTask`` + ``recordInfo``): state words, ``resultJson``.

Live records since September 2026 also carry ``successFlag``, ``response.resultUrls``, ``paramJson``,
``creditsConsumed``, ``operationType`` and ``costTime`` in seconds (the docs say milliseconds); ``state``,
``failCode`` and ``failMsg`` stay authoritative, and ``response.resultUrls`` is read when ``resultJson`` is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.errors import ParseError
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
    """``json.loads(resultJson)["resultUrls"]``, else ``response.resultUrls``; ``""`` or missing means none."""
    raw = data.get("resultJson")
    urls: list[str] = []
    if raw is not None and raw != "":
        result = json_string(raw, "resultJson")
        if not isinstance(result, Mapping):
            return url_list(result, "resultJson")
        urls = url_list(result.get("resultUrls", result.get("result_urls")), "resultJson.resultUrls")
    response = data.get("response")
    if not urls and response is not None:
        if not isinstance(response, Mapping):
            raise ParseError("'response' is not an object")
        urls = url_list(response.get("resultUrls"), "response.resultUrls")
    return urls
