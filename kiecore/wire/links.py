"""Fresh download links for result URLs that have expired (kie-live-api.md 1.5).

GPT-4o results have their own endpoint, which needs the task id; every other result uses the common one.
Both answer ``data`` as a string: a link valid for 20 minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.declarations import Dialect
from kiecore.errors import ParseError
from kiecore.wire.request import WireRequest

COMMON_PATH = "/api/v1/common/download-url"
GPT4O_PATH = "/api/v1/gpt4o-image/download-url"


def build_link_request(dialect: Dialect, task_id: str, url: str) -> WireRequest:
    """The request asking Kie for a fresh link to ``url``, a result of ``task_id``."""
    if dialect is Dialect.GPT4O:
        return WireRequest("POST", GPT4O_PATH, body={"taskId": task_id, "url": url})
    return WireRequest("POST", COMMON_PATH, body={"url": url})


def parse_link_reply(reply: Any) -> str:
    """The fresh link from a download-url reply."""
    data = reply.get("data") if isinstance(reply, Mapping) else None
    if isinstance(data, Mapping):  # tolerate {"data": {"url": ...}} as well as the documented string
        data = data.get("url") or data.get("downloadUrl")
    if not isinstance(data, str) or not data.startswith(("http://", "https://")):
        raise ParseError("the download-url reply holds no http(s) link")
    return data
