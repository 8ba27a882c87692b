"""Reply bodies as the live docs (and the reference) show them, built by each task's dialect emulation
(:mod:`kiecore.emulator.dialects`: one module per dialect says what its records and callbacks look like).

Envelopes are ``{"code", "msg", "data"}`` (the reference profile's market shapes say ``message``). Status
replies take the shapes of the dialect the task was created in; callbacks take those of its model's *live*
dialect (the reference documents no callback body), with ``msg``.
"""

from __future__ import annotations

from typing import Any

from kiecore.emulator.dialects.base import Clock, envelope
from kiecore.emulator.tasks import EmulatedTask

__all__ = ["callback_body", "create_reply", "envelope", "message_key", "status_reply"]


def message_key(task: EmulatedTask) -> str:
    """The envelope's message field for replies about ``task``."""
    return task.emulation.message_key(task.profile)


def create_reply(task: EmulatedTask) -> dict[str, Any]:
    """The create reply for a new task."""
    return envelope(200, "success", task.emulation.create_data(task.id, task.profile), key=message_key(task))


def status_reply(task: EmulatedTask, task_seconds: float) -> dict[str, Any]:
    """The status reply for ``task`` as of now."""
    data = task.emulation.status_data(task, Clock(task, task_seconds))
    return envelope(200, "success", data, key=message_key(task))


def callback_body(task: EmulatedTask, task_seconds: float, remained_credits: int) -> dict[str, Any]:
    """The body POSTed to a finished ``task``'s callback URL, in its model's live dialect."""
    return task.live_emulation.callback_body(task, Clock(task, task_seconds), remained_credits)
