"""The emulator tests' models: one per dialect and body layout, with the quirks the tests need."""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.plugin import DeclarativePlugin
from kiecore.registry import Registry
from tests.emulator.helpers import (
    FLUX_CREATE,
    FLUX_STATUS,
    GPT4O_CREATE,
    GPT4O_STATUS,
    MARKET_CREATE,
    MARKET_STATUS,
    PRO_CREATE,
)

MARKET = ModelSpec(
    id="test/market",
    title="Market",
    family="test",
    max_images=4,
    live=WireSpec(
        dialect=Dialect.MARKET,
        submit_path=MARKET_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.INPUT,
        model_field="test/market",
        params=(
            ParamSpec(name="prompt", common="prompt", required=True, max_length=50),
            ParamSpec(name="output_format", common="output_format", choices=("png", "jpeg", "webp"), default="png"),
            ParamSpec(name="image_size", common="aspect_ratio", choices=("1:1", "16:9", "portrait_4_3")),
            ParamSpec(
                name="num_images", common="num_images", kind=ParamKind.INTEGER, as_string=True, choices=(1, 2, 3, 4, 5)
            ),
            ParamSpec(name="seed", common="seed", kind=ParamKind.INTEGER, minimum=0, maximum=1000),
            ParamSpec(name="strength", kind=ParamKind.NUMBER, minimum=0.01, maximum=1),
            ParamSpec(name="image_urls", common="image_urls", kind=ParamKind.URL_LIST, max_items=2),
            ParamSpec(name="nsfw_checker", kind=ParamKind.BOOLEAN),
        ),
    ),
    reference=WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=MARKET_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.FLAT,
        model_field="test/market",
        params=(
            ParamSpec(name="prompt", common="prompt", required=True),
            ParamSpec(name="output_format", common="output_format", choices=("png", "jpeg")),
            ParamSpec(name="num_images", common="num_images", kind=ParamKind.INTEGER, minimum=1, maximum=4),
        ),
    ),
)

GPT4O = ModelSpec(
    id="test/4o",
    title="4o",
    family="test",
    max_images=4,
    live=WireSpec(
        dialect=Dialect.GPT4O,
        submit_path=GPT4O_CREATE,
        status_path=GPT4O_STATUS,
        params=(
            ParamSpec(name="prompt", common="prompt"),
            ParamSpec(name="size", common="aspect_ratio", required=True, choices=("1:1", "3:2", "2:3")),
            ParamSpec(name="filesUrl", common="image_urls", kind=ParamKind.URL_LIST, max_items=5),
            ParamSpec(name="nVariants", common="num_images", kind=ParamKind.INTEGER, choices=(1, 2, 4)),
            ParamSpec(name="isEnhance", kind=ParamKind.BOOLEAN),
        ),
        requires_any=(("prompt", "filesUrl"),),
    ),
    reference=WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=GPT4O_CREATE,
        status_path=GPT4O_STATUS,
        params=(
            ParamSpec(name="prompt", common="prompt", required=True),
            ParamSpec(name="size", common="aspect_ratio", choices=("1:1", "3:2", "2:3")),
            ParamSpec(name="variants", common="num_images", kind=ParamKind.INTEGER, minimum=1, maximum=4),
        ),
    ),
)


def _flux(model_id: str, field: str) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        title=model_id,
        family="test",
        live=WireSpec(
            dialect=Dialect.FLUX,
            submit_path=FLUX_CREATE,
            status_path=FLUX_STATUS,
            model_field=field,
            params=(
                ParamSpec(name="prompt", common="prompt", required=True),
                ParamSpec(name="aspectRatio", common="aspect_ratio", choices=("16:9", "1:1", "9:16"), default="16:9"),
                ParamSpec(name="outputFormat", common="output_format", choices=("jpeg", "png"), default="jpeg"),
                ParamSpec(name="safetyTolerance", kind=ParamKind.INTEGER, minimum=0, maximum=6),
                ParamSpec(name="inputImage", kind=ParamKind.URL),
            ),
        ),
        reference=WireSpec(
            dialect=Dialect.REFERENCE,
            submit_path=FLUX_CREATE,
            status_path=FLUX_STATUS,
            model_field=field,
            params=(
                ParamSpec(name="prompt", common="prompt", required=True),
                ParamSpec(name="ratio", common="aspect_ratio", choices=("16:9", "4:5")),
                ParamSpec(name="output_format", common="output_format", choices=("jpeg", "png"), default="png"),
            ),
        ),
    )


FLUX = _flux("test/flux-pro", "flux-kontext-pro")
FLUX_MAX = _flux("test/flux-max", "flux-kontext-max")

PRO = ModelSpec(
    id="test/pro",
    title="Pro",
    family="test",
    live=WireSpec(
        dialect=Dialect.MARKET,
        submit_path=MARKET_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.INPUT,
        model_field="nano-banana-pro",
        params=(
            ParamSpec(name="prompt", common="prompt", required=True),
            ParamSpec(name="aspect_ratio", common="aspect_ratio", choices=("1:1", "3:4")),
            ParamSpec(name="output_format", common="output_format", choices=("png", "jpg"), default="png"),
        ),
    ),
    reference=WireSpec(
        dialect=Dialect.MARKET,
        submit_path=PRO_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.INPUT,
        model_field="nano-banana-pro",
        callback_field="callbackUrl",
        params=(
            ParamSpec(name="input_prompt", common="prompt", required=True),
            ParamSpec(name="input_image_input", common="image_urls", kind=ParamKind.URL_LIST, max_items=4),
            ParamSpec(name="input_aspect_ratio", common="aspect_ratio", choices=("1:1", "9:21")),
            ParamSpec(
                name="input_output_format", common="output_format", choices=("jpg", "png", "webp"), default="webp"
            ),
        ),
    ),
)

LIVE_ONLY = ModelSpec(
    id="test/live-only",
    title="Live only",
    family="test",
    live=WireSpec(
        dialect=Dialect.MARKET,
        submit_path=MARKET_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.INPUT,
        model_field="test/live-only",
        params=(ParamSpec(name="prompt", common="prompt", required=True),),
    ),
)


def emulated_registry() -> Registry:
    """A registry of the six test models."""
    registry = Registry.from_plugins(DeclarativePlugin(MARKET, GPT4O, FLUX, FLUX_MAX, PRO, LIVE_ONLY))
    assert not registry.failures and len(registry.models()) == 6
    return registry
