"""A task's sidecar: one JSON file beside its images saying what made them, so a person (or a program) can
trace a file back to its prompt, model, request and task.

The engine's save step writes it (:meth:`kiecore.engine.steps.Steps.save`) once every result of the task is
saved, named ``<the images' stem>.kie.json`` (:meth:`kiecore.naming.TaskNames.sidecar`), whole or not at all,
with the mode the images get (0666 less the umask); a resume writes it again. It holds no key: the text is
redacted by the transport before it is written. Result URLs may be signed links: they are kept as Kie gave
them, and expire on Kie's schedule.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from kiecore.download import write_file
from kiecore.model import Profile, TaskHandle, TaskStatus
from kiecore.pricing import estimate
from kiecore.serialization import converter as _base_converter
from kiecore.version import __version__

if TYPE_CHECKING:
    from kiecore.engine.calls import PreparedRequest

__all__ = ["SCHEMA", "SentRequest", "Sidecar", "describe", "load", "write"]

#: The sidecar format's version, written as ``"schema"``; a change that drops or retypes a field bumps it.
SCHEMA = 1

converter = _base_converter.copy()
converter.register_unstructure_hook(datetime.datetime, lambda moment: moment.isoformat(timespec="seconds"))
converter.register_structure_hook(datetime.datetime, lambda text, _type: datetime.datetime.fromisoformat(text))


@attrs.frozen(kw_only=True)
class SentRequest:
    """The create request as sent: ``method``, ``path`` (relative to the API host) and JSON ``body``."""

    method: str
    path: str
    body: Mapping[str, Any] | None


@attrs.frozen(kw_only=True)
class Sidecar:
    """What made one task's images. Times are UTC; ``None`` where unknown (``submitted_at`` of a task made
    elsewhere, ``finished_at`` of a task an earlier run saw finish). ``files`` are relative to the sidecar's
    folder. ``request`` is ``None`` when it is unknown (``kie download``); on a resume it is built again from
    the journalled request."""

    schema: int = SCHEMA
    kiecore_version: str
    task_id: str
    model: str
    profile: Profile
    prompt: str | None
    request: SentRequest | None
    urls: tuple[str, ...]
    files: tuple[str, ...]
    submitted_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    saved_at: datetime.datetime
    run_seconds: float | None
    estimated_credits: Decimal | None


def describe(
    *,
    handle: TaskHandle,
    status: TaskStatus,
    prompt: str | None,
    prepared: PreparedRequest | None,
    files: Sequence[Path],
    folder: Path,
    finished_at: float | None,
    saved_at: float,
) -> Sidecar:
    """The sidecar of ``handle``'s task whose results ``files`` were saved; ``prepared`` is its create request as
    sent, if known."""
    request = None
    if prepared is not None:
        request = SentRequest(method=prepared.wire.method, path=prepared.wire.path, body=prepared.wire.body)
    return Sidecar(
        kiecore_version=__version__,
        task_id=handle.task_id,
        model=handle.model,
        profile=handle.profile,
        prompt=prompt,
        request=request,
        urls=status.urls,
        files=tuple(os.path.relpath(file, folder) for file in files),
        submitted_at=_utc(handle.submitted_at) if handle.submitted_at > 0 else None,
        finished_at=_utc(finished_at) if finished_at is not None else None,
        saved_at=_utc(saved_at),
        run_seconds=status.run_seconds,
        estimated_credits=estimate(prepared) if prepared is not None else None,
    )


def write(path: Path, sidecar: Sidecar, *, redact: Callable[[str], str] = str) -> Path:
    """Write ``sidecar`` to ``path`` atomically, its text passed through ``redact`` first; returns the path.
    Raises :class:`~kiecore.errors.LocalWriteError`."""
    text = redact(json.dumps(converter.unstructure(sidecar), indent=2, ensure_ascii=False))
    return write_file(path, (text + "\n").encode("utf-8"))


def load(path: str | os.PathLike[str]) -> Sidecar:
    """The sidecar at ``path``; ``OSError``, ``ValueError`` or a ``cattrs`` error when it cannot be read."""
    return converter.structure(json.loads(Path(path).read_text(encoding="utf-8")), Sidecar)


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
