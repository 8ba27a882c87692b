"""Raw-HTTP helpers for the emulator tests: paths, headers, one request, a create, a status query, a task's clock."""

from __future__ import annotations

import json
import time
from typing import Any

import urllib3

from kiecore.emulator import Emulator

KEY = "test-key"
MARKET_CREATE = "/api/v1/jobs/createTask"
MARKET_STATUS = "/api/v1/jobs/recordInfo"
GPT4O_CREATE = "/api/v1/gpt4o-image/generate"
GPT4O_STATUS = "/api/v1/gpt4o-image/record-info"
FLUX_CREATE = "/api/v1/flux/kontext/generate"
FLUX_STATUS = "/api/v1/flux/kontext/record-info"
PRO_CREATE = "/api/v2/jobs/createTask"
DOWNLOAD_URL = "/api/v1/common/download-url"
GPT4O_DOWNLOAD_URL = "/api/v1/gpt4o-image/download-url"
CREDIT = "/api/v1/chat/credit"
EXPIRED_BODY = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))
LIVE = {"Authorization": f"Bearer {KEY}"}
REF = {"X-API-KEY": KEY, "Authorization": f"Bearer {KEY}"}


def call(
    emulator: Emulator, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
) -> tuple[int, Any, urllib3.BaseHTTPResponse]:
    """``(HTTP status, decoded JSON or raw bytes, response)`` of one API request."""
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(LIVE if headers is None else headers)}
    response = HTTP.request(method, emulator.base_url + path, body=raw, headers=sent)
    try:
        payload: Any = json.loads(response.data)
    except ValueError:
        payload = response.data
    return response.status, payload, response


def create(emulator: Emulator, path: str, body: Any, headers: dict[str, str] | None = None) -> str:
    status, reply, _ = call(emulator, "POST", path, body, headers=headers)
    assert status == 200 and reply["code"] == 200, reply
    data = reply["data"]
    return str(data.get("taskId") or data["task_id"])


def status(emulator: Emulator, path: str, task_id: str, headers: dict[str, str] | None = None) -> Any:
    code, reply, _ = call(emulator, "GET", f"{path}?taskId={task_id}", headers=headers)
    assert code == 200, reply
    return reply


def at(emulator: Emulator, task_id: str, fraction: float) -> None:
    """Move a task's clock so it is ``fraction`` of the way through."""
    emulator.tasks[task_id].started = time.monotonic() - fraction * emulator.task_seconds


def fetch(url: str, headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
    return HTTP.request("GET", url, headers=headers)


def market_body(**params: Any) -> dict[str, Any]:
    return {"model": "test/market", "input": {"prompt": "a red fox", **params}}
