"""Seedream 4.0 for kiecore: ByteDance's high-resolution text-to-image and image-editing models, up to 6 images.

Live, both are market models (``/api/v1/jobs/createTask`` with ``input:{...}``) whose ``image_size`` is a named
preset (``landscape_16_9``) and whose resolution defaults to 1K. The reference describes only text-to-image,
on its own path (``/api/v1/bytedance/seedream-v4-text-to-image``) with a flat body, an aspect-ratio string
for ``image_size``, a 2K default and its generic ``status``/``imageUrl`` replies.
"""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.declarative import DeclarativePlugin

__all__ = ["MODELS", "SEEDREAM_V4", "SEEDREAM_V4_EDIT", "plugin"]

SIZE_PRESETS = (
    "square",
    "square_hd",
    "portrait_4_3",
    "portrait_3_2",
    "portrait_16_9",
    "landscape_4_3",
    "landscape_3_2",
    "landscape_16_9",
    "landscape_21_9",
)
#: Common aspect ratios to live size presets (1:1 goes to square_hd, the service's default).
RATIO_PRESETS = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "3:2": "landscape_3_2",
    "2:3": "portrait_3_2",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
    "21:9": "landscape_21_9",
}
RESOLUTIONS = ("1K", "2K", "4K")

PROMPT = ParamSpec(
    name="prompt",
    common="prompt",
    description="What to draw (at most 5000 characters); for several images, say how many",
    required=True,
    max_length=5000,
)
IMAGE_SIZE = ParamSpec(
    name="image_size",
    common="aspect_ratio",
    description="Size preset; aspect ratios 1:1, 4:3, 3:4, 3:2, 2:3, 16:9, 9:16, 21:9 map to one",
    default="square_hd",
    choices=SIZE_PRESETS,
    value_map=RATIO_PRESETS,
)
IMAGE_RESOLUTION = ParamSpec(
    name="image_resolution",
    common="resolution",
    description="Scale of the output: 1K, 2K or 4K (4:3 at 4K is 4096x3072)",
    default="1K",
    choices=RESOLUTIONS,
)
MAX_IMAGES = ParamSpec(
    name="max_images",
    kind=ParamKind.INTEGER,
    common="num_images",
    description="How many images to make (1-6)",
    default=1,
    minimum=1,
    maximum=6,
)
SEED = ParamSpec(name="seed", kind=ParamKind.INTEGER, common="seed", description="Seed for reproducible results")
NSFW_CHECKER = ParamSpec(name="nsfw_checker", kind=ParamKind.BOOLEAN, description="Turn the service's NSFW filter on")
IMAGE_URLS = ParamSpec(
    name="image_urls",
    kind=ParamKind.URL_LIST,
    common="image_urls",
    description="Images to edit (1-10 URLs, 10 MB each)",
    required=True,
    max_items=10,
)


def live_wire(model_id: str, *params: ParamSpec) -> WireSpec:
    """The live market wire of one Seedream model."""
    return WireSpec(
        dialect=Dialect.MARKET,
        submit_path="/api/v1/jobs/createTask",
        status_path="/api/v1/jobs/recordInfo",
        layout=BodyLayout.INPUT,
        model_field=model_id,
        callback_field="callBackUrl",
        params=params,
    )


REFERENCE = WireSpec(
    dialect=Dialect.REFERENCE,
    submit_path="/api/v1/bytedance/seedream-v4-text-to-image",
    status_path="/api/v1/bytedance/seedream-v4-text-to-image/record-info",
    layout=BodyLayout.FLAT,
    model_field=None,
    callback_field=None,
    params=(
        PROMPT,
        # "string (aspect ratio)" with no list of values, so any ratio string is passed through.
        ParamSpec(name="image_size", common="aspect_ratio", description="Aspect ratio of the output, e.g. 16:9"),
        ParamSpec(
            name="image_resolution",
            common="resolution",
            description="Scale of the output: 1K, 2K or 4K",
            default="2K",
            choices=RESOLUTIONS,
        ),
        MAX_IMAGES,
        SEED,
    ),
)

SEEDREAM_V4 = ModelSpec(
    id="bytedance/seedream-v4-text-to-image",
    title="Seedream 4.0",
    family="Seedream",
    live=live_wire(
        "bytedance/seedream-v4-text-to-image", PROMPT, IMAGE_SIZE, IMAGE_RESOLUTION, MAX_IMAGES, SEED, NSFW_CHECKER
    ),
    reference=REFERENCE,
    aliases=("seedream", "seedream-v4", "seedream-v4-text-to-image"),
    typical_seconds=25.0,  # costTime 23000 ms in the docs' two-image success example
    max_images=6,
    description="ByteDance Seedream 4.0: text-to-image up to 4K, 1-6 images per task",
)

SEEDREAM_V4_EDIT = ModelSpec(
    id="bytedance/seedream-v4-edit",
    title="Seedream 4.0 Edit",
    family="Seedream",
    live=live_wire(
        "bytedance/seedream-v4-edit", PROMPT, IMAGE_URLS, IMAGE_SIZE, IMAGE_RESOLUTION, MAX_IMAGES, SEED, NSFW_CHECKER
    ),
    aliases=("seedream-v4-edit", "seedream-edit"),
    typical_seconds=30.0,  # no example of its own; input images add a little time
    max_images=6,
    description="ByteDance Seedream 4.0 edit: edits or combines up to 10 input images, 1-6 results per task",
)

MODELS = (SEEDREAM_V4, SEEDREAM_V4_EDIT)

plugin = DeclarativePlugin(*MODELS)
