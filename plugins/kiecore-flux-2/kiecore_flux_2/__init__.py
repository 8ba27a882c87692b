"""Flux 2 for kiecore: Black Forest Labs' Flux 2 Pro and Flex, text-to-image and image-to-image, as market models.

Live only (the reference spec does not describe them): ``flux-2/<pro|flex>-<text|image>-to-image`` on
``/api/v1/jobs/createTask``. ``aspect_ratio`` and ``resolution`` are required, so their defaults (1:1, 1K) are
sent when none is given; image-to-image adds ``auto`` to the ratios and requires 1-8 ``input_urls``. Prices are
per image by resolution. The prompt is 3-5000 characters.
"""

from __future__ import annotations

import attrs

from kiecore import DeclarativePlugin, ModelSpec, ParamSpec, Price, stock

__all__ = ["FLUX_2_FLEX", "FLUX_2_FLEX_I2I", "FLUX_2_PRO", "FLUX_2_PRO_I2I", "MODELS", "RATIOS", "plugin"]

SOURCE = "docs.kie.ai, the flux-2 pages (autumn 2026)"

RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3")
RESOLUTIONS = ("1K", "2K")

#: Credits per image by resolution, per tier.
PRICES = {"pro": {"1K": 5, "2K": 7}, "flex": {"1K": 14, "2K": 24}}

PROMPT = stock.prompt(5000, min_length=3)
RESOLUTION = attrs.evolve(stock.resolution(*RESOLUTIONS, default="1K"), required=True)
NSFW_CHECKER = stock.flag("nsfw_checker", "Turn the service's NSFW filter on")
INPUT_URLS = stock.image_urls(
    "Input images (1-8 URLs or local files, 10 MB each)",
    8,
    name="input_urls",
    required=True,
    max_file_bytes=10 * 1024 * 1024,
)


def params(image_to_image: bool) -> tuple[ParamSpec, ...]:
    """The live ``input`` fields: text-to-image's, or image-to-image's (``auto`` ratio, required images)."""
    ratios = (*RATIOS, "auto") if image_to_image else RATIOS
    fields = (PROMPT, stock.aspect_ratio(*ratios, default="1:1", required=True), RESOLUTION, NSFW_CHECKER)
    return (*fields, INPUT_URLS) if image_to_image else fields


def flux_2(tier: str, mode: str, aliases: tuple[str, ...], typical_seconds: float) -> ModelSpec:
    """``flux-2/<tier>-<mode>`` (``tier`` ``pro`` or ``flex``, ``mode`` ``text-to-image`` or ``image-to-image``)."""
    model_id = f"flux-2/{tier}-{mode}"
    image_to_image = mode == "image-to-image"
    title = f"Flux 2 {tier.title()}" + (" Image-to-Image" if image_to_image else "")
    summary = "changes or combines up to 8 input images" if image_to_image else "text-to-image"
    return ModelSpec(
        id=model_id,
        title=title,
        family="Flux 2",
        live=stock.market_wire(model_id, *params(image_to_image)),
        aliases=aliases,
        typical_seconds=typical_seconds,
        max_images=1,
        description=f"Black Forest Labs' {title}: {summary} at 1K or 2K",
        price=Price(by="resolution", by_value=PRICES[tier], source=SOURCE),
    )


# typical_seconds are guesses (the docs give no timing; the engine's learned timings replace them): Flex, the
# dearer tier, is guessed slower, and input images add a little.
FLUX_2_PRO = flux_2("pro", "text-to-image", ("flux-2", "flux-2-pro", "flux2-pro"), 20.0)
FLUX_2_FLEX = flux_2("flex", "text-to-image", ("flux-2-flex", "flux2-flex"), 30.0)
FLUX_2_PRO_I2I = flux_2("pro", "image-to-image", ("flux-2-pro-i2i", "flux2-pro-i2i"), 25.0)
FLUX_2_FLEX_I2I = flux_2("flex", "image-to-image", ("flux-2-flex-i2i", "flux2-flex-i2i"), 35.0)

MODELS = (FLUX_2_PRO, FLUX_2_FLEX, FLUX_2_PRO_I2I, FLUX_2_FLEX_I2I)

plugin = DeclarativePlugin(*MODELS)
