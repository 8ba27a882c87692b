"""The task store and each task's time-based progress.

A task's progress is ``elapsed / duration``; at 1 it is finished: succeeded, or failed when a ``fail_task``
fault hit it. Its duration is its own ``seconds`` when it drew one at creation (the emulator's ``run_times``),
else the emulator's ``task_seconds``, read at query time (so changing it moves running tasks along too).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

from kiecore.declarations import WireSpec
from kiecore.emulator.dialects.base import EmulatedDialect
from kiecore.emulator.faults import Fault
from kiecore.model import Profile


@attrs.define(eq=False)
class EmulatedTask:
    """One created task.

    ``model`` is the model id, ``body`` the create body as received, ``created`` the wall-clock creation time
    (``time.time()``). ``urls`` are the result URLs on the file host (set at creation; served once the task
    has succeeded). ``files`` maps each served file name (``0.png``; Flux also ``origin.jpeg``) to the index
    of the image drawn for it. ``emulation`` answers for the dialect it was created in, ``live_emulation`` for
    its model's live dialect (what shapes its callbacks, even for a task created in the reference profile).
    ``callback_url`` is the create body's callback field, if any. ``seconds`` is the task's own duration
    (drawn at creation from the emulator's ``run_times``), ``None``: it runs the emulator's ``task_seconds``
    (see :meth:`duration`). ``expired`` tasks (an ``expire`` fault)
    answer 403 on their original result URLs.
    """

    id: str
    model: str
    profile: Profile
    wire: WireSpec
    body: Mapping[str, Any]
    created: float
    started: float  # time.monotonic() at creation
    urls: tuple[str, ...]
    files: Mapping[str, int]
    prompt: str
    size: tuple[int, int]
    pillow_format: str
    emulation: EmulatedDialect
    live_emulation: EmulatedDialect
    origin_url: str | None = None
    callback_url: str | None = None
    seconds: float | None = None
    failed: bool = False
    fail_message: str = ""
    fail_code: int | None = None  # None: the dialect's usual code (EmulatedDialect.fail_code)
    expired: bool = False
    expire_fault: Fault | None = attrs.field(default=None, repr=False)
    invisible_left: int = 0
    invisible_fault: Fault | None = attrs.field(default=None, repr=False)
    status_queries: int = 0

    def file_names(self) -> dict[str, str]:
        """Each result URL (``urls``, then Flux's ``origin_url``) to its file name."""
        named = [*self.urls, *([self.origin_url] if self.origin_url else [])]
        return {url: url.rsplit("/", 1)[-1] for url in named}

    def duration(self, task_seconds: float) -> float:
        """How long the task runs: its own ``seconds`` if it has them, else ``task_seconds`` (the emulator's)."""
        return task_seconds if self.seconds is None else self.seconds

    def fraction(self, task_seconds: float, now: float | None = None) -> float:
        """How far along the task is, 0..1 (1: finished); ``task_seconds`` as for :meth:`duration`."""
        seconds = self.duration(task_seconds)
        if seconds <= 0:
            return 1.0
        elapsed = (time.monotonic() if now is None else now) - self.started
        return min(1.0, max(0.0, elapsed / seconds))

    def finished(self, task_seconds: float) -> bool:
        return self.fraction(task_seconds) >= 1.0

    def succeeded(self, task_seconds: float) -> bool:
        return not self.failed and self.finished(task_seconds)


class TaskStore:
    """Tasks by id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, EmulatedTask] = {}

    def add(self, task: EmulatedTask) -> None:
        with self._lock:
            self._tasks[task.id] = task

    def get(self, task_id: str) -> EmulatedTask | None:
        with self._lock:
            return self._tasks.get(task_id)

    def snapshot(self) -> dict[str, EmulatedTask]:
        with self._lock:
            return dict(self._tasks)

    def clear(self) -> None:
        with self._lock:
            self._tasks.clear()

    def spend_query(self, task: EmulatedTask) -> bool:
        """Count one status query of ``task``; ``False`` when it is still invisible (one null answer spent)."""
        with self._lock:
            task.status_queries += 1
            if task.invisible_left > 0:
                task.invisible_left -= 1
                return False
            return True
