"""Ideogram V3 for kiecore: Ideogram's text-to-image model, strong at rendering text and design work.

Live, it is a market model (``ideogram/v3-text-to-image``) whose ``image_size`` is a named preset
(``square_hd``, ``landscape_16_9``, ...) and which takes no ``num_images``; the docs state no defaults, so the body
always carries explicit ones. The reference posts a flat body to ``/api/v1/ideogram/v3-text-to-image`` with an
aspect-ratio ``image_size`` and ``num_images`` 1-4, and replies with generic ``status``/``imageUrl``.
"""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.declarative import DeclarativePlugin

__all__ = ["IDEOGRAM_V3", "MODELS", "plugin"]

MODEL_ID = "ideogram/v3-text-to-image"
REFERENCE_PATH = "/api/v1/ideogram/v3-text-to-image"
PROMPT_LIMIT = 5000

RENDERING_SPEEDS = ("TURBO", "BALANCED", "QUALITY")
STYLES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN")
IMAGE_SIZES = ("square", "square_hd", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9")
#: Common aspect ratios onto the live size presets (1:1 takes the HD square; `-p image_size=square` the other).
RATIO_PRESETS = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
}

# "Defaults for these fields are not stated; send explicit values" (live docs): each default below is sent
# (send_default) so the service never picks one of its own. The values follow the docs' example body and the
# reference's stated defaults.
LIVE = WireSpec(
    dialect=Dialect.MARKET,
    submit_path="/api/v1/jobs/createTask",
    status_path="/api/v1/jobs/recordInfo",
    layout=BodyLayout.INPUT,
    model_field=MODEL_ID,
    callback_field="callBackUrl",
    params=(
        ParamSpec(
            name="prompt",
            common="prompt",
            description=f"What to draw (at most {PROMPT_LIMIT} characters)",
            required=True,
            max_length=PROMPT_LIMIT,
        ),
        ParamSpec(
            name="rendering_speed",
            description="TURBO, BALANCED or QUALITY",
            default="BALANCED",
            choices=RENDERING_SPEEDS,
            send_default=True,
        ),
        ParamSpec(
            name="style",
            description="AUTO, GENERAL, REALISTIC or DESIGN",
            default="AUTO",
            choices=STYLES,
            send_default=True,
        ),
        ParamSpec(
            name="expand_prompt",
            kind=ParamKind.BOOLEAN,
            description="Let MagicPrompt expand the prompt (-p expand_prompt=false to keep it as written)",
            default=True,  # as in the docs' example body
            send_default=True,
        ),
        ParamSpec(
            name="image_size",
            common="aspect_ratio",
            description="Size preset; aspect ratios 1:1, 4:3, 3:4, 16:9, 9:16 map to square_hd, landscape_4_3, ...",
            default="square_hd",
            choices=IMAGE_SIZES,
            value_map=RATIO_PRESETS,
            send_default=True,
        ),
        ParamSpec(name="seed", kind=ParamKind.INTEGER, common="seed", description="Random seed"),
        ParamSpec(
            name="negative_prompt",
            common="negative_prompt",
            description=f"What to avoid (at most {PROMPT_LIMIT} characters)",
            max_length=PROMPT_LIMIT,
        ),
    ),
)

REFERENCE = WireSpec(
    dialect=Dialect.REFERENCE,
    submit_path=REFERENCE_PATH,
    status_path=f"{REFERENCE_PATH}/record-info",
    layout=BodyLayout.FLAT,
    model_field=None,
    callback_field=None,  # the reference documents no callback
    params=(
        ParamSpec(name="prompt", common="prompt", description="What to draw", required=True),
        ParamSpec(
            name="rendering_speed",
            description="TURBO, BALANCED or QUALITY",
            default="BALANCED",
            choices=RENDERING_SPEEDS,
        ),
        ParamSpec(name="style", description="AUTO, GENERAL, REALISTIC or DESIGN", default="AUTO", choices=STYLES),
        ParamSpec(
            name="image_size",
            common="aspect_ratio",
            description="Aspect ratio, e.g. 16:9 (the reference lists no values)",
        ),
        ParamSpec(
            name="num_images",
            kind=ParamKind.INTEGER,
            common="num_images",
            description="Number of images, 1-4",
            default=1,
            minimum=1,
            maximum=4,
        ),
        ParamSpec(name="expand_prompt", kind=ParamKind.BOOLEAN, description="MagicPrompt prompt enhancement"),
        ParamSpec(name="seed", kind=ParamKind.INTEGER, common="seed", description="Random seed"),
        ParamSpec(name="negative_prompt", common="negative_prompt", description="What to avoid"),
    ),
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
