"""GPT-4o Image as the emulator answers it: ``successFlag`` 0 -> 1 | 2 with a text ``status`` and a string
``progress`` ``"0.00"``..``"1.00"``; ``response`` null while running. Callbacks:
``{"code":200,"msg":"success","data":{"taskId","info":{"result_urls":[...]}}}``; on failure the envelope code is
the task's error code (400 unless a ``fail_task`` fault set ``code``), ``msg`` its message and ``info`` null.
Task ids look like ``task_4o_<20 hex>``; a create whose body is not JSON gets 400; it has its own fresh-link
endpoint."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from kiecore.emulator.dialects.base import Clock, EmulatedDialect, echo, envelope, ms

if TYPE_CHECKING:
    from kiecore.emulator.tasks import EmulatedTask


class EmulatedGpt4o(EmulatedDialect):
    fail_code = 400
    bad_json_code = 400
    own_link_endpoint = True

    def new_task_id(self) -> str:
        return f"task_4o_{uuid.uuid4().hex[:20]}"

    def status_data(self, task: EmulatedTask, clock: Clock) -> dict[str, Any]:
        data: dict[str, Any] = {
            "taskId": task.id,
            "paramJson": echo(task),
            "completeTime": ms(clock.completed) if clock.done else None,
            "response": None,
            "successFlag": 0,
            "status": "GENERATING",
            "errorCode": None,
            "errorMessage": "",
            "createTime": ms(clock.created),
            "progress": f"{min(clock.fraction, 0.99):.2f}",
        }
        if clock.done and task.failed:
            data.update(
                response={"result_urls": []},
                successFlag=2,
                status="GENERATE_FAILED",
                errorCode=self.failure_code(task),
                errorMessage=task.fail_message,
                progress="0.00",
            )
        elif clock.done:
            data.update(response={"resultUrls": list(task.urls)}, successFlag=1, status="SUCCESS", progress="1.00")
        return data

    def callback_body(self, task: EmulatedTask, clock: Clock, remained_credits: int) -> dict[str, Any]:
        if not task.failed:
            return envelope(200, "success", {"taskId": task.id, "info": {"result_urls": list(task.urls)}})
        return envelope(self.failure_code(task), task.fail_message, {"taskId": task.id, "info": None})


GPT4O = EmulatedGpt4o()
