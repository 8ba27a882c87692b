"""Nano Banana Pro for kiecore: Google's higher-resolution Nano Banana, text-to-image and image-to-image.

Live, it is a market model (``nano-banana-pro``, no ``google/`` prefix) on the v1 createTask path with plain
``input`` keys and 1K/2K/4K resolutions. The reference instead posts to ``/api/v2/jobs/createTask`` with
``input_``-prefixed keys, ``callbackUrl``, sd/hd/4k resolutions and a webp default; its replies are market-shaped.
"""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.declarative import DeclarativePlugin

__all__ = ["MODELS", "NANO_BANANA_PRO", "plugin"]

MODEL_ID = "nano-banana-pro"
STATUS_PATH = "/api/v1/jobs/recordInfo"

LIVE_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto")
REFERENCE_ASPECT_RATIOS = ("1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "21:9", "9:21")

LIVE = WireSpec(
    dialect=Dialect.MARKET,
    submit_path="/api/v1/jobs/createTask",
    status_path=STATUS_PATH,
    layout=BodyLayout.INPUT,
    model_field=MODEL_ID,
    callback_field="callBackUrl",
    params=(
        ParamSpec(
            name="prompt",
            common="prompt",
            description="What to draw (at most 10000 characters)",
            required=True,
            max_length=10000,
        ),
        ParamSpec(
            name="image_input",
            kind=ParamKind.URL_LIST,
            common="image_urls",
            description="Reference images for image-to-image (at most 8 URLs; jpeg/png/webp, 30 MB each)",
            max_items=8,
        ),
        ParamSpec(
            name="aspect_ratio",
            common="aspect_ratio",
            description="Aspect ratio of the output",
            default="1:1",
            choices=LIVE_ASPECT_RATIOS,
        ),
        ParamSpec(
            name="resolution",
            common="resolution",
            description="Output resolution",
            default="1K",
            choices=("1K", "2K", "4K"),
        ),
        ParamSpec(
            name="output_format",
            common="output_format",
            description="Output file format (jpeg is sent as jpg)",
            default="png",
            choices=("png", "jpg"),
            value_map={"jpeg": "jpg"},
        ),
    ),
)

REFERENCE = WireSpec(
    dialect=Dialect.MARKET,  # the reference's status section is market-shaped (state, resultJson, message)
    submit_path="/api/v2/jobs/createTask",
    status_path=STATUS_PATH,
    layout=BodyLayout.INPUT,
    model_field=MODEL_ID,
    callback_field="callbackUrl",
    params=(
        ParamSpec(name="input_prompt", common="prompt", description="What to draw", required=True),
        ParamSpec(
            name="input_image_input",
            kind=ParamKind.URL_LIST,
            common="image_urls",
            description="Reference images (at most 4 URLs; PNG/JPEG/GIF/WebP, 10 MB each)",
            max_items=4,
        ),
        ParamSpec(
            name="input_aspect_ratio",
            common="aspect_ratio",
            description="Aspect ratio of the output",
            default="1:1",
            choices=REFERENCE_ASPECT_RATIOS,
        ),
        ParamSpec(
            name="input_resolution",
            common="resolution",
            description="Output resolution: sd, hd or 4k",
            default="hd",
            choices=("sd", "hd", "4k"),
        ),
        ParamSpec(
            name="input_output_format",
            common="output_format",
            description="Output file format (jpeg is sent as jpg)",
            default="webp",
            choices=("jpg", "png", "webp"),
            value_map={"jpeg": "jpg"},
        ),
    ),
)

NANO_BANANA_PRO = ModelSpec(
    id=MODEL_ID,
    title="Nano Banana Pro",
    family="Nano Banana",
    live=LIVE,
    reference=REFERENCE,
    aliases=("nbp", "google/nano-banana-pro"),
    typical_seconds=40.0,  # costTime 41000 ms in the docs' success example
    max_images=1,
    description="Google's Nano Banana Pro: sharper 2K/4K images, better text rendering, up to 8 reference images",
)

MODELS = (NANO_BANANA_PRO,)

plugin = DeclarativePlugin(*MODELS)
