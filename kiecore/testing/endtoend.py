"""Whole generations against the emulator, for the conformance suite and ``make demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from kiecore.client import Client
from kiecore.declarations import Match, ModelSpec, ParamKind, ParamSpec, Rule
from kiecore.model import GenerationRequest, GenerationResult, Profile
from kiecore.registry import Registry
from kiecore.retry import RetryPolicy

#: A reference image URL for models that need one (the emulator never fetches it).
EXAMPLE_IMAGE_URL = "https://example.com/reference.png"

FAST_RETRY = RetryPolicy(attempts=5, backoff=0.01, max_backoff=0.05)


def example_request(model: ModelSpec, profile: Profile, prompt: str = "a red fox in the snow") -> GenerationRequest:
    """The smallest request ``model`` accepts in ``profile``: a prompt (when it takes one) plus whatever else it
    requires."""
    wire = model.wire(profile)
    fields: dict[str, Any] = {"prompt": prompt} if wire.for_common("prompt") is not None else {}
    extra: dict[str, Any] = {}
    for spec in wire.params:
        if spec.common == "prompt" or not (spec.required and spec.default is None):
            continue
        value = example_value(spec)
        if spec.common == "image_urls":
            fields["image_urls"] = (value,) if isinstance(value, str) else tuple(value)
        elif spec.common is not None:
            fields[spec.common] = value
        else:
            extra[spec.name] = value
    return GenerationRequest(**fields, extra=extra)


def rule_breaking_requests(model: ModelSpec, profile: Profile) -> list[tuple[Rule, str, GenerationRequest]]:
    """For each of ``model``'s rules in ``profile``: the rule, the parameter that breaks it, and
    :func:`example_request` changed to meet the rule's condition with a value of that parameter the rule does
    not allow (but its declaration does). ``AssertionError`` for a rule no declared value can break."""
    wire = model.wire(profile)
    found = []
    for rule in wire.rules:
        values = {name: _meeting(_declared(model, profile, name), test) for name, test in rule.when.items()}
        breaking = [
            (name, value)
            for name, test in rule.then.items()
            if (value := _breaking(_declared(model, profile, name), test)) is not None
        ]
        assert breaking, f"{model.id}: no declared value breaks the rule {rule.reason!r}"
        name, value = breaking[0]
        values[name] = value
        found.append((rule, name, _changed(example_request(model, profile), model, profile, values)))
    return found


def _declared(model: ModelSpec, profile: Profile, name: str) -> ParamSpec:
    spec = model.wire(profile).param(name)
    assert spec is not None, f"{model.id}: a rule names {name!r}, which it does not declare"
    return spec


def _meeting(spec: ParamSpec, test: Match) -> Any:
    """A value of ``spec`` that passes ``test``."""
    if test.values:
        return next((value for value in test.values if not spec.choices or value in spec.choices), test.values[0])
    if test.minimum is not None or test.maximum is not None:
        return test.minimum if test.minimum is not None else test.maximum
    return spec.default if spec.default is not None else example_value(spec)


def _breaking(spec: ParamSpec, test: Match) -> Any:
    """A value ``spec`` accepts that fails ``test`` (``None``: there is none)."""
    if spec.choices:
        return next((choice for choice in spec.choices if not test.holds(choice)), None)
    step = 1 if spec.kind is ParamKind.INTEGER else 0.5
    candidates = [
        *([test.maximum + step] if test.maximum is not None else []),
        *([test.minimum - step] if test.minimum is not None else []),
    ]
    for value in candidates:
        inside = (spec.minimum is None or value >= spec.minimum) and (spec.maximum is None or value <= spec.maximum)
        if inside:
            return int(value) if spec.kind is ParamKind.INTEGER else value
    return None


def _changed(
    request: GenerationRequest, model: ModelSpec, profile: Profile, values: dict[str, Any]
) -> GenerationRequest:
    """``request`` with wire parameters ``values`` set, each under its common name where it has one."""
    fields = {key: value for key, value in attrs.asdict(request, recurse=False).items() if key != "extra"}
    extra = dict(request.extra)
    for name, value in values.items():
        spec = _declared(model, profile, name)
        if spec.common == "image_urls":
            fields["image_urls"] = (value,) if isinstance(value, str) else tuple(value)
        elif spec.common is not None:
            fields[spec.common] = value
        else:
            extra[name] = value
    return GenerationRequest(**fields, extra=extra)


def example_value(spec: ParamSpec) -> Any:
    """A value ``spec`` accepts, as sent: its first choice, an image URL (a list of one for a list), ``false``,
    its least number (``1`` when unbounded; a float for a number), or a word within its length limit."""
    if spec.choices:
        return spec.choices[0]
    if spec.kind is ParamKind.URL_LIST:
        return [EXAMPLE_IMAGE_URL]
    if spec.kind is ParamKind.URL:
        return EXAMPLE_IMAGE_URL
    if spec.kind is ParamKind.BOOLEAN:
        return False
    if spec.kind in (ParamKind.INTEGER, ParamKind.NUMBER):
        low = spec.minimum if spec.minimum is not None else 1
        return int(low) if spec.kind is ParamKind.INTEGER else float(low)
    return "example".ljust(spec.min_length or 0, "!")[: spec.max_length]


def emulator_client(base_url: str, registry: Registry, profile: Profile = Profile.LIVE) -> Client:
    """A client bound to an emulator, polling and retrying at emulator speed, without client-side rate limits
    (their own tests cover them; here they would only slow a test suite down)."""
    return Client(
        api_key="test-key",
        base_url=base_url,
        profile=profile,
        registry=registry,
        poll_interval=0.05,
        retry=FAST_RETRY,
        rate_limits=None,
    )


def generate_with_each_model(
    registry: Registry, output_dir: Path, *, task_seconds: float = 0.2, profiles: tuple[Profile, ...] | None = None
) -> list[GenerationResult]:
    """Generate once with every registered model in every profile it has (or in ``profiles``), against a fresh
    emulator, all of a profile's at once on one client; every result file is checked to be a readable image.
    The first failed generation is raised."""
    from kiecore.emulator import Emulator

    results = []
    with Emulator(registry, task_seconds=task_seconds) as emulator:
        for profile in Profile:
            entries = [e for e in registry.models() if profile in e.spec.profiles()]
            if (profiles is not None and profile not in profiles) or not entries:
                continue
            items = [
                {
                    "model": entry.spec.id,
                    "prompt": example_request(entry.spec, profile),
                    "output_dir": output_dir / profile.value / entry.spec.id.replace("/", "_"),
                    "timeout": 60,
                    "profile": profile,
                }
                for entry in entries
            ]
            with emulator_client(emulator.base_url, registry, profile) as client:
                for _, outcome in client.generate_many(items, ordered=True):
                    if isinstance(outcome, BaseException):
                        raise outcome
                    for path in outcome.files:
                        check_image(path)
                    results.append(outcome)
    return results


def check_image(path: Path) -> str:
    """Assert ``path`` is a whole image file; returns its format (``PNG``, ``JPEG``, ``WEBP``)."""
    from PIL import Image

    with Image.open(path) as image:
        image.verify()
        kind = image.format
    assert kind, f"{path} is not an image"
    return str(kind)
