"""Reply bodies, per dialect and profile, as the live docs (and the reference) show them.

Envelopes are ``{"code", "msg", "data"}``; the reference profile's market shapes (Nano Banana Pro) use
``message`` instead of ``msg`` and answer a create with ``data.task_id``. Status ``data`` per dialect:

* market: ``taskId, model, state, param, resultJson, failCode, failMsg, costTime, completeTime, createTime,
  updateTime`` (unix ms); ``state`` waiting → queuing → generating → success | fail; ``resultJson`` is the
  JSON *string* ``{"resultUrls": [...]}`` on success and ``""`` otherwise.
* 4o: ``taskId, paramJson, completeTime, response, successFlag, status, errorCode, errorMessage, createTime,
  progress``; ``progress`` is a string ``"0.00"``..``"1.00"``, ``response`` null while running.
* Flux: ``taskId, paramJson, completeTime, response, successFlag, errorCode, errorMessage, createTime`` with
  ISO timestamps; ``response`` is ``{originImageUrl, resultImageUrl}`` on success.
* reference (generic): ``taskId, status, progress`` (int 0-100) and, when completed, ``imageUrl`` (the first
  URL). **Extension:** a completed task with several images also carries ``imageUrls`` (all of them), since
  the reference's single ``imageUrl`` cannot hold more than one. A failed task adds ``failMsg``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from kiecore.declarations import Dialect, WireSpec
from kiecore.emulator.tasks import EmulatedTask
from kiecore.model import Profile

#: Where each dialect's phases end, as fractions of the task's duration.
MARKET_PHASES: tuple[tuple[float, str], ...] = ((0.2, "waiting"), (0.4, "queuing"), (1.0, "generating"))
REFERENCE_PENDING_UNTIL = 0.2

FAIL_CODES: dict[Dialect, int] = {Dialect.MARKET: 500, Dialect.GPT4O: 400, Dialect.FLUX: 501}


def message_key(profile: Profile, wire: WireSpec) -> str:
    """``message`` for the reference profile's market shapes (Nano Banana Pro), else ``msg``."""
    return "message" if profile is Profile.REFERENCE and wire.dialect is Dialect.MARKET else "msg"


def envelope(code: int, message: str, data: Any = None, *, key: str = "msg") -> dict[str, Any]:
    return {"code": code, key: message, "data": data}


def create_reply(task: EmulatedTask) -> dict[str, Any]:
    """The create reply for a new task."""
    key = message_key(task.profile, task.wire)
    id_key = "task_id" if key == "message" else "taskId"
    return envelope(200, "success", {id_key: task.id}, key=key)


def status_reply(task: EmulatedTask, task_seconds: float) -> dict[str, Any]:
    """The status reply for ``task`` as of now."""
    build = {
        Dialect.MARKET: _market,
        Dialect.GPT4O: _gpt4o,
        Dialect.FLUX: _flux,
        Dialect.REFERENCE: _reference,
    }[task.dialect]
    clock = _Clock(task, task_seconds)
    return envelope(200, "success", build(task, clock), key=message_key(task.profile, task.wire))


class _Clock:
    """A task's progress and timestamps as of one moment."""

    def __init__(self, task: EmulatedTask, task_seconds: float) -> None:
        self.fraction = task.fraction(task_seconds)
        self.done = self.fraction >= 1.0
        self.created = task.created
        self.completed = task.created + max(task_seconds, 0.0)
        self.updated = min(time.time(), self.completed) if not self.done else self.completed
        self.cost_ms = int(max(task_seconds, 0.0) * 1000)


def _ms(moment: float) -> int:
    return int(moment * 1000)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _echo(task: EmulatedTask) -> str:
    return json.dumps(task.body, separators=(",", ":"), ensure_ascii=False)


def _market(task: EmulatedTask, clock: _Clock) -> dict[str, Any]:
    state = next((word for end, word in MARKET_PHASES if clock.fraction < end), "success")
    if clock.done and task.failed:
        state = "fail"
    success = state == "success"
    return {
        "taskId": task.id,
        "model": task.body.get("model", task.model),
        "state": state,
        "param": _echo(task),
        "resultJson": json.dumps({"resultUrls": list(task.urls)}, separators=(",", ":")) if success else "",
        "failCode": str(FAIL_CODES[Dialect.MARKET]) if state == "fail" else "",
        "failMsg": task.fail_message if state == "fail" else "",
        "costTime": clock.cost_ms if clock.done else None,
        "completeTime": _ms(clock.completed) if clock.done else None,
        "createTime": _ms(clock.created),
        "updateTime": _ms(clock.updated),
    }


def _gpt4o(task: EmulatedTask, clock: _Clock) -> dict[str, Any]:
    data: dict[str, Any] = {
        "taskId": task.id,
        "paramJson": _echo(task),
        "completeTime": _ms(clock.completed) if clock.done else None,
        "response": None,
        "successFlag": 0,
        "status": "GENERATING",
        "errorCode": None,
        "errorMessage": "",
        "createTime": _ms(clock.created),
        "progress": f"{min(clock.fraction, 0.99):.2f}",
    }
    if clock.done and task.failed:
        data.update(
            response={"result_urls": []},
            successFlag=2,
            status="GENERATE_FAILED",
            errorCode=FAIL_CODES[Dialect.GPT4O],
            errorMessage=task.fail_message,
            progress="0.00",
        )
    elif clock.done:
        data.update(response={"resultUrls": list(task.urls)}, successFlag=1, status="SUCCESS", progress="1.00")
    return data


def _flux(task: EmulatedTask, clock: _Clock) -> dict[str, Any]:
    data: dict[str, Any] = {
        "taskId": task.id,
        "paramJson": _echo(task),
        "completeTime": _iso(clock.completed) if clock.done else None,
        "response": None,
        "successFlag": 0,
        "errorCode": None,
        "errorMessage": "",
        "createTime": _iso(clock.created),
    }
    if clock.done and task.failed:
        data.update(successFlag=3, errorCode=FAIL_CODES[Dialect.FLUX], errorMessage=task.fail_message)
    elif clock.done:
        data.update(
            response={"originImageUrl": task.origin_url or task.urls[0], "resultImageUrl": task.urls[0]},
            successFlag=1,
        )
    return data


def _reference(task: EmulatedTask, clock: _Clock) -> dict[str, Any]:
    if clock.done and task.failed:
        return {"taskId": task.id, "status": "failed", "failMsg": task.fail_message}
    if clock.done:
        data: dict[str, Any] = {"taskId": task.id, "status": "completed", "progress": 100, "imageUrl": task.urls[0]}
        if len(task.urls) > 1:
            data["imageUrls"] = list(task.urls)
        return data
    if clock.fraction < REFERENCE_PENDING_UNTIL:
        return {"taskId": task.id, "status": "pending", "progress": 0}
    return {"taskId": task.id, "status": "processing", "progress": min(99, int(clock.fraction * 100))}
