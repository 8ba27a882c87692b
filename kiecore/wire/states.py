"""Every documented state word and flag, mapped to the common :class:`~kiecore.model.TaskState`."""

from __future__ import annotations

from typing import Any

from kiecore.model import TaskState
from kiecore.wire.envelope import as_int

#: State words of every dialect, lower-cased: market ``state``, 4o ``status``, the reference's ``status``.
STATE_WORDS: dict[str, TaskState] = {
    # market jobs API
    "waiting": TaskState.QUEUED,
    "queuing": TaskState.QUEUED,
    "generating": TaskState.RUNNING,
    "success": TaskState.SUCCEEDED,
    "fail": TaskState.FAILED,
    # 4o text status
    "create_task_failed": TaskState.FAILED,
    "generate_failed": TaskState.FAILED,
    # the reference spec
    "pending": TaskState.QUEUED,
    "processing": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
}

#: ``successFlag`` of the dedicated dialects: 0 running, 1 success, 2 and 3 failed.
SUCCESS_FLAGS: dict[int, TaskState] = {
    0: TaskState.RUNNING,
    1: TaskState.SUCCEEDED,
    2: TaskState.FAILED,
    3: TaskState.FAILED,
}


def state_from_word(word: Any) -> TaskState:
    """The common state for a state word; ``UNKNOWN`` for anything undocumented."""
    if not isinstance(word, str):
        return TaskState.UNKNOWN
    return STATE_WORDS.get(word.strip().lower(), TaskState.UNKNOWN)


def state_from_flag(flag: Any) -> TaskState:
    """The common state for a ``successFlag``; any other integer but 0 and 1 counts as failed."""
    value = as_int(flag)
    if value is None:
        return TaskState.UNKNOWN
    return SUCCESS_FLAGS.get(value, TaskState.FAILED)
