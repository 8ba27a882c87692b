"""Reply bodies, per dialect and profile, as the live docs (and the reference) show them.

Envelopes are ``{"code", "msg", "data"}``; the reference profile's market shapes (Nano Banana Pro) use
``message`` instead of ``msg`` and answer a create with ``data.task_id``. Status ``data`` per dialect:

* market: ``taskId, model, state, param, resultJson, failCode, failMsg, costTime, completeTime, createTime,
  updateTime`` (times in unix ms); ``state`` waiting → queuing → generating → success | fail; ``resultJson``
  is the JSON *string* ``{"resultUrls": [...]}`` on success and ``""`` otherwise. As live records have since
  September 2026, they also carry ``successFlag`` (0 running, 1 success, 2 fail), ``response``
  (``{"resultUrls": [...]}`` on success, else null), ``paramJson`` (= ``param``), ``creditsConsumed`` and
  ``operationType`` (the model id), and ``costTime`` counts whole **seconds** (the docs say milliseconds).
* 4o: ``taskId, paramJson, completeTime, response, successFlag, status, errorCode, errorMessage, createTime,
  progress``; ``progress`` is a string ``"0.00"``..``"1.00"``, ``response`` null while running.
* Flux: ``taskId, paramJson, completeTime, response, successFlag, errorCode, errorMessage, createTime`` with
  ISO timestamps; ``response`` is ``{originImageUrl, resultImageUrl}`` on success.
* reference (generic): ``taskId, status, progress`` (int 0-100) and, when completed, ``imageUrl`` (the first
  URL). **Extension:** a completed task with several images also carries ``imageUrls`` (all of them), since
  the reference's single ``imageUrl`` cannot hold more than one. A failed task adds ``failMsg``.

Callback bodies (:func:`callback_body`) follow the live docs per dialect, for tasks of either profile (the
reference documents no callback body, so a reference-profile task's callback takes its model's *live*
dialect's shape, with ``msg``):

* market: the recordInfo-shaped ``data`` plus ``consumeCredits`` (the task's image count on success, else 0)
  and ``remainedCredits``; ``costTime`` is in seconds as in the status reply; envelope code 200
  ``"Playground task completed successfully."`` or 501 ``"Playground task failed."``.
* 4o: ``{"code":200,"msg":"success","data":{"taskId","info":{"result_urls":[...]}}}``; on failure the
  envelope code is the task's error code (400 unless a ``fail_task`` fault set ``code``), ``msg`` its error
  message and ``info`` null.
* Flux: ``{"code":200,"msg":"BFL image generated successfully.","data":{"taskId","info":{"originImageUrl",
  "resultImageUrl"}}}``; on failure the code is the task's error code (501 unless set) and both URLs ``""``.
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

MARKET_CALLBACK_OK = "Playground task completed successfully."
MARKET_CALLBACK_FAILED = "Playground task failed."
FLUX_CALLBACK_OK = "BFL image generated successfully."


def fail_code(task: EmulatedTask, dialect: Dialect) -> int:
    """The error code a failed ``task`` reports in ``dialect``."""
    return task.fail_code if task.fail_code is not None else FAIL_CODES.get(dialect, 500)


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
        self.cost_seconds = round(max(task_seconds, 0.0))


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
    model = task.body.get("model", task.model)
    return {
        "taskId": task.id,
        "model": model,
        "state": state,
        "param": _echo(task),
        "resultJson": json.dumps({"resultUrls": list(task.urls)}, separators=(",", ":")) if success else "",
        "failCode": str(fail_code(task, Dialect.MARKET)) if state == "fail" else "",
        "failMsg": task.fail_message if state == "fail" else "",
        "costTime": clock.cost_seconds if clock.done else None,
        "completeTime": _ms(clock.completed) if clock.done else None,
        "createTime": _ms(clock.created),
        "updateTime": _ms(clock.updated),
        "creditsConsumed": float(len(task.urls)) if success else 0,
        "operationType": model,
        "response": {"resultUrls": list(task.urls)} if success else None,
        "successFlag": 1 if success else 2 if state == "fail" else 0,
        "paramJson": _echo(task),
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
            errorCode=fail_code(task, Dialect.GPT4O),
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
        data.update(successFlag=3, errorCode=fail_code(task, Dialect.FLUX), errorMessage=task.fail_message)
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


def callback_body(task: EmulatedTask, task_seconds: float, remained_credits: int) -> dict[str, Any]:
    """The body POSTed to a finished ``task``'s callback URL, in its model's live dialect."""
    clock = _Clock(task, task_seconds)
    dialect = task.callback_dialect
    ok = not task.failed
    if dialect is Dialect.GPT4O:
        if ok:
            return envelope(200, "success", {"taskId": task.id, "info": {"result_urls": list(task.urls)}})
        return envelope(fail_code(task, dialect), task.fail_message, {"taskId": task.id, "info": None})
    if dialect is Dialect.FLUX:
        if ok:
            info = {"originImageUrl": task.origin_url or task.urls[0], "resultImageUrl": task.urls[0]}
            return envelope(200, FLUX_CALLBACK_OK, {"taskId": task.id, "info": info})
        info = {"originImageUrl": "", "resultImageUrl": ""}
        return envelope(fail_code(task, dialect), task.fail_message, {"taskId": task.id, "info": info})
    if dialect is Dialect.REFERENCE:  # a model without a live dialect of its own: the generic shape
        return envelope(200 if ok else 501, "success" if ok else task.fail_message, _reference(task, clock))
    data = _market(task, clock)
    data.update(consumeCredits=len(task.urls) if ok else 0, remainedCredits=remained_credits)
    if ok:
        return envelope(200, MARKET_CALLBACK_OK, data)
    return envelope(501, MARKET_CALLBACK_FAILED, data)
