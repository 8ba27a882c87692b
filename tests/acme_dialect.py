"""A third-party plugin that brings a wire dialect of its own ("acme"), as docs/writing-a-plugin.md shows.

Its records look like nothing Kie sends: ``{"job": id, "phase": "queued|rendering|done|error", "images": [...],
"reason": ...}``; its status is ``GET <status_path>?job=<task id>``; a fresh link is ``POST /acme/relink``; body
code 418 on a status query means the job failed; and it is limited per job like the 4o endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kiecore import DeclarativePlugin, ModelSpec, ParamSpec, WireRequest, WireSpec, hookimpl
from kiecore.dialects import WireDialect
from kiecore.emulator.dialects import Clock, EmulatedDialect, envelope
from kiecore.errors import ParseError
from kiecore.model import TaskState, TaskStatus

if TYPE_CHECKING:
    from kiecore.emulator.tasks import EmulatedTask

PHASES = {"queued": TaskState.QUEUED, "rendering": TaskState.RUNNING, "done": TaskState.SUCCEEDED}


class AcmeDialect(WireDialect):
    name = "acme"
    task_failure_codes = frozenset({418})
    status_limited_per_task = True
    emulation = "tests.acme_dialect:EMULATION"

    def matches(self, data: Mapping[str, Any]) -> bool:
        return "phase" in data

    def parse_status(self, data: Mapping[str, Any]) -> TaskStatus:
        phase = data.get("phase")
        if phase == "error":
            return TaskStatus(state=TaskState.FAILED, fail_code="acme", fail_message=str(data.get("reason") or ""))
        return TaskStatus(state=PHASES.get(str(phase), TaskState.UNKNOWN))

    def extract_urls(self, data: Mapping[str, Any]) -> list[str]:
        images = data.get("images") or []
        if not isinstance(images, list) or not all(isinstance(url, str) for url in images):
            raise ParseError("acme images is not a list of URLs")
        return list(images)

    def status_request(self, status_path: str, task_id: str) -> WireRequest:
        return WireRequest("GET", status_path, query=(("job", task_id),))

    def link_request(self, task_id: str, url: str) -> WireRequest:
        return WireRequest("POST", "/acme/relink", body={"job": task_id, "url": url})

    def examples(self) -> tuple[tuple[dict[str, Any], TaskState], ...]:
        return (
            ({"phase": "queued"}, TaskState.QUEUED),
            ({"phase": "rendering"}, TaskState.RUNNING),
            ({"phase": "done"}, TaskState.SUCCEEDED),
            ({"phase": "error", "reason": "melted"}, TaskState.FAILED),
        )

    def with_result_urls(self, data: Mapping[str, Any], urls: list[str]) -> dict[str, Any]:
        return {**data, "images": urls}


ACME = AcmeDialect()

ROCKET = ModelSpec(
    id="acme/rocket",
    title="Acme Rocket",
    family="Acme",
    typical_seconds=1,
    live=WireSpec(
        dialect="acme",
        submit_path="/acme/jobs",
        status_path="/acme/jobs/status",
        params=(ParamSpec(name="prompt", common="prompt", required=True, max_length=200),),
    ),
)


class AcmePlugin(DeclarativePlugin):
    """The Rocket model, plus the dialect it speaks."""

    @hookimpl
    def register_dialects(self, register: Callable[[WireDialect], None]) -> None:
        register(ACME)


plugin = AcmePlugin(ROCKET)


class AcmeEmulation(EmulatedDialect):
    """How an Acme service answers, for the emulator (imported only by it, through ``AcmeDialect.emulation``)."""

    task_query = "job"

    def new_task_id(self) -> str:
        return f"acme-{uuid.uuid4().hex[:12]}"

    def status_data(self, task: EmulatedTask, clock: Clock) -> dict[str, Any]:
        if clock.done:
            if task.failed:
                return {"job": task.id, "phase": "error", "reason": task.fail_message}
            return {"job": task.id, "phase": "done", "images": list(task.urls)}
        return {"job": task.id, "phase": "queued" if clock.fraction < 0.3 else "rendering"}

    def callback_body(self, task: EmulatedTask, clock: Clock, remained_credits: int) -> dict[str, Any]:
        return envelope(200, "ok", self.status_data(task, clock))


EMULATION = AcmeEmulation()
