"""The reference spec's generic shapes as the emulator answers them: ``taskId, status, progress`` (int 0-100)
and, when completed, ``imageUrl`` (the first URL). **Extension:** a completed task with several images also
carries ``imageUrls`` (all of them), since the single ``imageUrl`` cannot hold more than one. A failed task adds
``failMsg``. The reference documents no callback body: a model without a live dialect of its own posts this
record, envelope 200 or 501. Task ids look like ``task_<24 hex>``."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from kiecore.emulator.dialects.base import Clock, EmulatedDialect, envelope

if TYPE_CHECKING:
    from kiecore.emulator.tasks import EmulatedTask

PENDING_UNTIL = 0.2


class EmulatedReference(EmulatedDialect):
    def new_task_id(self) -> str:
        return f"task_{uuid.uuid4().hex[:24]}"

    def status_data(self, task: EmulatedTask, clock: Clock) -> dict[str, Any]:
        if clock.done and task.failed:
            return {"taskId": task.id, "status": "failed", "failMsg": task.fail_message}
        if clock.done:
            data: dict[str, Any] = {"taskId": task.id, "status": "completed", "progress": 100, "imageUrl": task.urls[0]}
            if len(task.urls) > 1:
                data["imageUrls"] = list(task.urls)
            return data
        if clock.fraction < PENDING_UNTIL:
            return {"taskId": task.id, "status": "pending", "progress": 0}
        return {"taskId": task.id, "status": "processing", "progress": min(99, int(clock.fraction * 100))}

    def callback_body(self, task: EmulatedTask, clock: Clock, remained_credits: int) -> dict[str, Any]:
        ok = not task.failed
        return envelope(200 if ok else 501, "success" if ok else task.fail_message, self.status_data(task, clock))


REFERENCE = EmulatedReference()
