"""Check a :class:`GenerationRequest` against a model's declaration and turn it into wire parameters.

Runs before anything is sent. Every refusal is an :class:`InvalidParameterError` naming the parameter, the
value and what is allowed, under the name a Python caller gave it (its common name, or its wire name in
``extra``); the error's ``named`` and ``common`` let ``kie`` name it by its option instead. An image
parameter's value may name a local file: it is checked here (:func:`kiecore.localimages.check_image`) and
comes out as its ``file:`` URL, uploaded before the create.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kiecore.declarations import ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.errors import InvalidParameterError
from kiecore.localimages import MAX_IMAGE_BYTES, check_image, is_http_url
from kiecore.model import GenerationRequest, Profile

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def resolve_params(model: ModelSpec, profile: Profile, request: GenerationRequest) -> dict[str, Any]:
    """Wire parameters for ``request``, in declaration order, with defaults applied where the model needs them."""
    try:
        wire = model.wire(profile)
    except LookupError:
        raise InvalidParameterError(
            f"{model.id} has no {profile.value} profile; use --profile live",
            parameter="profile",
            value=profile.value,
            common="profile",
        ) from None
    given: dict[str, Any] = {}
    source: dict[str, str] = {}  # wire name -> how the caller named it, for messages
    for common, value in request.common_values().items():
        spec = wire.for_common(common)
        if spec is None:
            if common == "num_images" and value == model.images_per_task:
                continue  # what a model without an image count makes anyway is no error
            if common == "num_images":
                made = f"{model.images_per_task} image{'s' if model.images_per_task > 1 else ''}"
                raise InvalidParameterError(
                    f"num_images={value!r}: {model.id} makes {made} per task and takes no image count; for more, "
                    "run several tasks (Client.task_requests splits a request into them)",
                    parameter=common,
                    value=value,
                    common=common,
                    named=common,
                )
            raise InvalidParameterError(
                f"{common} is not supported by {model.id} ({profile.value} profile); leave it out",
                parameter=common,
                value=value,
                common=common,
                named=common,
            )
        given[spec.name] = coerce(model, spec, value, common=common)
        source[spec.name] = common
    for name, value in request.extra.items():
        spec = wire.param(name)
        if spec is None:
            known = ", ".join(p.name for p in wire.params)
            raise InvalidParameterError(
                f"unknown parameter {name!r} for {model.id} ({profile.value} profile); known: {known}",
                parameter=name,
                value=value,
            )
        if spec.name in given:
            raise InvalidParameterError(
                f"{name} is given twice (also as {source[spec.name]}); give it once",
                parameter=name,
                value=value,
                named=name,
            )
        given[spec.name] = coerce(model, spec, value)
        source[spec.name] = name
    if request.callback_url is not None:
        _check_callback(model, wire, request.callback_url)
    return _finish(model, wire, given)


def _finish(model: ModelSpec, wire: WireSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for spec in wire.params:
        if spec.name in given:
            value = given[spec.name]
        elif spec.default is not None and (spec.required or spec.send_default):
            value = spec.default
        elif spec.required:
            raise InvalidParameterError(
                f"{_label(spec)} is required by {model.id}",
                parameter=spec.name,
                value=None,
                common=spec.common,
                named=_label(spec),
            )
        else:
            continue
        if spec.omit_default and value == spec.default:
            continue
        params[spec.name] = str(value) if spec.as_string and not isinstance(value, str) else value
    for group in wire.requires_any:
        if not any(name in params for name in group):
            names = " or ".join(group)
            first = wire.param(group[0])
            assert first is not None  # a WireSpec's groups name only its declared parameters
            raise InvalidParameterError(
                f"{model.id} needs {names}", parameter=group[0], value=None, common=first.common
            )
    _check_rules(model, wire, params)
    return params


def _check_rules(model: ModelSpec, wire: WireSpec, params: Mapping[str, Any]) -> None:
    """Refuse what breaks one of the model's rules across parameters: Kie would take it, charge, and fail."""
    broken = wire.broken_rule(params)
    if broken is None:
        return
    rule, name = broken
    spec = wire.param(name)
    assert spec is not None  # a rule names declared parameters only
    values = wire.effective(params)
    value = values[name]
    raise InvalidParameterError(
        f"{_label(spec)}={value!r} is not accepted by {model.id} with {rule.describe_when(values)} ({rule.reason}); "
        f"allowed: {rule.then[name].describe()}",
        parameter=name,
        value=value,
        common=spec.common,
        named=_label(spec),
    )


def _label(spec: ParamSpec) -> str:
    """How to name a parameter to a person: its common name too where the wire name differs."""
    return spec.name if spec.common is None or spec.common == spec.name else f"{spec.common} ({spec.name})"


def _check_callback(model: ModelSpec, wire: WireSpec, url: str) -> None:
    if wire.callback_field is None:
        raise InvalidParameterError(
            f"callback_url is not supported by {model.id}; leave it out",
            parameter="callback_url",
            value=url,
            common="callback_url",
            named="callback_url",
        )
    try:
        _check_url("callback_url", url)
    except InvalidParameterError as error:
        error.common = "callback_url"
        raise


def _check_url(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParameterError(f"{name} must be a URL, got {value!r}", parameter=name, value=value, named=name)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParameterError(
            f"{name} must be an http(s) URL, got {value!r}", parameter=name, value=value, named=name
        )
    return value


def coerce(model: ModelSpec, spec: ParamSpec, value: Any, *, common: str | None = None) -> Any:
    """Convert ``value`` to the declared kind (strings from the command line included) and check its limits.
    ``common`` is the common parameter the caller gave it as (``None``: under its wire name); a refusal carries
    it (:attr:`InvalidParameterError.common`)."""
    try:
        return _coerce(model, spec, value, _label(spec) if common is not None else spec.name)
    except InvalidParameterError as error:
        error.common = common
        raise


def _coerce(model: ModelSpec, spec: ParamSpec, value: Any, called: str) -> Any:
    """:func:`coerce`'s work; ``called`` is how messages about local image files name the parameter."""
    name = spec.name
    kind = spec.kind
    if kind is ParamKind.BOOLEAN:
        result: Any = _to_bool(name, value)
    elif kind is ParamKind.INTEGER:
        result = _to_int(name, value)
    elif kind is ParamKind.NUMBER:
        result = _to_number(name, value)
    elif kind is ParamKind.URL:
        result = _to_image(spec, _one_image(model, spec, value), called)
    elif kind is ParamKind.URL_LIST:
        result = _to_url_list(spec, value, called)
    else:
        result = _to_string(spec, value)
        result = spec.value_map.get(result, result)
    if spec.choices:
        result = _choose(model, spec, result)
    if _out_of_range(spec, result):
        raise InvalidParameterError(
            f"{_label(spec)}={result!r} is out of range for {model.id}; allowed {describe_range(spec)}",
            parameter=name,
            value=result,
            named=_label(spec),
        )
    if isinstance(result, str) and spec.min_length is not None and len(result) < spec.min_length:
        raise InvalidParameterError(
            f"{name} is {_characters(result)} long; {model.id} needs at least {spec.min_length}",
            parameter=name,
            value=result,
            named=name,
        )
    if isinstance(result, str) and spec.max_length is not None and len(result) > spec.max_length:
        raise InvalidParameterError(
            f"{name} is {_characters(result)} long; {model.id} accepts at most {spec.max_length}",
            parameter=name,
            value=result,
            named=name,
        )
    return result


def _out_of_range(spec: ParamSpec, value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum)


def describe_range(spec: ParamSpec) -> str:
    """``low..high`` of a numeric parameter (either end may be open)."""
    return f"{_number(spec.minimum)}..{_number(spec.maximum)}"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _characters(text: str) -> str:
    return f"{len(text)} character{'' if len(text) == 1 else 's'}"


def _choose(model: ModelSpec, spec: ParamSpec, value: Any) -> Any:
    for choice in spec.choices:
        if _is_choice(spec, value, choice):
            return choice
    if isinstance(value, str):
        for choice in spec.choices:  # case-insensitive match, canonical spelling sent
            if isinstance(choice, str) and choice.lower() == value.lower():
                return choice
    allowed = ", ".join(str(c) for c in (*spec.choices, *spec.value_map))
    raise InvalidParameterError(
        f"{_label(spec)}={value!r} is not accepted by {model.id}; allowed: {allowed}",
        parameter=spec.name,
        value=value,
        named=_label(spec),
    )


def _is_choice(spec: ParamSpec, value: Any, choice: Any) -> bool:
    """Equal and of one type (``True`` is not ``1``, ``"1"`` is not ``1``); a number's value, read as a float,
    also matches a whole-number choice (``1.0`` is the declared ``1``, which is what is sent)."""
    if type(value) is type(choice):
        return bool(value == choice)
    return spec.kind is ParamKind.NUMBER and type(value) is float and type(choice) is int and value == choice


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidParameterError(f"{name} must be true or false, got {value!r}", parameter=name, value=value, named=name)


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InvalidParameterError(
        f"{name} must be a whole number, got {value!r}", parameter=name, value=value, named=name
    )


def _to_number(name: str, value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = float("nan")
    else:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}", parameter=name, value=value, named=name)
    return number


def _to_string(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # e.g. an integer seed for a model that takes it as a string
    raise InvalidParameterError(
        f"{spec.name} must be text, got {value!r}", parameter=spec.name, value=value, named=spec.name
    )


def _one_image(model: ModelSpec, spec: ParamSpec, value: Any) -> Any:
    """The one image a single-URL parameter takes, from the common ``image_urls`` list (exactly one item)."""
    if not isinstance(value, (list, tuple)):
        return value
    if len(value) != 1:
        raise InvalidParameterError(
            f"{_label(spec)}: {model.id} takes one input image, got {len(value)}; give exactly one",
            parameter=spec.name,
            value=value,
            named=_label(spec),
        )
    return value[0]


def _to_image(spec: ParamSpec, value: Any, named: str) -> str:
    """An image URL, or a local image file checked and written as its ``file:`` URL."""
    if is_http_url(value):
        return _check_url(spec.name, value)
    try:
        return check_image(named, value, spec.max_file_bytes or MAX_IMAGE_BYTES)
    except InvalidParameterError as error:
        raise InvalidParameterError(str(error), parameter=spec.name, value=value, named=error.named) from None


def _to_url_list(spec: ParamSpec, value: Any, named: str) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise InvalidParameterError(
            f"{spec.name} must be a list of URLs, got {value!r}", parameter=spec.name, value=value, named=spec.name
        )
    urls = [_to_image(spec, item, named) for item in value]
    if spec.max_items is not None and len(urls) > spec.max_items:
        raise InvalidParameterError(
            f"{spec.name} has {len(urls)} URLs; at most {spec.max_items} are accepted",
            parameter=spec.name,
            value=urls,
            named=spec.name,
        )
    return urls
