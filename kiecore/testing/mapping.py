"""What a plugin's models map requests and replies to: the kit's helpers for tests of a model's quirks, and the
recorded cases a plugin keeps in ``tests/replies/*.json`` (docs/writing-a-plugin.md, "Recorded cases")::

    {
      "_source": "where the examples come from (a key starting with _ is a comment, anywhere)",
      "models": {"<model id>": {"names": [...], "profiles": ["live"], "max_images": 1, "family": "...",
                                "defaults": {"live": {"<parameter>": <default>}},
                                "max_length": {"live": {"<parameter>": <limit>}}}},
      "live": {"<case name>": <case>, ...},
      "reference": {"<case name>": <case>, ...},
      "refusals": {"live": [[<fields>, "<parameter>"], ...], "<model>:reference": [[<fields>, "<parameter>", "<text>"]]}
    }

A case holds one input (``create_reply``, ``status``, ``callback``, ``request`` or ``status_request``), what it
must map to (``expect``; only the keys given are checked) and, optionally, the ``model`` (a name or a list of
names) it is for: without one, it is for every model of the plugin that has the profile. A refusal row's
fields go over the model's smallest accepted request, which must then be refused for the parameter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from kiecore.declarations import ModelSpec
from kiecore.errors import InvalidParameterError, KieError, ParseError
from kiecore.model import GenerationRequest, Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.validation import resolve_params
from kiecore.wire import WireRequest

__all__ = [
    "Recorded",
    "RecordedCase",
    "RecordedFormatError",
    "RecordedModel",
    "RecordedRefusal",
    "check_case",
    "check_model",
    "check_refusal",
    "create",
    "load_recorded",
    "refused",
    "status_request",
]

# -- helpers for a plugin's own tests ----------------------------------------------------------------------


def _entry(registry: Registry, model: str | ModelEntry) -> ModelEntry:
    return registry.resolve(model) if isinstance(model, str) else model


def create(
    registry: Registry, model: str | ModelEntry, profile: Profile | str, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """``(path, body)`` of the create request ``model`` (a name or an entry) makes of ``GenerationRequest(**fields)``
    in ``profile``; it must be a POST with a body."""
    entry, profile = _entry(registry, model), Profile(profile)
    request = GenerationRequest(**fields)
    params = resolve_params(entry.spec, profile, request)
    wire_request = registry.build_request(entry, profile, params, request)
    assert wire_request.method == "POST"
    assert wire_request.body is not None
    return wire_request.path, dict(wire_request.body)


def refused(
    registry: Registry, model: str | ModelEntry, profile: Profile | str, **fields: Any
) -> InvalidParameterError:
    """The error ``GenerationRequest(**fields)`` is refused with by ``model`` in ``profile`` (the test fails if it
    is accepted)."""
    return _refusal(_entry(registry, model).spec, Profile(profile), fields)


def _refusal(model: ModelSpec, profile: Profile, fields: Mapping[str, Any]) -> InvalidParameterError:
    with pytest.raises(InvalidParameterError) as caught:
        resolve_params(model, profile, GenerationRequest(**fields))
    return caught.value


def status_request(registry: Registry, entry: ModelEntry, profile: Profile, task_id: str) -> WireRequest:
    """The request the client polls a task of ``entry``'s model with: its dialect's status request."""
    return registry.dialect_of(entry, profile).status_request(entry.spec.wire(profile).status_path, task_id)


# -- recorded cases ------------------------------------------------------------------------------------------

#: What each kind of input may expect.
EXPECTATIONS: Mapping[str, frozenset[str]] = {
    "create_reply": frozenset({"task_id", "error"}),
    "status": frozenset({"state", "progress", "fail_code", "fail_message", "urls", "error"}),
    "callback": frozenset({"state", "progress", "fail_code", "fail_message", "urls", "error"}),
    "request": frozenset({"path", "body", "params"}),
    "status_request": frozenset({"method", "path", "query"}),
}
MODEL_FACTS = frozenset({"names", "profiles", "max_images", "family", "defaults", "max_length"})
_STATUS_FIELDS = ("state", "progress", "fail_code", "fail_message")


class RecordedFormatError(ValueError):
    """A recorded-cases file that does not follow the format."""


@attrs.frozen
class RecordedModel:
    """What a recorded-cases file states about one model's declaration."""

    source: str
    model: str
    facts: Mapping[str, Any]

    @property
    def id(self) -> str:
        """The model id, the test id."""
        return self.model


@attrs.frozen
class RecordedCase:
    """One recorded input for one model in one profile, and what it must map to."""

    source: str
    name: str
    model: str
    profile: Profile
    kind: str
    given: Any
    expect: Mapping[str, Any]

    @property
    def id(self) -> str:
        """``<model id>:<profile>:<case name>``, the test id."""
        return f"{self.model}:{self.profile.value}:{self.name}"


@attrs.frozen
class RecordedRefusal:
    """One row of a refusal table for one model: the model's smallest accepted request with ``fields`` over it is
    refused for ``parameter``, with ``mention`` in the message."""

    source: str
    model: str
    profile: Profile
    fields: Mapping[str, Any]
    parameter: str
    mention: str | None

    @property
    def id(self) -> str:
        """``<model id>:<profile>:<the fields>``, the test id."""
        return f"{self.model}:{self.profile.value}:{describe(self.fields)}"


@attrs.frozen
class Recorded:
    """Everything a directory of recorded-cases files holds."""

    models: list[RecordedModel] = attrs.Factory(list)
    cases: list[RecordedCase] = attrs.Factory(list)
    refusals: list[RecordedRefusal] = attrs.Factory(list)


def load_recorded(directory: Path, registry: Registry) -> Recorded:
    """Every model fact, case and refusal in ``directory/*.json``, each once per model it is for."""
    files = sorted(Path(directory).glob("*.json"))
    if not files:
        raise RecordedFormatError(f"no recorded cases (*.json) in {directory}")
    recorded = Recorded()
    for path in files:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise RecordedFormatError(f"{path.name}: not a JSON object")
        for key, value in document.items():
            if key.startswith("_"):
                continue
            if key == "models":
                recorded.models.extend(_models(path.name, value, registry))
            elif key == "refusals":
                recorded.refusals.extend(_refusals(path.name, value, registry))
            elif key in Profile.__members__.values():
                recorded.cases.extend(_cases(path.name, Profile(key), value, registry))
            else:
                raise RecordedFormatError(f"{path.name}: unknown section {key!r} (models, live, reference, refusals)")
    for found in (recorded.models, recorded.cases, recorded.refusals):
        seen: dict[str, str] = {}
        for item in found:
            if item.id in seen:
                raise RecordedFormatError(f"{item.source}: {item.id} is there twice (also in {seen[item.id]})")
            seen[item.id] = item.source
    return recorded


def _object(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordedFormatError(f"{where} is not a JSON object")
    return value


def _entries(where: str, value: Any) -> list[tuple[str, Any]]:
    """The items of a JSON object, its comments (keys starting with ``_``) left out."""
    return [(key, item) for key, item in _object(where, value).items() if not key.startswith("_")]


def _models(source: str, section: Any, registry: Registry) -> list[RecordedModel]:
    found = []
    for name, facts in _entries(f"{source}: models", section):
        unknown = {key for key in _object(f"{source}: models.{name}", facts) if not key.startswith("_")}
        if unknown - MODEL_FACTS:
            raise RecordedFormatError(f"{source}: models.{name}: unknown facts {sorted(unknown - MODEL_FACTS)}")
        found.append(RecordedModel(source, _model_id(source, name, registry), facts))
    return found


def _cases(source: str, profile: Profile, section: Any, registry: Registry) -> list[RecordedCase]:
    found = []
    for name, case in _entries(f"{source}: {profile.value}", section):
        where = f"{source}: {profile.value}.{name}"
        keys = {key for key in _object(where, case) if not key.startswith("_")}
        inputs = keys & set(EXPECTATIONS)
        if len(inputs) != 1 or keys - inputs - {"model", "expect"}:
            raise RecordedFormatError(f"{where}: give one input of {sorted(EXPECTATIONS)}, expect and model only")
        (kind,) = inputs
        expect = case.get("expect") or {}
        if not expect or set(expect) - EXPECTATIONS[kind] or ("error" in expect and len(expect) > 1):
            raise RecordedFormatError(f"{where}: expect one or more of {sorted(EXPECTATIONS[kind])} (error alone)")
        if expect.get("error", "ParseError") != "ParseError":
            raise RecordedFormatError(f"{where}: the only error a reply may expect is ParseError")
        for model in _models_of(where, case.get("model"), profile, registry):
            found.append(RecordedCase(source, name, model, profile, kind, case[kind], expect))
    return found


def _refusals(source: str, section: Any, registry: Registry) -> list[RecordedRefusal]:
    found = []
    for key, rows in _entries(f"{source}: refusals", section):
        where = f"{source}: refusals.{key}"
        named, _, profile_name = key.rpartition(":")
        if profile_name not in Profile.__members__.values() or not isinstance(rows, list):
            raise RecordedFormatError(f"{where}: name a profile (live, or <model>:live) and list its rows")
        profile = Profile(profile_name)
        for row in rows:
            if not (isinstance(row, list) and 2 <= len(row) <= 3 and isinstance(row[0], dict)):
                raise RecordedFormatError(f"{where}: a row is [fields, parameter] or [fields, parameter, mention]")
            fields, parameter, *mention = row
            for model in _models_of(where, named or None, profile, registry):
                found.append(RecordedRefusal(source, model, profile, fields, parameter, next(iter(mention), None)))
    return found


def _models_of(where: str, named: Any, profile: Profile, registry: Registry) -> list[str]:
    if named is None:
        return [entry.spec.id for entry in registry.models() if profile in entry.spec.profiles()]
    names = [named] if isinstance(named, str) else named
    return [_model_id(where, name, registry) for name in names]


def _model_id(where: str, name: Any, registry: Registry) -> str:
    try:
        return registry.resolve(str(name)).spec.id
    except KieError as error:
        raise RecordedFormatError(f"{where}: {error}") from None


# -- checking them --------------------------------------------------------------------------------------------


def check_model(registry: Registry, recorded: RecordedModel) -> None:
    """Assert what ``recorded`` states about a model's declaration: its names, its profiles (a request in any
    other is refused), its image count, family, documented defaults and length limits (text of the limit's
    length is sent whole, one character more is refused)."""
    spec = registry.resolve(recorded.model).spec
    facts = recorded.facts
    for name in facts.get("names", ()):
        assert registry.resolve(name).spec.id == spec.id, f"{name} does not name {spec.id}"
    if "profiles" in facts:
        assert [profile.value for profile in spec.profiles()] == facts["profiles"]
        for profile in set(Profile) - set(spec.profiles()):
            assert _refusal(spec, profile, {"prompt": "x"}).parameter == "profile"
    if "max_images" in facts:
        assert spec.max_images == facts["max_images"]
    if "family" in facts:
        assert spec.family == facts["family"]
    for profile, defaults in facts.get("defaults", {}).items():
        wire = spec.wire(Profile(profile))
        assert {name: getattr(wire.param(name), "default", "(undeclared)") for name in defaults} == defaults
    for profile, limits in facts.get("max_length", {}).items():
        for name, limit in limits.items():
            _check_length_limit(spec, Profile(profile), name, limit)


def _check_length_limit(model: ModelSpec, profile: Profile, name: str, limit: int) -> None:
    param = model.wire(profile).param(name)
    assert param is not None and param.max_length == limit, f"{name} is not declared at most {limit} long"
    fields = attrs.asdict(_smallest_request(model, profile))

    def request(text: str) -> GenerationRequest:
        if param.common:
            return GenerationRequest(**{**fields, param.common: text})
        return GenerationRequest(**{**fields, "extra": {**fields["extra"], name: text}})

    assert resolve_params(model, profile, request("p" * limit))[name] == "p" * limit
    with pytest.raises(InvalidParameterError) as caught:
        resolve_params(model, profile, request("p" * (limit + 1)))
    assert caught.value.parameter == name


def _smallest_request(model: ModelSpec, profile: Profile) -> GenerationRequest:
    from kiecore.testing.endtoend import example_request

    return example_request(model, profile if profile in model.profiles() else Profile.LIVE)


def check_refusal(registry: Registry, refusal: RecordedRefusal) -> None:
    """Assert that the row's request is refused, naming the parameter (and the mention) in the message."""
    spec = registry.resolve(refusal.model).spec
    error = _refusal(
        spec, refusal.profile, {**attrs.asdict(_smallest_request(spec, refusal.profile)), **refusal.fields}
    )
    assert error.parameter == refusal.parameter, str(error)
    assert refusal.parameter in str(error)
    assert refusal.mention is None or refusal.mention in str(error)


def check_case(registry: Registry, case: RecordedCase) -> None:
    """Assert that ``case``'s input maps to what it expects."""
    entry = registry.resolve(case.model)
    expect = case.expect
    if case.kind == "create_reply":
        if "error" in expect:
            with pytest.raises(ParseError):
                registry.parse_submit(entry, case.profile, case.given)
        else:
            assert registry.parse_submit(entry, case.profile, case.given) == expect["task_id"]
    elif case.kind in ("status", "callback"):
        _check_status(registry, entry, case)
    elif case.kind == "request":
        if "params" in expect:
            params = resolve_params(entry.spec, case.profile, GenerationRequest(**case.given))
            assert_same_json(params, expect["params"])
        if "path" in expect or "body" in expect:
            path, body = create(registry, entry, case.profile, **case.given)
            assert path == expect.get("path", path)
            assert_same_json(body, expect.get("body", body))
    else:
        request = status_request(registry, entry, case.profile, case.given)
        assert request.method == expect.get("method", request.method)
        assert request.path == expect.get("path", request.path)
        assert request.query == tuple(tuple(pair) for pair in expect.get("query", request.query))


def _check_status(registry: Registry, entry: ModelEntry, case: RecordedCase) -> None:
    expect = case.expect
    if "error" in expect:
        with pytest.raises(ParseError):
            registry.parse_status(entry, case.profile, case.given)
        return
    if any(field in expect for field in _STATUS_FIELDS):
        status = registry.parse_status(entry, case.profile, case.given)
        if "state" in expect:
            assert status.state is TaskState(expect["state"])
        if "progress" in expect:
            wanted = expect["progress"]
            assert status.progress == (None if wanted is None else pytest.approx(wanted))
        assert status.fail_code == expect.get("fail_code", status.fail_code)
        assert status.fail_message == expect.get("fail_message", status.fail_message)
    if "urls" in expect:
        assert list(registry.extract_urls(entry, case.profile, case.given)) == expect["urls"]


def assert_same_json(actual: Any, expected: Any) -> None:
    """Assert two JSON values are equal, types included (``true`` is not ``1``, ``"2"`` is not ``2``)."""
    assert actual == expected
    assert json.dumps(actual, sort_keys=True) == json.dumps(expected, sort_keys=True)


def describe(fields: Mapping[str, Any]) -> str:
    """A short, readable test id for request fields: ``seed=7,extra.maskUrl='mask.png',image_urls=[9 items]``."""
    parts: list[str] = []
    for name, value in fields.items():
        if name == "extra" and isinstance(value, Mapping):
            parts += [f"extra.{key}={_short(item)}" for key, item in value.items()]
        else:
            parts.append(f"{name}={_short(value)}")
    return ",".join(parts) or "(nothing)"


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) > 24:
        return f"<{len(value)} characters>"
    if isinstance(value, (list, tuple)) and len(value) > 1:
        return f"[{len(value)} items]"
    return repr(value)
