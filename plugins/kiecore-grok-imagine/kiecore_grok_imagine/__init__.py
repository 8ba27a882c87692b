"""Grok Imagine for kiecore: xAI's text-to-image and image-to-image market models on the live service.

Live only (the reference spec does not describe them). Both are priced per task, not per image: one task
returns several images, and neither model has an image-count parameter. Text-to-image takes ``prompt`` (at
most 5000 characters), ``aspect_ratio``, ``enable_pro`` (quality mode, 5 credits instead of 4) and
``nsfw_checker``; image-to-image takes ``image_urls`` (required) and an optional ``prompt``.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, ModelSpec, Price, PriceUnit, stock

__all__ = ["GROK_IMAGINE", "GROK_IMAGINE_I2I", "MODELS", "RATIOS", "plugin"]

SOURCE = "docs.kie.ai, the grok-imagine pages (autumn 2026)"

RATIOS = ("2:3", "3:2", "1:1", "16:9", "9:16")

#: Images one task returns, as ``-n N`` plans with: the docs say "several" without a number, so 2 (several at
#: least: ``-n 4`` runs two tasks, and a task that returns more keeps them all). No parameter asks for more.
IMAGES_PER_TASK = 2

GROK_IMAGINE = ModelSpec(
    id="grok-imagine/text-to-image",
    title="Grok Imagine",
    family="Grok Imagine",
    live=stock.market_wire(
        "grok-imagine/text-to-image",
        stock.prompt(5000),
        stock.aspect_ratio(*RATIOS),  # the docs state no default, so none is sent unless asked for
        # The docs state no default; the price (4, or 5 in quality mode) implies quality mode is off unless asked
        # for, which is what an unset flag is priced at. It is not sent unless set.
        stock.flag("enable_pro", "Quality mode (5 credits per task instead of 4)", default=False),
        stock.flag("nsfw_checker", "Turn the service's NSFW filter on"),
    ),
    aliases=("grok-imagine", "grok", "grok-imagine-text-to-image"),
    typical_seconds=20.0,  # a guess: the docs give no timing; the engine's learned timings replace it
    max_images=IMAGES_PER_TASK,
    images_per_task=IMAGES_PER_TASK,
    description="xAI's Grok Imagine: several images per task from a prompt, with an optional quality mode",
    price=Price(by="enable_pro", by_value={False: 4, True: 5}, per=PriceUnit.REQUEST, source=SOURCE),
)

GROK_IMAGINE_I2I = ModelSpec(
    id="grok-imagine/image-to-image",
    title="Grok Imagine Image-to-Image",
    family="Grok Imagine",
    live=stock.market_wire(
        "grok-imagine/image-to-image",
        # Not marked required, and no length limit is stated for this model.
        stock.prompt(required=False, description="How to change the input images (optional)"),
        # The schema allows 5, its text says 1: the schema wins.
        stock.image_urls(
            "Input images (1-5 URLs or local files, 10 MB each)", 5, required=True, max_file_bytes=10 * 1024 * 1024
        ),
    ),
    aliases=("grok-imagine-i2i", "grok-i2i", "grok-imagine-image-to-image"),
    typical_seconds=25.0,  # a guess: the docs give no timing; the engine's learned timings replace it
    # Assumed like text-to-image (same family, same per-task price); this page repeats no image count.
    max_images=IMAGES_PER_TASK,
    images_per_task=IMAGES_PER_TASK,
    description="xAI's Grok Imagine image-to-image: several new images from up to 5 input images",
    # "As above", but this model takes no enable_pro, so quality mode (5 credits) cannot be asked for.
    price=Price(credits=4, per=PriceUnit.REQUEST, source=SOURCE),
)

MODELS = (GROK_IMAGINE, GROK_IMAGINE_I2I)

plugin = DeclarativePlugin(*MODELS)
