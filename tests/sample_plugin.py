"""A small plugin with one model per dialect, so core tests do not depend on the real plugins."""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.plugin import DeclarativePlugin

MARKET = ModelSpec(
    id="test/market",
    title="Market test model",
    family="test",
    aliases=("market",),
    typical_seconds=1,
    max_images=4,
    live=WireSpec(
        dialect=Dialect.MARKET,
        submit_path="/api/v1/jobs/createTask",
        status_path="/api/v1/jobs/recordInfo",
        layout=BodyLayout.INPUT,
        model_field="test/market",
        params=(
            ParamSpec(name="prompt", common="prompt", required=True, max_length=100),
            ParamSpec(
                name="image_size",
                common="aspect_ratio",
                choices=("square", "landscape_16_9"),
                value_map={"1:1": "square", "16:9": "landscape_16_9"},
                default="square",
            ),
            ParamSpec(
                name="num_images",
                kind=ParamKind.INTEGER,
                common="num_images",
                choices=(1, 2, 3, 4),
                as_string=True,
                default=1,
                omit_default=True,
            ),
            ParamSpec(name="output_format", common="output_format", choices=("png", "jpeg"), default="png"),
            ParamSpec(name="seed", kind=ParamKind.INTEGER, common="seed", minimum=0, maximum=2**31),
            ParamSpec(name="image_urls", kind=ParamKind.URL_LIST, common="image_urls", max_items=2),
            ParamSpec(name="nsfw_checker", kind=ParamKind.BOOLEAN),
            ParamSpec(name="style", choices=("AUTO", "DESIGN"), send_default=True, default="AUTO"),
        ),
    ),
    reference=WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path="/api/v1/test/market",
        status_path="/api/v1/test/market/record-info",
        callback_field=None,
        params=(
            ParamSpec(name="prompt", common="prompt", required=True),
            ParamSpec(name="image_size", common="aspect_ratio", choices=("1:1", "16:9")),
            ParamSpec(name="num_images", kind=ParamKind.INTEGER, common="num_images", minimum=1, maximum=4),
        ),
    ),
)

FOUR_O = ModelSpec(
    id="test/4o",
    title="4o-style test model",
    family="test",
    typical_seconds=1,
    max_images=4,
    live=WireSpec(
        dialect=Dialect.GPT4O,
        submit_path="/api/v1/gpt4o-image/generate",
        status_path="/api/v1/gpt4o-image/record-info",
        params=(
            ParamSpec(name="prompt", common="prompt"),
            ParamSpec(name="size", common="aspect_ratio", required=True, default="1:1", choices=("1:1", "3:2")),
            ParamSpec(
                name="nVariants",
                kind=ParamKind.INTEGER,
                common="num_images",
                choices=(1, 2, 4),
                default=1,
                omit_default=True,
            ),
            ParamSpec(name="filesUrl", kind=ParamKind.URL_LIST, common="image_urls", max_items=5),
            ParamSpec(name="isEnhance", kind=ParamKind.BOOLEAN, default=False),
        ),
        requires_any=(("prompt", "filesUrl"),),
    ),
)

FLUX = ModelSpec(
    id="test/flux",
    title="Flux-style test model",
    family="test",
    typical_seconds=1,
    live=WireSpec(
        dialect=Dialect.FLUX,
        submit_path="/api/v1/flux/kontext/generate",
        status_path="/api/v1/flux/kontext/record-info",
        model_field="test/flux",
        params=(
            ParamSpec(name="prompt", common="prompt", required=True),
            ParamSpec(name="aspectRatio", common="aspect_ratio", choices=("16:9", "1:1"), default="16:9"),
            ParamSpec(name="safetyTolerance", kind=ParamKind.INTEGER, minimum=0, maximum=6, default=2),
        ),
    ),
)

plugin = DeclarativePlugin(MARKET, FOUR_O, FLUX)
