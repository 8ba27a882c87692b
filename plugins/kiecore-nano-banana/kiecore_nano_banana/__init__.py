"""Nano Banana for kiecore: Google's Gemini 2.5 Flash Image, text-to-image and (the edit variant) image editing.

Live, both are market models (``/api/v1/jobs/createTask`` with ``input:{...}``, state words, ``resultJson``).
The reference describes only ``google/nano-banana``, on the same paths, as flat ``{prompt, output_format,
image_size}`` with its generic ``status``/``imageUrl`` replies and no callback.
"""

from __future__ import annotations

from kiecore import BodyLayout, DeclarativePlugin, Dialect, ModelSpec, ParamSpec, Price, WireSpec, stock

__all__ = ["MODELS", "NANO_BANANA", "NANO_BANANA_EDIT", "plugin"]

RATIOS = ("1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto")

PROMPT = stock.prompt(5000)
OUTPUT_FORMAT = stock.output_format("png", "jpeg", default="png")
LIVE_OPTIONS = (
    OUTPUT_FORMAT,
    # The size key is contested (docs/kie-api-notes.md §7): older pages call it image_size, the 2026-08 pages
    # call it aspect_ratio (same values) and mark image_size deprecated. Those 2026-08 pages are the newest
    # description of the live service, and a deprecated field is the one that may stop working, so the common
    # aspect ratio goes to aspect_ratio. image_size stays declared for -p image_size=... on a service that
    # still wants it. Neither is sent unless asked for (both default to 1:1 at the service), so a plain request
    # never depends on which key the service takes. The docs do not say what happens if both are sent.
    stock.aspect_ratio(
        *RATIOS, default="1:1", description="Aspect ratio of the output (service default 1:1); the 2026-08 key"
    ),
    ParamSpec(
        name="image_size",
        description="Aspect ratio under its older, deprecated key; use instead of aspect_ratio if the service wants it",
        default="1:1",
        choices=RATIOS,
    ),
    stock.flag("nsfw_checker", "Turn the service's NSFW filter on"),
)

NANO_BANANA = ModelSpec(
    id="google/nano-banana",
    title="Nano Banana",
    family="Nano Banana",
    live=stock.market_wire("google/nano-banana", PROMPT, *LIVE_OPTIONS),
    reference=WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=stock.MARKET_SUBMIT_PATH,
        status_path=stock.MARKET_STATUS_PATH,
        layout=BodyLayout.FLAT,  # the reference shows no input wrapper
        model_field="google/nano-banana",
        callback_field=None,
        params=(stock.prompt(), OUTPUT_FORMAT, stock.aspect_ratio(*RATIOS, name="image_size", default="1:1")),
    ),
    aliases=("nano-banana",),
    typical_seconds=10.0,  # costTime 9000 ms in the docs' success example
    max_images=1,
    description="Google's Nano Banana (Gemini 2.5 Flash Image): fast text-to-image in many aspect ratios",
    # The edit variant's page states no price of its own, so it declares none.
    price=Price(credits=4, source="docs.kie.ai, the google/nano-banana market page; docs/kie-api-notes.md §8"),
)

NANO_BANANA_EDIT = ModelSpec(
    id="google/nano-banana-edit",
    title="Nano Banana Edit",
    family="Nano Banana",
    live=stock.market_wire(
        "google/nano-banana-edit",
        PROMPT,
        stock.image_urls(
            "Images to edit (1-10 URLs or local files; jpeg/png/webp, 10 MB each)",
            10,
            required=True,
            max_file_bytes=10 * 1024 * 1024,
        ),
        *LIVE_OPTIONS,
    ),
    aliases=("nano-banana-edit",),
    typical_seconds=12.0,  # no example of its own; a little slower than text-to-image
    max_images=1,
    description="Google's Nano Banana edit: changes or combines up to 10 input images as the prompt says",
)

MODELS = (NANO_BANANA, NANO_BANANA_EDIT)

plugin = DeclarativePlugin(*MODELS)
