"""Hypothesis strategies for testing model plugins: valid requests, documented replies, arbitrary JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from kiecore.declarations import Dialect, ModelSpec, ParamKind, ParamSpec
from kiecore.model import COMMON_PARAMETERS, GenerationRequest, Profile, TaskState

_URL_PATHS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)

#: Absolute http(s) URLs such as a result or reference image might have.
urls = st.builds(
    "{}://{}.example/{}.png".format,
    st.sampled_from(["http", "https"]),
    _URL_PATHS,
    _URL_PATHS,
)

#: Any JSON value.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)

_KEYS = st.sampled_from(
    [
        "code",
        "msg",
        "message",
        "data",
        "taskId",
        "task_id",
        "state",
        "status",
        "successFlag",
        "progress",
        "resultJson",
        "response",
        "resultUrls",
        "result_urls",
        "resultImageUrl",
        "imageUrl",
        "imageUrls",
        "info",
        "failCode",
        "failMsg",
        "errorCode",
        "errorMessage",
    ]
)
_WIRE_ISH = st.recursive(
    json_values,
    lambda inner: st.dictionaries(_KEYS | st.text(max_size=6), inner, max_size=6) | st.lists(inner, max_size=3),
    max_leaves=25,
)

#: Arbitrary replies, biased towards envelope-shaped objects with Kie's field names so parsers are
#: exercised past their first check.
replies = st.one_of(
    json_values,
    st.fixed_dictionaries({"code": st.just(200), "data": _WIRE_ISH}),
    st.fixed_dictionaries({"code": st.just(200), "data": st.dictionaries(_KEYS, _WIRE_ISH, max_size=8)}),
)


def param_values(spec: ParamSpec) -> st.SearchStrategy[Any]:
    """Values a caller may give for ``spec`` (before conversion to wire form)."""
    if spec.choices:
        return st.sampled_from([*spec.choices, *spec.value_map])
    kind = spec.kind
    if kind is ParamKind.BOOLEAN:
        return st.booleans()
    if kind is ParamKind.INTEGER:
        low = None if spec.minimum is None else int(spec.minimum)
        high = None if spec.maximum is None else int(spec.maximum)
        return st.integers(
            min_value=low if low is not None else -(2**31), max_value=high if high is not None else 2**31
        )
    if kind is ParamKind.NUMBER:
        return st.floats(min_value=spec.minimum, max_value=spec.maximum, allow_nan=False, allow_infinity=False)
    if kind is ParamKind.URL:
        return urls
    if kind is ParamKind.URL_LIST:
        return st.lists(urls, min_size=1, max_size=min(spec.max_items or 4, 4))
    high_len = min(spec.max_length or 200, 200)
    text = st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=high_len
    )
    return text.filter(lambda value: value.strip() != "")


def valid_requests(model: ModelSpec, profile: Profile = Profile.LIVE) -> st.SearchStrategy[GenerationRequest]:
    """Requests that ``model`` accepts in ``profile``: common parameters by their common names, the rest as
    extras by wire name, every required parameter present and every ``requires_any`` group satisfied."""
    wire = model.wire(profile)

    @st.composite
    def build(draw: st.DrawFn) -> GenerationRequest:
        chosen: dict[str, Any] = {}
        must = {group[0] for group in wire.requires_any}
        for spec in wire.params:
            needed = (spec.required and spec.default is None) or spec.name in must
            if needed or draw(st.booleans()):
                chosen[spec.name] = draw(param_values(spec))
        common: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in chosen.items():
            declared = wire.param(name)
            assert declared is not None
            if declared.common in COMMON_PARAMETERS and _fits_common(declared.common, value):
                common[declared.common] = tuple(value) if declared.common == "image_urls" else value
            else:
                extra[name] = value
        if wire.callback_field and draw(st.booleans()):
            common["callback_url"] = draw(urls)
        return GenerationRequest(**common, extra=extra)

    return build()


def _fits_common(common: str, value: Any) -> bool:
    """Whether ``value`` has the common parameter's own type (an int seed, a str prompt, ...)."""
    if common in ("num_images", "seed"):
        return isinstance(value, int) and not isinstance(value, bool)
    if common == "image_urls":
        return isinstance(value, list)
    return isinstance(value, str)


#: The fields live market records carry besides the documented ones (captured since September 2026).
LIVE_2026: dict[str, Any] = {
    "param": "{}",
    "paramJson": "{}",
    "resultJson": "",
    "failCode": None,
    "failMsg": None,
    "costTime": None,
    "creditsConsumed": 0.8,
    "operationType": "z-image",
    "createTime": 1789644173377,
    "completeTime": 1789644179089,
}

#: Documented status records (the ``data`` object) per dialect, with the state each must map to.
DOCUMENTED_STATES: dict[Dialect, tuple[tuple[dict[str, Any], TaskState], ...]] = {
    Dialect.MARKET: (
        ({"state": "waiting", "resultJson": "", "failCode": "", "failMsg": ""}, TaskState.QUEUED),
        ({"state": "queuing", "resultJson": "", "failCode": "", "failMsg": ""}, TaskState.QUEUED),
        ({"state": "generating", "resultJson": "", "failCode": "", "failMsg": ""}, TaskState.RUNNING),
        ({"state": "success", "failCode": "", "failMsg": ""}, TaskState.SUCCEEDED),
        ({"state": "fail", "resultJson": "", "failCode": "500", "failMsg": "Internal server error"}, TaskState.FAILED),
        # live records since September 2026: successFlag, response, costTime in seconds, credits
        ({**LIVE_2026, "state": "generating", "successFlag": 0, "response": None}, TaskState.RUNNING),
        ({**LIVE_2026, "state": "success", "successFlag": 1, "costTime": 6}, TaskState.SUCCEEDED),
        (
            {**LIVE_2026, "state": "fail", "successFlag": 2, "failCode": "500", "failMsg": "Internal error"},
            TaskState.FAILED,
        ),
    ),
    Dialect.GPT4O: (
        ({"successFlag": 0, "status": "GENERATING", "progress": "0.45", "response": None}, TaskState.RUNNING),
        ({"successFlag": 1, "status": "SUCCESS", "progress": "1.00"}, TaskState.SUCCEEDED),
        (
            {"successFlag": 2, "status": "GENERATE_FAILED", "errorCode": 400, "errorMessage": "flagged"},
            TaskState.FAILED,
        ),
        ({"successFlag": 2, "status": "CREATE_TASK_FAILED", "errorCode": 500, "errorMessage": "x"}, TaskState.FAILED),
        ({"successFlag": 3, "status": "GENERATE_FAILED", "errorCode": 500, "errorMessage": "x"}, TaskState.FAILED),
    ),
    Dialect.FLUX: (
        ({"successFlag": 0, "response": None, "errorCode": None, "errorMessage": ""}, TaskState.RUNNING),
        ({"successFlag": 1, "errorCode": None, "errorMessage": ""}, TaskState.SUCCEEDED),
        ({"successFlag": 2, "errorCode": 400, "errorMessage": "flagged"}, TaskState.FAILED),
        ({"successFlag": 3, "errorCode": 501, "errorMessage": "failed"}, TaskState.FAILED),
    ),
    Dialect.REFERENCE: (
        ({"status": "pending", "progress": 0}, TaskState.QUEUED),
        ({"status": "processing", "progress": 45}, TaskState.RUNNING),
        ({"status": "completed", "progress": 100}, TaskState.SUCCEEDED),
        ({"status": "failed"}, TaskState.FAILED),
    ),
}


def with_result_urls(dialect: Dialect, data: dict[str, Any], result: list[str]) -> dict[str, Any]:
    """``data`` with ``result`` placed where ``dialect`` puts result URLs."""
    data = dict(data)
    if dialect is Dialect.MARKET:
        data["resultJson"] = json.dumps({"resultUrls": result})
        if "successFlag" in data:  # a live record since 2026 repeats them under response
            data["response"] = {"resultUrls": result}
    elif dialect is Dialect.GPT4O:
        data["response"] = {"resultUrls": result}
    elif dialect is Dialect.FLUX:
        data["response"] = {"originImageUrl": "https://origin.example/o.png", "resultImageUrl": result[0]}
    else:
        data["imageUrl"] = result[0]
        if len(result) > 1:
            data["imageUrls"] = result
    return data


def documented_status_replies(dialect: Dialect) -> st.SearchStrategy[tuple[dict[str, Any], TaskState, list[str]]]:
    """``(reply, expected state, result URLs)`` for every documented state of ``dialect``, in live
    (``msg``) and reference-style (``message``) envelopes, with URLs on the successful ones."""
    max_urls = 1 if dialect is Dialect.FLUX else 4

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], TaskState, list[str]]:
        data, state = draw(st.sampled_from(DOCUMENTED_STATES[dialect]))
        data = {"taskId": draw(_URL_PATHS), **data}
        result: list[str] = []
        if state is TaskState.SUCCEEDED:
            result = draw(st.lists(urls, min_size=1, max_size=max_urls))
            data = with_result_urls(dialect, data, result)
        key = draw(st.sampled_from(["msg", "message"]))
        return {"code": 200, key: "success", "data": data}, state, result

    return build()
