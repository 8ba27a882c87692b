"""Flux Kontext as the emulator answers it: ``successFlag`` 0 -> 1 | 3, ISO timestamps, one result, and the
input image it edited: ``response`` is ``{originImageUrl, resultImageUrl}`` on success. Callbacks:
``{"code":200,"msg":"BFL image generated successfully.","data":{"taskId","info":{"originImageUrl",
"resultImageUrl"}}}``; on failure the code is the task's error code (501 unless set) and both URLs ``""``.
Task ids look like ``fluxkontext_<24 hex>``."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from kiecore.emulator.dialects.base import Clock, EmulatedDialect, echo, envelope, iso

if TYPE_CHECKING:
    from kiecore.emulator.tasks import EmulatedTask

CALLBACK_OK = "BFL image generated successfully."


class EmulatedFlux(EmulatedDialect):
    fail_code = 501
    single_image = True
    origin_file = True

    def new_task_id(self) -> str:
        return f"fluxkontext_{uuid.uuid4().hex[:24]}"

    def status_data(self, task: EmulatedTask, clock: Clock) -> dict[str, Any]:
        data: dict[str, Any] = {
            "taskId": task.id,
            "paramJson": echo(task),
            "completeTime": iso(clock.completed) if clock.done else None,
            "response": None,
            "successFlag": 0,
            "errorCode": None,
            "errorMessage": "",
            "createTime": iso(clock.created),
        }
        if clock.done and task.failed:
            data.update(successFlag=3, errorCode=self.failure_code(task), errorMessage=task.fail_message)
        elif clock.done:
            data.update(response=_urls(task), successFlag=1)
        return data

    def callback_body(self, task: EmulatedTask, clock: Clock, remained_credits: int) -> dict[str, Any]:
        if not task.failed:
            return envelope(200, CALLBACK_OK, {"taskId": task.id, "info": _urls(task)})
        info = {"originImageUrl": "", "resultImageUrl": ""}
        return envelope(self.failure_code(task), task.fail_message, {"taskId": task.id, "info": info})


def _urls(task: EmulatedTask) -> dict[str, str]:
    return {"originImageUrl": task.origin_url or task.urls[0], "resultImageUrl": task.urls[0]}


FLUX = EmulatedFlux()
