"""The Flux Kontext dialect (``/api/v1/flux/kontext/*``): ``successFlag`` 0-3 and one result in
``response.resultImageUrl`` (``info.resultImageUrl`` in callbacks), never ``originImageUrl``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.dialects.base import WireDialect
from kiecore.model import TaskState, TaskStatus
from kiecore.wire.envelope import result_holders, text, url_list
from kiecore.wire.states import state_from_flag


class FluxDialect(WireDialect):
    name = "flux"
    emulation = "kiecore.emulator.dialects.flux:FLUX"
    max_urls = 1

    def matches(self, data: Mapping[str, Any]) -> bool:
        """A ``successFlag`` with no state word beside it."""
        return "successFlag" in data and "state" not in data and "status" not in data

    def parse_status(self, data: Mapping[str, Any]) -> TaskStatus:
        return TaskStatus(
            state=state_from_flag(data.get("successFlag")),
            fail_code=text(data.get("errorCode")),
            fail_message=text(data.get("errorMessage")),
        )

    def extract_urls(self, data: Mapping[str, Any]) -> list[str]:
        for holder in result_holders(data):
            urls = url_list(holder.get("resultImageUrl"), "resultImageUrl")
            if urls:
                return urls
        return []

    def examples(self) -> tuple[tuple[dict[str, Any], TaskState], ...]:
        return (
            ({"successFlag": 0, "response": None, "errorCode": None, "errorMessage": ""}, TaskState.RUNNING),
            ({"successFlag": 1, "errorCode": None, "errorMessage": ""}, TaskState.SUCCEEDED),
            ({"successFlag": 2, "errorCode": 400, "errorMessage": "flagged"}, TaskState.FAILED),
            ({"successFlag": 3, "errorCode": 501, "errorMessage": "failed"}, TaskState.FAILED),
        )

    def with_result_urls(self, data: Mapping[str, Any], urls: list[str]) -> dict[str, Any]:
        return {**data, "response": {"originImageUrl": "https://origin.example/o.png", "resultImageUrl": urls[0]}}


FLUX = FluxDialect()
