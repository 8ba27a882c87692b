"""The reference spec's generic shapes: ``data: {taskId, status, imageUrl, progress 0-100}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.model import TaskStatus
from kiecore.wire.envelope import text, url_list
from kiecore.wire.progress import fraction
from kiecore.wire.states import state_from_word


def matches(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` looks like the reference's generic record (which never has a ``successFlag``)."""
    return "successFlag" not in data and ("status" in data or "imageUrl" in data)


def parse_status(data: Mapping[str, Any]) -> TaskStatus:
    fail_message = None
    for key in ("failMsg", "errorMessage", "error", "msg"):
        fail_message = text(data.get(key))
        if fail_message:
            break
    return TaskStatus(
        state=state_from_word(data.get("status")),
        progress=fraction(data.get("progress"), percent=True),
        fail_code=text(data.get("failCode", data.get("errorCode"))),
        fail_message=fail_message,
    )


def extract_urls(data: Mapping[str, Any]) -> list[str]:
    """``imageUrl`` (one string, or a list), then ``imageUrls`` (the emulator's extension for several)."""
    urls = url_list(data.get("imageUrls"), "imageUrls")
    return urls or url_list(data.get("imageUrl"), "imageUrl")
