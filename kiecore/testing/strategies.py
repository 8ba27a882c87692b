"""Hypothesis strategies for testing model plugins: valid requests, documented replies, arbitrary JSON."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from kiecore.declarations import ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.dialects import WireDialect, builtin
from kiecore.model import COMMON_PARAMETERS, GenerationRequest, Profile, TaskState
from kiecore.validation import coerce

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
    low_len = max(spec.min_length or 1, 1)
    high_len = max(min(spec.max_length or 200, 200), low_len)
    text = st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=low_len, max_size=high_len
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
        if wire.rules:
            _keep_rules(draw, model, wire, chosen)
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


def _keep_rules(draw: st.DrawFn, model: ModelSpec, wire: WireSpec, chosen: dict[str, Any]) -> None:
    """Redraw what breaks one of ``wire``'s rules from the values the rule allows (a few rounds, as one repair
    can break another rule; what still breaks one is rejected). Rules see values as they are sent."""
    for _ in range(len(wire.rules) + 1):
        broken = wire.broken_rule(_as_sent(model, wire, chosen))
        if broken is None:
            return
        rule, name = broken
        spec, test = wire.param(name), rule.then[name]
        assert spec is not None
        allowed = [value for value in spec.choices if test.holds(value)] if spec.choices else list(test.values)
        if allowed:
            chosen[name] = draw(st.sampled_from(allowed))
        else:
            low = _tighter(max, test.minimum, spec.minimum)
            high = _tighter(min, test.maximum, spec.maximum)
            if spec.kind is ParamKind.INTEGER:
                low, high = (None if low is None else math.ceil(low)), (None if high is None else math.floor(high))
                chosen[name] = draw(st.integers(min_value=low, max_value=high))
            else:
                chosen[name] = draw(st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False))
    assume(wire.broken_rule(_as_sent(model, wire, chosen)) is None)


def _as_sent(model: ModelSpec, wire: WireSpec, chosen: dict[str, Any]) -> dict[str, Any]:
    """Drawn caller values, by wire name, as validation sends them (value maps, canonical spellings)."""
    return {name: coerce(model, spec, value) for name, value in chosen.items() if (spec := wire.param(name))}


def _tighter(pick: Callable[[float, float], float], rule: float | None, declared: float | None) -> float | None:
    """The tighter of a rule's bound and the declared one (``pick``: ``max`` for lower bounds, ``min`` for upper)."""
    bounds = [bound for bound in (rule, declared) if bound is not None]
    return pick(*bounds) if len(bounds) == 2 else (bounds[0] if bounds else None)


def _fits_common(common: str, value: Any) -> bool:
    """Whether ``value`` has the common parameter's own type (an int seed, a str prompt, ...)."""
    if common in ("num_images", "seed"):
        return isinstance(value, int) and not isinstance(value, bool)
    if common == "image_urls":
        return isinstance(value, list)
    return isinstance(value, str)


def documented_status_replies(
    dialect: WireDialect | str,
) -> st.SearchStrategy[tuple[dict[str, Any], TaskState, list[str]]]:
    """``(reply, expected state, result URLs)`` for every documented state of ``dialect`` (an object, or a
    built-in dialect's name), in live (``msg``) and reference-style (``message``) envelopes, with URLs on the
    successful ones."""
    chosen = dialect if isinstance(dialect, WireDialect) else builtin(dialect)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], TaskState, list[str]]:
        data, state = draw(st.sampled_from(chosen.examples()))
        data = {"taskId": draw(_URL_PATHS), **data}
        result: list[str] = []
        if state is TaskState.SUCCEEDED:
            result = draw(st.lists(urls, min_size=1, max_size=chosen.max_urls))
            data = chosen.with_result_urls(data, result)
        key = draw(st.sampled_from(["msg", "message"]))
        return {"code": 200, key: "success", "data": data}, state, result

    return build()
