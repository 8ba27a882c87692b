"""A job: one task the engine is handling, from its create (or from a known handle) to its result."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import attrs

from kiecore.download import IfExists
from kiecore.engine.calls import PreparedRequest
from kiecore.engine.plan import PollPlan
from kiecore.events import RetryCallback
from kiecore.model import GenerationRequest, TaskHandle, TaskStatus
from kiecore.naming import Naming
from kiecore.recorder import Ticket

StatusCallback = Callable[[TaskStatus], None]
_numbers = itertools.count()


class Goal(enum.Enum):
    """What the job's future resolves to."""

    SUBMIT = "submit"  # the TaskHandle, once the create is answered
    WAIT = "wait"  # the final TaskStatus
    GENERATE = "generate"  # a GenerationResult, results saved (unless no folder was given)


class Phase(enum.Enum):
    """What the job needs next."""

    UPLOAD = "upload"  # a file worker: the request's local images go to the upload host before its create
    CREATE = "create"  # a create slot and an API worker
    POLL = "poll"  # a status slot and an API worker, at or after ``due``
    SAVE = "save"  # a file worker
    DONE = "done"


@attrs.define(eq=False)
class Job:
    """Mutable, and touched by one thread at a time: the scheduler while the job waits, the worker running its
    one request otherwise. ``deadline`` and ``due`` are engine clock values; plan times are seconds after the
    submit (``handle.submitted_at``, wall clock)."""

    goal: Goal
    deadline: float
    timeout: float
    prepared: PreparedRequest | None = None  # what its create sends (resuming: built again, if it can be)
    handle: TaskHandle | None = None
    directory: Path | None = None
    naming: Naming = attrs.field(factory=Naming)  # how its results are named in ``directory``
    request: GenerationRequest | None = None  # the request as journalled, when there is no ``prepared``
    if_exists: IfExists = "error"
    present: dict[int, Path] = attrs.field(factory=dict)
    recorded: tuple[str, ...] | None = None  # resuming: the files the journal says were saved
    callback: bool = False
    item_key: str | None = None  # names the batch item this job is, in its journal entry
    on_submit: Callable[[TaskHandle], None] | None = None
    on_status: StatusCallback | None = None
    on_retry: RetryCallback | None = None  # told of each retry of the job's requests (kiecore.events)
    future: Future[Any] = attrs.field(factory=Future)
    phase: Phase = Phase.CREATE
    ticket: Ticket | None = None
    plan: PollPlan | None = None
    per_task_limited: bool = False
    status: TaskStatus | None = None
    last_unfinished: float | None = None
    finished_at: float | None = None  # when a query found the task finished (wall clock)
    due: float = 0.0
    poked: bool = False
    rate_limited: int = 0
    unreadable: int = 0  # status replies in a row that could not be read
    failed_queries: int = 0  # status queries in a row that failed and were planned again
    number: int = attrs.field(factory=lambda: next(_numbers))
    turn: int = 0  # bumped whenever the job is queued or sent: older heap entries for it are stale
    running: bool = False  # its one request is in flight
    over: bool = False  # the engine is done with it

    @property
    def cancelled(self) -> bool:
        return self.future.cancelled()

    @property
    def task_id(self) -> str | None:
        return self.handle.task_id if self.handle is not None else None
