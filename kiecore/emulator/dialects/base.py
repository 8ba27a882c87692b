"""The emulator's half of a wire dialect: how its service answers, as the client's half
(:class:`kiecore.dialects.WireDialect`) reads it.

A client-side dialect names its emulation (``WireDialect.emulation = "module:attribute"``); the emulator imports
it only here, so no client ever loads emulator code. A plugin that brings a dialect brings its emulation too.
"""

from __future__ import annotations

import abc
import importlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from kiecore.model import Profile

if TYPE_CHECKING:
    from kiecore.dialects import WireDialect
    from kiecore.emulator.tasks import EmulatedTask


class Clock:
    """A task's progress and timestamps as of one moment, for a run of ``task.duration(task_seconds)``."""

    def __init__(self, task: EmulatedTask, task_seconds: float) -> None:
        seconds = max(task.duration(task_seconds), 0.0)
        self.fraction = task.fraction(task_seconds)
        self.done = self.fraction >= 1.0
        self.created = task.created
        self.completed = task.created + seconds
        self.updated = min(time.time(), self.completed) if not self.done else self.completed
        self.cost_seconds = round(seconds)


class EmulatedDialect(abc.ABC):
    """How the service speaking one dialect answers. Class attributes:

    * ``fail_code``: the code a failed task reports unless a ``fail_task`` fault set one.
    * ``bad_json_code``: the body code of a create whose body is not JSON.
    * ``task_query``: the query parameter a status request names the task with.
    * ``single_image``: tasks make one image, whatever the request asks.
    * ``origin_file``: tasks also serve the input image they edited (Flux's ``originImageUrl``).
    * ``own_link_endpoint``: the dedicated fresh-link endpoint (4o's) serves this dialect's tasks.
    """

    fail_code: ClassVar[int] = 500
    bad_json_code: ClassVar[int] = 422
    task_query: ClassVar[str] = "taskId"
    single_image: ClassVar[bool] = False
    origin_file: ClassVar[bool] = False
    own_link_endpoint: ClassVar[bool] = False

    def new_task_id(self) -> str:
        """A fresh task id shaped like the service's (32 hex digits unless a dialect says otherwise)."""
        return uuid.uuid4().hex

    def message_key(self, profile: Profile) -> str:
        """The envelope's message field: ``msg`` (the reference profile's market shapes say ``message``)."""
        return "msg"

    def create_data(self, task_id: str, profile: Profile) -> dict[str, Any]:
        """The ``data`` of a create reply."""
        return {"taskId": task_id}

    def failure_code(self, task: EmulatedTask) -> int:
        return task.fail_code if task.fail_code is not None else self.fail_code

    @abc.abstractmethod
    def status_data(self, task: EmulatedTask, clock: Clock) -> dict[str, Any]:
        """The ``data`` of a status reply for ``task`` as of ``clock``."""

    @abc.abstractmethod
    def callback_body(self, task: EmulatedTask, clock: Clock, remained_credits: int) -> dict[str, Any]:
        """The whole body POSTed to a finished ``task``'s callback URL."""


def envelope(code: int, message: str, data: Any = None, *, key: str = "msg") -> dict[str, Any]:
    return {"code": code, key: message, "data": data}


def ms(moment: float) -> int:
    return int(moment * 1000)


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def echo(task: EmulatedTask) -> str:
    """The create body as the service echoes it back (``param``, ``paramJson``)."""
    return json.dumps(task.body, separators=(",", ":"), ensure_ascii=False)


_LOADED: dict[str, EmulatedDialect] = {}
_LOCK = threading.Lock()


def emulation_of(dialect: WireDialect) -> EmulatedDialect:
    """The emulation ``dialect`` names; ``LookupError`` if it has none or the name does not load."""
    where = dialect.emulation
    if not where or ":" not in where:
        raise LookupError(f"the {dialect.name!r} dialect cannot be emulated (it names no emulation)")
    with _LOCK:
        if where not in _LOADED:
            module, _, attribute = where.partition(":")
            found = getattr(importlib.import_module(module), attribute, None)
            if not isinstance(found, EmulatedDialect):
                raise LookupError(f"{where} (the {dialect.name!r} dialect's emulation) is not an EmulatedDialect")
            _LOADED[where] = found
        return _LOADED[where]
