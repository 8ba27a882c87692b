"""The common model: what a caller asks for and what the service answers, in one vocabulary.

Every class here is a frozen attrs class; :mod:`kiecore.serialization` turns them into JSON and back.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs


class Profile(enum.StrEnum):
    """Which wire shapes to speak: the live service (default) or the reference spec."""

    LIVE = "live"
    REFERENCE = "reference"


class TaskState(enum.StrEnum):
    """A task's state, normalised across every dialect."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class GenerationRequest:
    """The common parameters of one generation, plus model-specific extras.

    ``None`` means "not set": the model's documented default applies. ``extra`` holds model-specific
    parameters under the names Kie's docs use for the chosen profile (e.g. ``{"isEnhance": True}``).
    """

    prompt: str | None = None
    aspect_ratio: str | None = None
    num_images: int | None = None
    output_format: str | None = None
    resolution: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    image_urls: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    callback_url: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)

    def common_values(self) -> dict[str, Any]:
        """The common parameters that are set, by name (``image_urls`` only when non-empty)."""
        values: dict[str, Any] = {}
        for field in COMMON_PARAMETERS:
            value = getattr(self, field)
            if value is None or value == ():
                continue
            values[field] = value
        return values


#: Common parameters a model declaration may map from (``callback_url`` is handled by the dialect).
COMMON_PARAMETERS: tuple[str, ...] = (
    "prompt",
    "aspect_ratio",
    "num_images",
    "output_format",
    "resolution",
    "seed",
    "negative_prompt",
    "image_urls",
)


@attrs.frozen(kw_only=True)
class TaskHandle:
    """Enough to find a task again later: store it (``to_json``) and re-attach with ``Client.status``."""

    model: str
    task_id: str
    profile: Profile = Profile.LIVE
    submitted_at: float = attrs.field(factory=time.time)


@attrs.frozen(kw_only=True)
class TaskStatus:
    """One observation of a task.

    ``progress`` is 0..1 or ``None`` when the dialect reports none. ``fail_code``/``fail_message`` carry
    Kie's own failure details. ``run_seconds`` is how long a finished task ran by the service's own clock
    (``completeTime - createTime``), ``None`` when the reply does not say. ``raw`` is the decoded reply the
    status was parsed from.
    """

    state: TaskState
    progress: float | None = None
    urls: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    fail_code: str | None = None
    fail_message: str | None = None
    run_seconds: float | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class GenerationResult:
    """What :meth:`kiecore.Client.generate` returns: the task, its final status, the saved files and the
    sidecar written beside them (``None`` when nothing was saved, or it could not be written)."""

    handle: TaskHandle
    status: TaskStatus
    files: tuple[Path, ...] = ()
    sidecar: Path | None = None
