"""Seedream for kiecore: ByteDance's Seedream 4.0 and 4.5, text-to-image and image editing.

Live, all four are market models (``/api/v1/jobs/createTask`` with ``input:{...}``). Seedream 4.0 makes up to
6 images per task; its ``image_size`` is a named preset (``landscape_16_9``) and its resolution defaults to 1K.
Seedream 4.5 (``seedream/4.5-text-to-image``, ``seedream/4.5-edit``; live only) makes one image per task and
requires ``aspect_ratio`` and ``quality`` (``basic`` for 2K, ``high`` for 4K), which are sent with their
defaults when not given; it takes no seed. The reference describes only 4.0 text-to-image, on its own path
(``/api/v1/bytedance/seedream-v4-text-to-image``) with a flat body, an aspect-ratio string for ``image_size``,
a 2K default and its generic ``status``/``imageUrl`` replies.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, ModelSpec, ParamSpec, Price, stock

__all__ = [
    "MODELS",
    "SEEDREAM_45",
    "SEEDREAM_45_EDIT",
    "SEEDREAM_45_RATIOS",
    "SEEDREAM_V4",
    "SEEDREAM_V4_EDIT",
    "plugin",
]

#: Common aspect ratios the live size presets take (1:1 goes to square_hd, the service's default).
PRESET_RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")
RESOLUTIONS = ("1K", "2K", "4K")

PROMPT = stock.prompt(5000, description="What to draw (at most 5000 characters); for several images, say how many")
MAX_IMAGES = stock.image_count(6, name="max_images", description="How many images to make (1-6)")
SEED = stock.seed(description="Seed for reproducible results")
LIVE_OPTIONS = (
    stock.size_preset(
        *PRESET_RATIOS, description="Size preset; aspect ratios 1:1, 4:3, 3:4, 3:2, 2:3, 16:9, 9:16, 21:9 map to one"
    ),
    stock.resolution(
        *RESOLUTIONS,
        default="1K",
        name="image_resolution",
        description="Scale of the output: 1K, 2K or 4K (4:3 at 4K is 4096x3072)",
    ),
    MAX_IMAGES,
    SEED,
    stock.flag("nsfw_checker", "Turn the service's NSFW filter on"),
)

SEEDREAM_V4 = ModelSpec(
    id="bytedance/seedream-v4-text-to-image",
    title="Seedream 4.0",
    family="Seedream",
    live=stock.market_wire("bytedance/seedream-v4-text-to-image", PROMPT, *LIVE_OPTIONS),
    reference=stock.reference_wire(
        "/api/v1/bytedance/seedream-v4-text-to-image",
        PROMPT,
        # "string (aspect ratio)" with no list of values, so any ratio string is passed through.
        stock.aspect_ratio(name="image_size", description="Aspect ratio of the output, e.g. 16:9"),
        stock.resolution(
            *RESOLUTIONS, default="2K", name="image_resolution", description="Scale of the output: 1K, 2K or 4K"
        ),
        MAX_IMAGES,
        SEED,
    ),
    aliases=("seedream", "seedream-v4", "seedream-v4-text-to-image"),
    typical_seconds=25.0,  # costTime 23000 ms in the docs' two-image success example
    max_images=6,
    description="ByteDance Seedream 4.0: text-to-image up to 4K, 1-6 images per task",
)

SEEDREAM_V4_EDIT = ModelSpec(
    id="bytedance/seedream-v4-edit",
    title="Seedream 4.0 Edit",
    family="Seedream",
    live=stock.market_wire(
        "bytedance/seedream-v4-edit",
        PROMPT,
        stock.image_urls(
            "Images to edit (1-10 URLs or local files, 10 MB each)", 10, required=True, max_file_bytes=10 * 1024 * 1024
        ),
        *LIVE_OPTIONS,
    ),
    aliases=("seedream-v4-edit", "seedream-edit"),
    typical_seconds=30.0,  # no example of its own; input images add a little time
    max_images=6,
    description="ByteDance Seedream 4.0 edit: edits or combines up to 10 input images, 1-6 results per task",
)

# -- Seedream 4.5: aspect ratio and quality instead of size presets, one image per task, no seed --------------

SEEDREAM_45_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "2:3", "3:2", "21:9")
#: What both 4.5 models take after the prompt (and the edit's images). aspect_ratio and quality are required
#: with a default, so the default is sent when the caller gives none.
SEEDREAM_45_OPTIONS = (
    stock.aspect_ratio(*SEEDREAM_45_RATIOS, default="1:1", required=True),
    ParamSpec(
        name="quality",
        common="resolution",  # --resolution 2K or 4K picks the quality that makes it
        description="Output quality: basic (2K) or high (4K); --resolution 2K or 4K picks one",
        required=True,
        default="basic",
        choices=("basic", "high"),
        value_map={"2K": "basic", "4K": "high"},
    ),
    stock.flag("nsfw_checker", "Turn the service's NSFW filter on"),
)
SEEDREAM_45_PRICE = Price(credits="6.5", source="docs.kie.ai, the Seedream 4.5 market pages (autumn 2026)")

SEEDREAM_45 = ModelSpec(
    id="seedream/4.5-text-to-image",
    title="Seedream 4.5",
    family="Seedream",
    live=stock.market_wire("seedream/4.5-text-to-image", stock.prompt(3000), *SEEDREAM_45_OPTIONS),
    aliases=("seedream-4.5", "seedream-4.5-text-to-image"),
    typical_seconds=30.0,  # the docs give no costTime; a guess a little above 4.0's 23 s (the engine learns it)
    max_images=1,
    description="ByteDance Seedream 4.5: text-to-image at 2K (basic) or 4K (high), one image per task",
    price=SEEDREAM_45_PRICE,
)

SEEDREAM_45_EDIT = ModelSpec(
    id="seedream/4.5-edit",
    title="Seedream 4.5 Edit",
    family="Seedream",
    live=stock.market_wire(
        "seedream/4.5-edit",
        stock.prompt(3000),
        stock.image_urls("Images to edit (1-14 URLs or local files)", 14, required=True),
        *SEEDREAM_45_OPTIONS,
    ),
    aliases=("seedream-4.5-edit",),
    typical_seconds=35.0,  # no costTime in the docs; a guess, input images add a little time
    max_images=1,
    description="ByteDance Seedream 4.5 edit: edits or combines up to 14 input images, one result per task",
    price=SEEDREAM_45_PRICE,
)

MODELS = (SEEDREAM_V4, SEEDREAM_V4_EDIT, SEEDREAM_45, SEEDREAM_45_EDIT)

plugin = DeclarativePlugin(*MODELS)
