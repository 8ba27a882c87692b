"""Whole generations against the emulator, for the conformance suite and ``make demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiecore.client import Client
from kiecore.declarations import ModelSpec, ParamKind, ParamSpec
from kiecore.model import GenerationRequest, GenerationResult, Profile
from kiecore.registry import Registry
from kiecore.retry import RetryPolicy

#: A reference image URL for models that need one (the emulator never fetches it).
EXAMPLE_IMAGE_URL = "https://example.com/reference.png"

FAST_RETRY = RetryPolicy(attempts=5, backoff=0.01, max_backoff=0.05)


def example_request(model: ModelSpec, profile: Profile, prompt: str = "a red fox in the snow") -> GenerationRequest:
    """The smallest request ``model`` accepts in ``profile``: a prompt plus whatever else it requires."""
    wire = model.wire(profile)
    fields: dict[str, Any] = {"prompt": prompt}
    extra: dict[str, Any] = {}
    for spec in wire.params:
        if spec.common == "prompt" or not (spec.required and spec.default is None):
            continue
        value = _example_value(spec)
        if spec.common == "image_urls":
            fields["image_urls"] = tuple(value)
        elif spec.common is not None:
            fields[spec.common] = value
        else:
            extra[spec.name] = value
    return GenerationRequest(**fields, extra=extra)


def _example_value(spec: ParamSpec) -> Any:
    if spec.choices:
        return spec.choices[0]
    if spec.kind is ParamKind.URL_LIST:
        return [EXAMPLE_IMAGE_URL]
    if spec.kind is ParamKind.URL:
        return EXAMPLE_IMAGE_URL
    if spec.kind is ParamKind.BOOLEAN:
        return False
    if spec.kind in (ParamKind.INTEGER, ParamKind.NUMBER):
        return spec.minimum if spec.minimum is not None else 1
    return "example"


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
    emulator; every result file is checked to be a readable image."""
    from kiecore.emulator import Emulator

    results = []
    with Emulator(registry, task_seconds=task_seconds) as emulator:
        for entry in registry.models():
            for profile in entry.spec.profiles():
                if profiles is not None and profile not in profiles:
                    continue
                with emulator_client(emulator.base_url, registry, profile) as client:
                    target = output_dir / profile.value / entry.spec.id.replace("/", "_")
                    result = client.generate(
                        entry.spec.id, example_request(entry.spec, profile), output_dir=target, timeout=60
                    )
                for path in result.files:
                    check_image(path)
                results.append(result)
    return results


def check_image(path: Path) -> str:
    """Assert ``path`` is a whole image file; returns its format (``PNG``, ``JPEG``, ``WEBP``)."""
    from PIL import Image

    with Image.open(path) as image:
        image.verify()
        kind = image.format
    assert kind, f"{path} is not an image"
    return str(kind)
