"""Nano Banana Pro for kiecore: Google's higher-resolution Nano Banana, text-to-image and image-to-image.

Live, it is a market model (``nano-banana-pro``, no ``google/`` prefix) on the v1 createTask path with plain
``input`` keys and 1K/2K/4K resolutions. The reference instead posts to ``/api/v2/jobs/createTask`` with
``input_``-prefixed keys, ``callbackUrl``, sd/hd/4k resolutions and a webp default; its replies are market-shaped.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, ModelSpec, stock

__all__ = ["MODELS", "NANO_BANANA_PRO", "plugin"]

MODEL_ID = "nano-banana-pro"

LIVE_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto")
REFERENCE_ASPECT_RATIOS = ("1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "21:9", "9:21")

NANO_BANANA_PRO = ModelSpec(
    id=MODEL_ID,
    title="Nano Banana Pro",
    family="Nano Banana",
    live=stock.market_wire(
        MODEL_ID,
        stock.prompt(10000),
        stock.image_urls(
            "Reference images for image-to-image (at most 8 URLs or local files; jpeg/png/webp, 30 MB each)",
            8,
            name="image_input",
            max_file_bytes=30 * 1024 * 1024,
        ),
        stock.aspect_ratio(*LIVE_ASPECT_RATIOS, default="1:1"),
        stock.resolution("1K", "2K", "4K", default="1K"),
        stock.output_format("png", "jpg", default="png"),
    ),
    # The reference's status section is market-shaped (state, resultJson, message), its create request is not.
    reference=stock.market_wire(
        MODEL_ID,
        stock.prompt(name="input_prompt"),
        stock.image_urls(
            "Reference images (at most 4 URLs or local files; PNG/JPEG/GIF/WebP, 10 MB each)",
            4,
            name="input_image_input",
            max_file_bytes=10 * 1024 * 1024,
        ),
        stock.aspect_ratio(*REFERENCE_ASPECT_RATIOS, default="1:1", name="input_aspect_ratio"),
        stock.resolution(
            "sd", "hd", "4k", default="hd", name="input_resolution", description="Output resolution: sd, hd or 4k"
        ),
        stock.output_format("jpg", "png", "webp", default="webp", name="input_output_format"),
        submit_path="/api/v2/jobs/createTask",
        callback_field="callbackUrl",
    ),
    aliases=("nbp", "google/nano-banana-pro"),
    typical_seconds=40.0,  # costTime 41000 ms in the docs' success example
    max_images=1,
    description="Google's Nano Banana Pro: sharper 2K/4K images, better text rendering, up to 8 reference images",
)

MODELS = (NANO_BANANA_PRO,)

plugin = DeclarativePlugin(*MODELS)
