"""The market jobs API as the emulator answers it: state waiting -> queuing -> generating -> success | fail.

Records carry the documented fields (``taskId, model, state, param, resultJson, failCode, failMsg, costTime,
completeTime, createTime, updateTime``, times in unix ms; ``resultJson`` a JSON *string*) and, as live records
have since September 2026, ``successFlag`` (0 running, 1 success, 2 fail), ``response``, ``paramJson``,
``creditsConsumed``, ``operationType`` (the model id) and ``costTime`` in whole **seconds** (the docs say
milliseconds). The reference profile's market shapes say ``message`` and ``task_id``. Callbacks carry the
record plus ``consumeCredits`` and ``remainedCredits``, envelope 200 ``"Playground task completed
successfully."`` or 501 ``"Playground task failed."``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kiecore.emulator.dialects.base import Clock, EmulatedDialect, echo, envelope, ms
from kiecore.model import Profile

if TYPE_CHECKING:
    from kiecore.emulator.tasks import EmulatedTask

#: Where the phases end, as fractions of the task's duration.
PHASES: tuple[tuple[float, str], ...] = ((0.2, "waiting"), (0.4, "queuing"), (1.0, "generating"))
CALLBACK_OK = "Playground task completed successfully."
CALLBACK_FAILED = "Playground task failed."


class EmulatedMarket(EmulatedDialect):
    def message_key(self, profile: Profile) -> str:
        return "message" if profile is Profile.REFERENCE else "msg"

    def create_data(self, task_id: str, profile: Profile) -> dict[str, Any]:
        return {"task_id" if profile is Profile.REFERENCE else "taskId": task_id}

    def status_data(self, task: EmulatedTask, clock: Clock) -> dict[str, Any]:
        state = next((word for end, word in PHASES if clock.fraction < end), "success")
        if clock.done and task.failed:
            state = "fail"
        success = state == "success"
        model = task.body.get("model", task.model)
        return {
            "taskId": task.id,
            "model": model,
            "state": state,
            "param": echo(task),
            "resultJson": json.dumps({"resultUrls": list(task.urls)}, separators=(",", ":")) if success else "",
            "failCode": str(self.failure_code(task)) if state == "fail" else "",
            "failMsg": task.fail_message if state == "fail" else "",
            "costTime": clock.cost_seconds if clock.done else None,
            "completeTime": ms(clock.completed) if clock.done else None,
            "createTime": ms(clock.created),
            "updateTime": ms(clock.updated),
            "creditsConsumed": float(len(task.urls)) if success else 0,
            "operationType": model,
            "response": {"resultUrls": list(task.urls)} if success else None,
            "successFlag": 1 if success else 2 if state == "fail" else 0,
            "paramJson": echo(task),
        }

    def callback_body(self, task: EmulatedTask, clock: Clock, remained_credits: int) -> dict[str, Any]:
        ok = not task.failed
        data = self.status_data(task, clock)
        data.update(consumeCredits=len(task.urls) if ok else 0, remainedCredits=remained_credits)
        return envelope(200, CALLBACK_OK, data) if ok else envelope(501, CALLBACK_FAILED, data)


MARKET = EmulatedMarket()
