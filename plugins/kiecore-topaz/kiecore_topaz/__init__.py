"""Topaz for kiecore: Topaz image upscaling, a utility model that takes an image and no prompt.

Live only (the reference spec does not describe it): ``topaz/image-upscale`` on ``/api/v1/jobs/createTask`` with
``input`` holding ``image_url`` (required, one URL or local file of at most 10 MB, which the core uploads first)
and ``upscale_factor`` (required, the text "1", "2" or "4"; the default "2" is sent when none is given).
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, ModelSpec, ParamKind, ParamSpec, Price, PriceUnit, stock

__all__ = ["MODELS", "TOPAZ_IMAGE_UPSCALE", "UPSCALE_FACTORS", "plugin"]

MODEL_ID = "topaz/image-upscale"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
UPSCALE_FACTORS = ("1", "2", "4")

TOPAZ_IMAGE_UPSCALE = ModelSpec(
    id=MODEL_ID,
    title="Topaz Image Upscale",
    family="Topaz",
    live=stock.market_wire(
        MODEL_ID,
        # One URL on the wire: the common image list (--image) maps to it when it holds exactly one image.
        ParamSpec(
            name="image_url",
            kind=ParamKind.URL,
            common="image_urls",
            description="The image to upscale (one URL or local file, at most 10 MB)",
            required=True,
            max_file_bytes=MAX_IMAGE_BYTES,
        ),
        ParamSpec(
            name="upscale_factor",
            description="How many times larger: 1, 2 or 4 (sent as text)",
            required=True,  # with a default: the default is sent when none is given
            default="2",
            choices=UPSCALE_FACTORS,
        ),
    ),
    aliases=("topaz", "topaz-upscale", "upscale"),
    typical_seconds=20.0,  # a guess: the docs give no timing; the engine's learned timings replace it
    max_images=1,
    description="Topaz image upscaling: one image made 1, 2 or 4 times larger, no prompt",
    # The result's size sets the price and is no parameter, so the estimate is the higher of the two.
    price=Price(
        credits=20,
        per=PriceUnit.REQUEST,
        source="docs.kie.ai, the topaz/image-upscale page (autumn 2026): 10 credits when the result is at most 2K, "
        "20 at 4K: an estimate is the upper bound",
    ),
)

MODELS = (TOPAZ_IMAGE_UPSCALE,)

plugin = DeclarativePlugin(*MODELS)
