"""The reference spec's generic shapes: ``data: {taskId, status, imageUrl, progress 0-100}``.

**Extension:** ``imageUrls`` (all results) beside ``imageUrl``, since the reference's single ``imageUrl`` cannot
hold several; the emulator sends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.dialects.base import WireDialect
from kiecore.model import TaskState, TaskStatus
from kiecore.wire.envelope import text, url_list
from kiecore.wire.progress import fraction
from kiecore.wire.states import state_from_word


class ReferenceDialect(WireDialect):
    name = "reference"
    states_failure_reason = False  # the reference spec documents a "failed" status but no field saying why
    emulation = "kiecore.emulator.dialects.reference:REFERENCE"

    def matches(self, data: Mapping[str, Any]) -> bool:
        """A ``status`` or ``imageUrl``, and never a ``successFlag``."""
        return "successFlag" not in data and ("status" in data or "imageUrl" in data)

    def parse_status(self, data: Mapping[str, Any]) -> TaskStatus:
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

    def extract_urls(self, data: Mapping[str, Any]) -> list[str]:
        """``imageUrls`` (the emulator's extension for several), else ``imageUrl`` (one string, or a list)."""
        urls = url_list(data.get("imageUrls"), "imageUrls")
        return urls or url_list(data.get("imageUrl"), "imageUrl")

    def examples(self) -> tuple[tuple[dict[str, Any], TaskState], ...]:
        return (
            ({"status": "pending", "progress": 0}, TaskState.QUEUED),
            ({"status": "processing", "progress": 45}, TaskState.RUNNING),
            ({"status": "completed", "progress": 100}, TaskState.SUCCEEDED),
            ({"status": "failed"}, TaskState.FAILED),
        )

    def with_result_urls(self, data: Mapping[str, Any], urls: list[str]) -> dict[str, Any]:
        placed = {**data, "imageUrl": urls[0]}
        if len(urls) > 1:
            placed["imageUrls"] = urls
        return placed


REFERENCE = ReferenceDialect()
