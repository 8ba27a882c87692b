"""The market jobs dialect (``/api/v1/jobs/createTask`` + ``/api/v1/jobs/recordInfo``), shared by most models.

Records: ``state`` (waiting, queuing, generating, success, fail), ``resultJson`` (a JSON *string*
``{"resultUrls": [...]}``), ``failCode``/``failMsg``. Live records since September 2026 also carry
``successFlag``, ``response.resultUrls``, ``paramJson``, ``creditsConsumed``, ``operationType`` and ``costTime``
in seconds (the docs say milliseconds); ``state``, ``failCode`` and ``failMsg`` stay authoritative, and
``response.resultUrls`` is read when ``resultJson`` is empty. Callbacks carry the same record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kiecore.dialects.base import WireDialect
from kiecore.errors import ParseError
from kiecore.model import TaskState, TaskStatus
from kiecore.wire.envelope import json_string, run_seconds, text, url_list
from kiecore.wire.states import state_from_word

#: The fields live market records carry besides the documented ones (captured since September 2026).
LIVE_2026: dict[str, Any] = {
    "param": "{}",
    "paramJson": "{}",
    "resultJson": "",
    "failCode": None,
    "failMsg": None,
    "costTime": None,
    "creditsConsumed": 0.8,
    "operationType": "z-image",
    "createTime": 1789644173377,
    "completeTime": 1789644179089,
}


class MarketDialect(WireDialect):
    name = "market"
    emulation = "kiecore.emulator.dialects.market:MARKET"

    def matches(self, data: Mapping[str, Any]) -> bool:
        return "state" in data or "resultJson" in data

    def parse_status(self, data: Mapping[str, Any]) -> TaskStatus:
        return TaskStatus(
            state=state_from_word(data.get("state")),
            fail_code=text(data.get("failCode")),
            fail_message=text(data.get("failMsg")),
            run_seconds=run_seconds(data.get("createTime"), data.get("completeTime")),
        )

    def extract_urls(self, data: Mapping[str, Any]) -> list[str]:
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

    def examples(self) -> tuple[tuple[dict[str, Any], TaskState], ...]:
        return (
            ({"state": "waiting", "resultJson": "", "failCode": "", "failMsg": ""}, TaskState.QUEUED),
            ({"state": "queuing", "resultJson": "", "failCode": "", "failMsg": ""}, TaskState.QUEUED),
            ({"state": "generating", "resultJson": "", "failCode": "", "failMsg": ""}, TaskState.RUNNING),
            ({"state": "success", "failCode": "", "failMsg": ""}, TaskState.SUCCEEDED),
            (
                {"state": "fail", "resultJson": "", "failCode": "500", "failMsg": "Internal server error"},
                TaskState.FAILED,
            ),
            ({**LIVE_2026, "state": "generating", "successFlag": 0, "response": None}, TaskState.RUNNING),
            ({**LIVE_2026, "state": "success", "successFlag": 1, "costTime": 6}, TaskState.SUCCEEDED),
            (
                {**LIVE_2026, "state": "fail", "successFlag": 2, "failCode": "500", "failMsg": "Internal error"},
                TaskState.FAILED,
            ),
        )

    def with_result_urls(self, data: Mapping[str, Any], urls: list[str]) -> dict[str, Any]:
        placed = {**data, "resultJson": json.dumps({"resultUrls": urls})}
        if "successFlag" in data:  # a live record since 2026 repeats them under response
            placed["response"] = {"resultUrls": urls}
        return placed


MARKET = MarketDialect()
