"""Z-Image for kiecore: a low-cost text-to-image market model on the live service.

Live only (the reference spec does not describe it): ``z-image`` on ``/api/v1/jobs/createTask`` with ``input``
holding ``prompt`` (at most 1000 characters), ``aspect_ratio`` (required; the default 1:1 is sent when none is
given) and ``nsfw_checker``. One image per task.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, ModelSpec, Price, stock

__all__ = ["MODELS", "RATIOS", "Z_IMAGE", "plugin"]

MODEL_ID = "z-image"

RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16")

Z_IMAGE = ModelSpec(
    id=MODEL_ID,
    title="Z-Image",
    family="Z-Image",
    live=stock.market_wire(
        MODEL_ID,
        stock.prompt(1000),
        stock.aspect_ratio(*RATIOS, default="1:1", required=True),
        stock.flag("nsfw_checker", "Turn the service's NSFW filter on"),
    ),
    aliases=("zimage",),
    typical_seconds=15.0,  # a guess: the docs give no timing; the engine's learned timings replace it
    max_images=1,
    description="Z-Image: low-cost text-to-image in five aspect ratios",
    price=Price(credits="0.8", source="docs.kie.ai, the z-image page (autumn 2026)"),
)

MODELS = (Z_IMAGE,)

plugin = DeclarativePlugin(*MODELS)
