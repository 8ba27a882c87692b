"""Ideogram Character for kiecore: Ideogram's model that keeps a character from a reference image consistent.

Live, it is a market model (``ideogram/character``) that requires ``reference_image_urls`` (only the first is
used), takes ``num_images`` as a string and a named ``image_size`` preset, and caps the prompt and the negative
prompt at 5000 characters each. The reference posts a flat body to ``/api/v1/ideogram/character`` where the
reference images are optional and ``image_size`` is an aspect ratio, and replies with generic
``status``/``imageUrl``.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, ModelSpec, stock

__all__ = ["IDEOGRAM_CHARACTER", "MODELS", "plugin"]

MODEL_ID = "ideogram/character"

RENDERING_SPEEDS = ("TURBO", "BALANCED", "QUALITY")
STYLES = ("AUTO", "REALISTIC", "FICTION")

# Live defaults are declared where the docs state them (rendering_speed, image_size) and left to the service.
LIVE = stock.market_wire(
    MODEL_ID,
    stock.prompt(5000),
    stock.image_urls(
        "The character's reference image (one URL or local file; at most 10 MB)",
        # The service uses only the first URL (10 MB in total); a second one would be silently ignored,
        # so it is refused instead of letting the caller believe several references are combined.
        1,
        name="reference_image_urls",
        required=True,
        max_file_bytes=10 * 1024 * 1024,
    ),
    stock.choice("rendering_speed", RENDERING_SPEEDS, default="BALANCED"),
    stock.choice("style", STYLES),
    stock.flag("expand_prompt", "Let MagicPrompt expand the prompt"),
    stock.image_count(4, default=None, description="Number of images, 1-4 (sent as a string)", as_string=True),
    # 1:1 takes the HD square; `-p image_size=square` the other.
    stock.size_preset("1:1", "4:3", "3:4", "16:9", "9:16"),
    stock.seed(),
    stock.negative_prompt(5000),  # the autumn-2026 docs cap it at 5000 characters
)

REFERENCE = stock.reference_wire(
    "/api/v1/ideogram/character",
    stock.prompt(),
    stock.choice("rendering_speed", RENDERING_SPEEDS, default="BALANCED"),
    stock.choice("style", STYLES, default="AUTO"),
    stock.aspect_ratio(name="image_size", description="Aspect ratio, e.g. 16:9 (the reference lists no values)"),
    stock.image_count(4),
    stock.flag("expand_prompt", "MagicPrompt prompt enhancement"),
    stock.seed(),
    stock.negative_prompt(),
    stock.image_urls(
        "Reference images of the character (optional; the reference states no limit)", name="reference_image_urls"
    ),
)

IDEOGRAM_CHARACTER = ModelSpec(
    id=MODEL_ID,
    title="Ideogram Character",
    family="Ideogram",
    live=LIVE,
    reference=REFERENCE,
    aliases=("ideogram-character",),
    typical_seconds=17.0,  # costTime 17000 ms in the docs' success example
    max_images=4,
    description="Ideogram Character: the character of a reference image, consistent across new scenes",
)

MODELS = (IDEOGRAM_CHARACTER,)

plugin = DeclarativePlugin(*MODELS)
