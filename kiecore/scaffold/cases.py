"""The recorded cases a scaffolded plugin starts with (the format is :mod:`kiecore.testing.mapping`'s): Kie's
market replies as its docs show them, the model's smallest request and its body, facts of the declaration, and
requests it must refuse. They pass as generated; the author replaces the replies with the model's own examples.
"""

from __future__ import annotations

from typing import Any

from kiecore.declarations import ModelSpec, ParamKind, ParamSpec
from kiecore.scaffold.drafts import ModelDraft
from kiecore.stock import MARKET_STATUS_PATH, MARKET_SUBMIT_PATH
from kiecore.testing.endtoend import example_value

EXAMPLE_PROMPT = "a red fox in the snow"
EXAMPLE_CALLBACK = "https://example.com/kie/callback"

#: Values of common parameters a model may not declare, to show that it refuses them.
_UNDECLARED = {"seed": 7, "negative_prompt": "blur", "aspect_ratio": "1:1", "resolution": "1K", "output_format": "png"}


def recorded_cases(drafts: tuple[ModelDraft, ...], source: str) -> dict[str, Any]:
    """The recorded-cases document for ``drafts`` (JSON-ready); ``source`` says where the models came from."""
    specs = [draft.spec() for draft in drafts]
    live: dict[str, Any] = {}
    refusals: dict[str, Any] = {}
    only = len(specs) == 1
    for spec in specs:
        for name, case in _cases(spec).items():
            live[name if only else f"{spec.id}:{name}"] = case if only else {"model": spec.id, **case}
        refusals["live" if only else f"{spec.id}:live"] = _refusals(spec)
    return {
        "_source": source,
        "models": {spec.id: _facts(spec) for spec in specs},
        "live": live,
        "refusals": refusals,
    }


def _facts(spec: ModelSpec) -> dict[str, Any]:
    params = spec.live.params
    facts: dict[str, Any] = {"names": [spec.id], "profiles": ["live"], "max_images": spec.max_images}
    facts["family"] = spec.family
    defaults = {param.name: param.default for param in params if param.default is not None}
    if defaults:
        facts["defaults"] = {"live": defaults}
    limits = {
        param.name: param.max_length
        for param in params
        if param.kind is ParamKind.STRING and param.max_length is not None and not param.choices
    }
    if limits:
        facts["max_length"] = {"live": limits}
    return facts


def _cases(spec: ModelSpec) -> dict[str, Any]:
    task = f"task_{spec.id.replace('/', '_')}_1765178625768"
    request, body = smallest_request(spec)
    return {
        "create_reply": {
            "create_reply": {"code": 200, "msg": "success", "data": {"taskId": task}},
            "expect": {"task_id": task},
        },
        "queuing": {
            "_note": "market tasks report no progress",
            "status": _status(spec, task, "queuing"),
            "expect": {"state": "queued", "progress": None, "urls": []},
        },
        "generating": {"status": _status(spec, task, "generating"), "expect": {"state": "running"}},
        "success": {
            "status": _status(spec, task, "success", resultJson='{"resultUrls":["https://example.com/result_0.png"]}'),
            "expect": {"state": "succeeded", "fail_code": None, "urls": ["https://example.com/result_0.png"]},
        },
        "failure": {
            "status": _status(spec, task, "fail", failCode="500", failMsg="Internal server error"),
            "expect": {"state": "failed", "fail_code": "500", "fail_message": "Internal server error", "urls": []},
        },
        "record_not_visible_yet": {
            "status": {"code": 422, "msg": "recordInfo is null", "data": None},
            "expect": {"error": "ParseError"},
        },
        "status_request": {
            "status_request": task,
            "expect": {"method": "GET", "path": MARKET_STATUS_PATH, "query": [["taskId", task]]},
        },
        "smallest_request": {
            "_note": "the least the model takes: what it requires, its required defaults sent for it",
            "request": request,
            "expect": {"path": MARKET_SUBMIT_PATH, "body": body},
        },
        "callback_url_is_sent_as_callBackUrl": {
            "request": {**request, "callback_url": EXAMPLE_CALLBACK},
            "expect": {"body": {"model": spec.id, "callBackUrl": EXAMPLE_CALLBACK, "input": body["input"]}},
        },
    }


def _status(spec: ModelSpec, task: str, state: str, **fields: str) -> dict[str, Any]:
    data = {
        "taskId": task,
        "model": spec.id,
        "state": state,
        "param": "{...}",
        "resultJson": "",
        "failCode": "",
        "failMsg": "",
        **fields,
        "createTime": 1765178625768,
        "updateTime": 1765178667000,
    }
    return {"code": 200, "msg": "success", "data": data}


def smallest_request(spec: ModelSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The least ``spec`` takes, as a recorded request (common fields and ``extra``), and the create body it
    makes: the prompt where the model takes one, an example value for each required parameter without a
    default, and each required parameter's default."""
    request: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    sent: dict[str, Any] = {}
    for param in spec.live.params:
        if param.common == "prompt":
            request["prompt"] = sent[param.name] = EXAMPLE_PROMPT
        elif param.required and param.default is None:
            value = example_value(param)
            sent[param.name] = value
            if param.common == "image_urls":
                request["image_urls"] = value if isinstance(value, list) else [value]
            elif param.common is not None:
                request[param.common] = value
            else:
                extra[param.name] = value
        elif param.default is not None and (param.required or param.send_default):
            sent[param.name] = param.default
    if extra:
        request["extra"] = extra
    return request, {"model": spec.id, "input": sent}


def _refusals(spec: ModelSpec) -> list[list[Any]]:
    """Requests the model must refuse, each with the parameter the refusal names."""
    wire = spec.live
    rows: list[list[Any]] = []
    prompt = wire.for_common("prompt")
    if prompt is None:
        rows.append([{"prompt": EXAMPLE_PROMPT}, "prompt"])
    elif prompt.required:
        rows.append([{"prompt": None}, prompt.name])
    for param in wire.params:
        if param.required and param.default is None and param.common not in (None, "prompt"):
            rows.append([{param.common: [] if param.common == "image_urls" else None}, param.name])
            break
    chosen = next((param for param in wire.params if param.choices and param.kind is ParamKind.STRING), None)
    if chosen is not None:
        rows.append([_given(chosen, "no-such-value"), chosen.name])
    bounded = next((param for param in wire.params if param.maximum is not None and not param.choices), None)
    if bounded is not None and bounded.maximum is not None:
        above = bounded.maximum + 1
        rows.append([_given(bounded, int(above) if bounded.kind is ParamKind.INTEGER else above), bounded.name])
    common = next((name for name in _UNDECLARED if wire.for_common(name) is None), None)
    if common is not None:
        rows.append([{common: _UNDECLARED[common]}, common])
    return rows


def _given(param: ParamSpec, value: Any) -> dict[str, Any]:
    """Request fields giving ``value`` to ``param``: by its common name, else in ``extra``."""
    if param.common is not None:
        return {param.common: value}
    return {"extra": {param.name: value}}
