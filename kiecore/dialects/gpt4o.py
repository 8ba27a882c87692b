"""The GPT-4o Image dialect (``/api/v1/gpt4o-image/*``): ``successFlag`` 0-2 plus a text ``status``,
``response.resultUrls``, progress as a string ``"0.45"``; callbacks carry ``info.result_urls``. Its
record-info endpoint allows 3 queries per second per task, and it has a fresh-link endpoint of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.dialects.base import WireDialect
from kiecore.model import TaskState, TaskStatus
from kiecore.wire.envelope import result_holders, text, url_list
from kiecore.wire.progress import fraction
from kiecore.wire.request import WireRequest
from kiecore.wire.states import state_from_flag, state_from_word

LINK_PATH = "/api/v1/gpt4o-image/download-url"


class Gpt4oDialect(WireDialect):
    name = "gpt4o"
    status_limited_per_task = True
    emulation = "kiecore.emulator.dialects.gpt4o:GPT4O"

    def matches(self, data: Mapping[str, Any]) -> bool:
        """A ``successFlag`` with a text ``status`` or a ``progress``, and no market ``state``."""
        return "successFlag" in data and "state" not in data and ("status" in data or "progress" in data)

    def parse_status(self, data: Mapping[str, Any]) -> TaskStatus:
        state = state_from_flag(data.get("successFlag"))
        if state is TaskState.UNKNOWN:
            state = state_from_word(data.get("status"))
        return TaskStatus(
            state=state,
            progress=fraction(data.get("progress"), percent=False),
            fail_code=text(data.get("errorCode")),
            fail_message=text(data.get("errorMessage")),
        )

    def extract_urls(self, data: Mapping[str, Any]) -> list[str]:
        """``response.resultUrls`` or ``response.result_urls`` (status), ``info.result_urls`` (callback)."""
        for holder in result_holders(data):
            for key in ("resultUrls", "result_urls"):
                urls = url_list(holder.get(key), key)
                if urls:
                    return urls
        return []

    def link_request(self, task_id: str, url: str) -> WireRequest:
        return WireRequest("POST", LINK_PATH, body={"taskId": task_id, "url": url})

    def examples(self) -> tuple[tuple[dict[str, Any], TaskState], ...]:
        failed = {"status": "GENERATE_FAILED", "errorCode": 500, "errorMessage": "x"}
        return (
            ({"successFlag": 0, "status": "GENERATING", "progress": "0.45", "response": None}, TaskState.RUNNING),
            ({"successFlag": 1, "status": "SUCCESS", "progress": "1.00"}, TaskState.SUCCEEDED),
            (
                {"successFlag": 2, "status": "GENERATE_FAILED", "errorCode": 400, "errorMessage": "flagged"},
                TaskState.FAILED,
            ),
            ({**failed, "successFlag": 2, "status": "CREATE_TASK_FAILED"}, TaskState.FAILED),
            ({**failed, "successFlag": 3}, TaskState.FAILED),
        )

    def with_result_urls(self, data: Mapping[str, Any], urls: list[str]) -> dict[str, Any]:
        return {**data, "response": {"resultUrls": urls}}


GPT4O = Gpt4oDialect()
