"""Fresh download links for result URLs that have expired (docs/kie-api-notes.md §4).

Each dialect says where to ask (``WireDialect.link_request``); every endpoint answers ``data`` as a string: a
link valid for 20 minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.errors import ParseError


def parse_link_reply(reply: Any) -> str:
    """The fresh link from a download-url reply."""
    data = reply.get("data") if isinstance(reply, Mapping) else None
    if isinstance(data, Mapping):  # tolerate {"data": {"url": ...}} as well as the documented string
        data = data.get("url") or data.get("downloadUrl")
    if not isinstance(data, str) or not data.startswith(("http://", "https://")):
        raise ParseError("the download-url reply holds no http(s) link")
    return data
