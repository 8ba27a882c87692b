"""Ideogram V3 for kiecore: Ideogram's text-to-image model, strong at rendering text and design work.

Live, it is a market model (``ideogram/v3-text-to-image``) whose ``image_size`` is a named preset
(``square_hd``, ``landscape_16_9``, ...) and which takes no ``num_images``; the docs state no defaults, so the body
always carries explicit ones. The reference posts a flat body to ``/api/v1/ideogram/v3-text-to-image`` with an
aspect-ratio ``image_size`` and ``num_images`` 1-4, and replies with generic ``status``/``imageUrl``.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, ModelSpec, stock

__all__ = ["IDEOGRAM_V3", "MODELS", "plugin"]

MODEL_ID = "ideogram/v3-text-to-image"
PROMPT_LIMIT = 5000

RENDERING_SPEEDS = ("TURBO", "BALANCED", "QUALITY")
STYLES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN")
#: Common aspect ratios the live size presets take (1:1 takes the HD square; `-p image_size=square` the other).
PRESET_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16")

# "Defaults for these fields are not stated; send explicit values" (live docs): each default below is sent
# (send_default) so the service never picks one of its own. The values follow the docs' example body and the
# reference's stated defaults.
LIVE = stock.market_wire(
    MODEL_ID,
    stock.prompt(PROMPT_LIMIT),
    stock.choice("rendering_speed", RENDERING_SPEEDS, default="BALANCED", send_default=True),
    stock.choice("style", STYLES, default="AUTO", send_default=True),
    stock.flag(
        "expand_prompt",
        "Let MagicPrompt expand the prompt (-p expand_prompt=false to keep it as written)",
        default=True,  # as in the docs' example body
        send_default=True,
    ),
    stock.size_preset(*PRESET_RATIOS, send_default=True),
    stock.seed(),
    stock.negative_prompt(PROMPT_LIMIT),
)

REFERENCE = stock.reference_wire(
    "/api/v1/ideogram/v3-text-to-image",
    stock.prompt(),
    stock.choice("rendering_speed", RENDERING_SPEEDS, default="BALANCED"),
    stock.choice("style", STYLES, default="AUTO"),
    stock.aspect_ratio(name="image_size", description="Aspect ratio, e.g. 16:9 (the reference lists no values)"),
    stock.image_count(4),
    stock.flag("expand_prompt", "MagicPrompt prompt enhancement"),
    stock.seed(),
    stock.negative_prompt(),
)

IDEOGRAM_V3 = ModelSpec(
    id=MODEL_ID,
    title="Ideogram V3",
    family="Ideogram",
    live=LIVE,
    reference=REFERENCE,
    aliases=("ideogram-v3", "ideogram/v3"),
    typical_seconds=15.0,  # costTime 15000 ms in the docs' success example
    max_images=4,  # the reference takes num_images 1-4; live has no num_images and gives one image per task
    description="Ideogram V3 text-to-image: legible text in images, design and realistic styles",
)

MODELS = (IDEOGRAM_V3,)

plugin = DeclarativePlugin(*MODELS)
