"""A new task from an accepted create body: its result files (count, format, size), prompt, callback URL, own
duration (with run times) and the task-level faults (``fail_task``, ``invisible``, ``expire``) it draws. A body
that breaks one of the model's rules across parameters is taken, as Kie takes it, and its task fails."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from kiecore.declarations import BodyLayout, WireSpec
from kiecore.emulator import images
from kiecore.emulator.faults import FaultKind, FaultPlan
from kiecore.emulator.routes import Route, files_base
from kiecore.emulator.runtimes import RunTimes
from kiecore.emulator.tasks import EmulatedTask
from kiecore.emulator.validate import is_http_url

FORMAT_KEYS = ("output_format", "outputFormat", "input_output_format")
ASPECT_KEYS = ("aspect_ratio", "aspectRatio", "image_size", "size", "ratio", "input_aspect_ratio")
PROMPT_KEYS = ("prompt", "input_prompt")


def new_task(
    route: Route, body: dict[str, Any], files_url: str, faults: FaultPlan, run_times: RunTimes | None = None
) -> EmulatedTask:
    """The task ``body`` (valid for ``route``) creates, its result URLs on ``files_url``; not yet stored. With
    ``run_times`` it draws its own duration from its model's ``typical_seconds``, else it has none."""
    wire, spec = route.wire, route.entry.spec
    params: Mapping[str, Any] = body["input"] if wire.layout is BodyLayout.INPUT else body
    pillow_format, ext, _ = images.format_for(_word(wire, params, FORMAT_KEYS) or "png")
    emulation = route.emulation
    task_id = emulation.new_task_id()
    base = files_base(files_url, task_id)
    files = {f"{index}.{ext}": index for index in range(_image_count(route, params))}
    urls = tuple(f"{base}/{name}" for name in files)
    origin = None
    if emulation.origin_file:
        files[f"origin.{ext}"] = 0
        origin = f"{base}/origin.{ext}"
    prompt = next((params[k] for k in PROMPT_KEYS if isinstance(params.get(k), str)), "")
    callback = body.get(wire.callback_field) if wire.callback_field is not None else None
    task = EmulatedTask(
        id=task_id,
        model=spec.id,
        profile=route.profile,
        wire=wire,
        body=body,
        created=time.time(),
        started=time.monotonic(),
        urls=urls,
        files=files,
        prompt=prompt,
        size=images.size_for(_word(wire, params, ASPECT_KEYS)),
        pillow_format=pillow_format,
        origin_url=origin,
        emulation=emulation,
        live_emulation=route.live_emulation,
        callback_url=callback if is_http_url(callback) else None,
        seconds=None if run_times is None else run_times.draw(spec.id, spec.typical_seconds),
    )
    _draw_faults(task, faults)
    broken = wire.broken_rule(params)
    if broken is not None:
        rule, name = broken
        task.failed = True
        task.fail_message = f"{name}: {rule.reason}"
    return task


def _draw_faults(task: EmulatedTask, faults: FaultPlan) -> None:
    failure = faults.take_for_task(FaultKind.FAIL_TASK)
    if failure is not None:
        task.failed = True
        task.fail_message = str(failure.options.get("message", "Internal server error"))
        code = failure.options.get("code")
        task.fail_code = int(code) if code is not None else None
    invisible = faults.take_for_task(FaultKind.INVISIBLE)
    if invisible is not None:
        task.invisible_left = invisible.times
        task.invisible_fault = invisible
    expire = faults.take_for_task(FaultKind.EXPIRE)
    if expire is not None:
        task.expired = True
        task.expire_fault = expire


def _word(wire: WireSpec, params: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` set in ``params``, else the declared default of the first declared one."""
    for name in keys:
        if name in params and params[name] is not None:
            return str(params[name])
    for name in keys:
        spec = wire.param(name)
        if spec is not None and spec.default is not None:
            return str(spec.default)
    return None


def _image_count(route: Route, params: Mapping[str, Any]) -> int:
    """How many images the task makes: what its declared image count asks for (its default when left out, one
    without either), else what one task of the model makes."""
    if route.emulation.single_image or route.live_emulation.single_image:
        return 1
    declared = route.wire.for_common("num_images")
    if declared is None:
        return route.entry.spec.images_per_task  # no count to ask for: a task makes what the model makes
    value = params.get(declared.name, declared.default)
    count = 1
    if value is not None and not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError):
            count = int(value)
    return max(1, min(count, route.entry.spec.max_images))
