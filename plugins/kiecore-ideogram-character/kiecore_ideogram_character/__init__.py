"""Ideogram Character for kiecore: Ideogram's model that keeps a character from a reference image consistent.

Live, it is a market model (``ideogram/character``) that requires ``reference_image_urls`` (only the first is
used), takes ``num_images`` as a string and a named ``image_size`` preset. The reference posts a flat body to
``/api/v1/ideogram/character`` where the reference images are optional and ``image_size`` is an aspect ratio,
and replies with generic ``status``/``imageUrl``.
"""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.declarative import DeclarativePlugin

__all__ = ["IDEOGRAM_CHARACTER", "MODELS", "plugin"]

MODEL_ID = "ideogram/character"
REFERENCE_PATH = "/api/v1/ideogram/character"
PROMPT_LIMIT = 5000

RENDERING_SPEEDS = ("TURBO", "BALANCED", "QUALITY")
STYLES = ("AUTO", "REALISTIC", "FICTION")
IMAGE_SIZES = ("square", "square_hd", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9")
#: Common aspect ratios onto the live size presets (1:1 takes the HD square; `-p image_size=square` the other).
RATIO_PRESETS = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
}

# Live defaults are declared where the docs state them (rendering_speed, image_size) and left to the service.
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
            name="reference_image_urls",
            kind=ParamKind.URL_LIST,
            common="image_urls",
            description="The character's reference image (one URL; at most 10 MB)",
            required=True,
            # The service uses only the first URL (10 MB in total); a second one would be silently ignored,
            # so it is refused instead of letting the caller believe several references are combined.
            max_items=1,
        ),
        ParamSpec(
            name="rendering_speed",
            description="TURBO, BALANCED or QUALITY",
            default="BALANCED",
            choices=RENDERING_SPEEDS,
        ),
        ParamSpec(name="style", description="AUTO, REALISTIC or FICTION", choices=STYLES),
        ParamSpec(name="expand_prompt", kind=ParamKind.BOOLEAN, description="Let MagicPrompt expand the prompt"),
        ParamSpec(
            name="num_images",
            kind=ParamKind.INTEGER,
            common="num_images",
            description="Number of images, 1-4 (sent as a string)",
            minimum=1,
            maximum=4,
            as_string=True,  # the docs send "2"
        ),
        ParamSpec(
            name="image_size",
            common="aspect_ratio",
            description="Size preset; aspect ratios 1:1, 4:3, 3:4, 16:9, 9:16 map to square_hd, landscape_4_3, ...",
            default="square_hd",
            choices=IMAGE_SIZES,
            value_map=RATIO_PRESETS,
        ),
        ParamSpec(name="seed", kind=ParamKind.INTEGER, common="seed", description="Random seed"),
        ParamSpec(name="negative_prompt", common="negative_prompt", description="What to avoid"),
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
        ParamSpec(name="style", description="AUTO, REALISTIC or FICTION", default="AUTO", choices=STYLES),
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
        ParamSpec(
            name="reference_image_urls",
            kind=ParamKind.URL_LIST,
            common="image_urls",
            description="Reference images of the character (optional; the reference states no limit)",
        ),
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
