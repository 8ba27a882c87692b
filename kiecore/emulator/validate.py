"""Create-body checks, strict like the service (stricter on unknown keys, to catch client mapping bugs).

Everything is checked on *wire* values, independently of the client's own validation: the body layout and
``model`` key, the callback field, every parameter against its :class:`~kiecore.declarations.ParamSpec`
(unknown keys, required, kind, ``as_string``, choices, range, length, list size) and ``requires_any``.
Each problem reads ``"<field>: <reason>"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kiecore.declarations import BodyLayout, ParamKind, ParamSpec, WireSpec

_INTEGER_TEXT = re.compile(r"^-?\d+$")
_NUMBER_TEXT = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def body_problems(wire: WireSpec, body: Mapping[str, Any] | None) -> list[str]:
    """Why the service would refuse ``body`` as a create body for ``wire`` (empty: it would accept it)."""
    if not isinstance(body, Mapping):
        return ["body: must be a JSON object"]
    problems: list[str] = []
    top = dict(body)
    if wire.model_field is not None:
        model = top.pop("model", None)
        if model is None:
            problems.append("model: is required")
        elif model != wire.model_field:
            problems.append(f"model: expected {wire.model_field!r}, got {model!r}")
    if wire.callback_field is not None and wire.callback_field in top and wire.param(wire.callback_field) is None:
        callback = top.pop(wire.callback_field)
        if not is_http_url(callback):
            problems.append(f"{wire.callback_field}: must be an http(s) URL")
    if wire.layout is BodyLayout.INPUT:
        params = top.pop("input", None)
        problems.extend(f"{key}: unknown field" for key in top)
        if not isinstance(params, Mapping):
            problems.append("input: must be an object" if params is not None else "input: is required")
            return problems
    else:
        params = top
    problems.extend(param_problems(wire, params))
    return problems


def param_problems(wire: WireSpec, params: Mapping[str, Any]) -> list[str]:
    """Problems with the parameter object (``input`` or the flat body without its envelope keys)."""
    problems: list[str] = []
    for key, value in params.items():
        spec = wire.param(key)
        if spec is None:
            problems.append(f"{key}: unknown parameter")
            continue
        reason = value_problem(spec, value)
        if reason:
            problems.append(f"{key}: {reason}")
    for spec in wire.params:
        if spec.required and spec.name not in params:
            problems.append(f"{spec.name}: is required")
    for group in wire.requires_any:
        if not any(name in params for name in group):
            problems.append(f"{' or '.join(group)}: at least one is required")
    return problems


def value_problem(spec: ParamSpec, value: Any) -> str | None:
    """Why ``value`` is not a valid wire value for ``spec`` (``None``: it is valid)."""
    kind = spec.kind
    if kind is ParamKind.URL_LIST:
        return _url_list_problem(spec, value)
    if kind is ParamKind.URL:
        return None if is_http_url(value) else "must be an http(s) URL"
    if kind is ParamKind.BOOLEAN:
        if not isinstance(value, bool):
            return "must be a boolean"
        return _choice_problem(spec, value, value)
    if kind in (ParamKind.INTEGER, ParamKind.NUMBER):
        number, reason = _number(spec, value)
        if reason:
            return reason
        return _choice_problem(spec, value, number) or _range_problem(spec, number)
    if not isinstance(value, str):
        return "must be a string"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"must be at most {spec.max_length} characters"
    if spec.min_length is not None and len(value) < spec.min_length:
        return f"must be at least {spec.min_length} characters"
    return _choice_problem(spec, value, value)


def _number(spec: ParamSpec, value: Any) -> tuple[float, str | None]:
    integer = spec.kind is ParamKind.INTEGER
    if spec.as_string:
        pattern = _INTEGER_TEXT if integer else _NUMBER_TEXT
        if not isinstance(value, str) or not pattern.match(value):
            what = "whole number" if integer else "number"
            return 0.0, f"must be a {what} written as a string"
        return (int(value) if integer else float(value)), None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0, "must be an integer" if integer else "must be a number"
    if integer and not isinstance(value, int):
        return 0.0, "must be an integer"
    return value, None


def _choice_problem(spec: ParamSpec, wire_value: Any, number: Any) -> str | None:
    if not spec.choices:
        return None
    for choice in spec.choices:
        if isinstance(choice, bool) != isinstance(number, bool):
            continue
        if choice == wire_value and type(choice) is type(wire_value):
            return None
        if not isinstance(choice, str) and not isinstance(number, str) and choice == number:
            return None
    allowed = ", ".join(str(choice) for choice in spec.choices)
    return f"{wire_value!r} is not one of {allowed}"


def _range_problem(spec: ParamSpec, number: float) -> str | None:
    if spec.minimum is not None and number < spec.minimum:
        return f"must be at least {spec.minimum:g}"
    if spec.maximum is not None and number > spec.maximum:
        return f"must be at most {spec.maximum:g}"
    return None


def _url_list_problem(spec: ParamSpec, value: Any) -> str | None:
    if not isinstance(value, list):
        return "must be a list of http(s) URLs"
    if not all(is_http_url(item) for item in value):
        return "must hold only http(s) URLs"
    if spec.max_items is not None and len(value) > spec.max_items:
        return f"must hold at most {spec.max_items} URLs"
    return None


def is_http_url(value: Any) -> bool:
    """Whether ``value`` is an absolute http(s) URL string."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
