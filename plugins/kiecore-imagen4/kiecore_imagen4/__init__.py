"""Imagen 4 for kiecore: Google's Imagen 4 Ultra, Standard and Fast text-to-image models.

Live, all three are market models (``google/imagen4-ultra``, ``google/imagen4``, ``google/imagen4-fast``): the
seed is a string for Ultra and Standard but an integer for Fast, and only Fast takes ``num_images`` (as a string).
The reference gives each its own path (``/api/v1/google/imagen-4*``) with one flat body for all three: an
integer seed and ``num_images`` 1-4, and generic ``status``/``imageUrl`` replies.
"""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.declarative import DeclarativePlugin

__all__ = ["IMAGEN4", "IMAGEN4_FAST", "IMAGEN4_ULTRA", "MODELS", "plugin"]

LIVE_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "3:4", "4:3", "auto")  # `auto` since the 2026-08 docs
REFERENCE_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "3:4", "4:3")
PROMPT_LIMIT = 5000


def _live(model_id: str, *, fast: bool) -> WireSpec:
    """The live market declaration; Fast differs in its default ratio, its seed type and ``num_images``."""
    if fast:
        seed = ParamSpec(name="seed", kind=ParamKind.INTEGER, common="seed", description="Random seed (an integer)")
        num_images: tuple[ParamSpec, ...] = (
            ParamSpec(
                name="num_images",
                kind=ParamKind.INTEGER,
                common="num_images",
                description="Number of images, 1-4 (sent as a string, and only when more than one)",
                default=1,
                minimum=1,
                maximum=4,
                as_string=True,  # the docs send "2"
                omit_default=True,  # absent from the 2026-08 docs (section 11): send it only when it matters
            ),
        )
    else:
        seed = ParamSpec(
            name="seed",
            common="seed",  # an integer seed from --seed is sent as its decimal text
            description="Random seed: text of at most 500 characters (an integer is sent as text)",
            max_length=500,
        )
        num_images = ()
    return WireSpec(
        dialect=Dialect.MARKET,
        submit_path="/api/v1/jobs/createTask",
        status_path="/api/v1/jobs/recordInfo",
        layout=BodyLayout.INPUT,
        model_field=model_id,
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
                name="negative_prompt",
                common="negative_prompt",
                description=f"What to avoid (at most {PROMPT_LIMIT} characters)",
                max_length=PROMPT_LIMIT,
            ),
            ParamSpec(
                name="aspect_ratio",
                common="aspect_ratio",
                description="Aspect ratio of the output",
                default="16:9" if fast else "1:1",
                choices=LIVE_ASPECT_RATIOS,
            ),
            *num_images,
            seed,
        ),
    )


def _reference(path_name: str) -> WireSpec:
    """The reference declaration: ``POST /api/v1/google/<path_name>``, the same flat body for all three."""
    path = f"/api/v1/google/{path_name}"
    return WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=path,
        status_path=f"{path}/record-info",
        layout=BodyLayout.FLAT,
        model_field=None,
        callback_field=None,  # the reference documents no callback
        params=(
            ParamSpec(name="prompt", common="prompt", description="What to draw", required=True),
            ParamSpec(name="negative_prompt", common="negative_prompt", description="What to avoid"),
            ParamSpec(
                name="aspect_ratio",
                common="aspect_ratio",
                description="Aspect ratio of the output",
                default="1:1",
                choices=REFERENCE_ASPECT_RATIOS,
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
            ParamSpec(name="seed", kind=ParamKind.INTEGER, common="seed", description="Random seed (an integer)"),
        ),
    )


# max_images is per model, not per profile: 4 because Fast (live) and all three (reference) take 1-4. Live
# Ultra and Standard have no num_images field and give one image per task.
IMAGEN4_ULTRA = ModelSpec(
    id="google/imagen4-ultra",
    title="Imagen 4 Ultra",
    family="Imagen 4",
    live=_live("google/imagen4-ultra", fast=False),
    reference=_reference("imagen-4-ultra"),
    aliases=("imagen4-ultra", "imagen-4-ultra", "google/imagen-4-ultra"),
    typical_seconds=20.0,
    max_images=4,
    description="Google's Imagen 4 Ultra: maximum photorealism and detail (one image per task live)",
)

IMAGEN4 = ModelSpec(
    id="google/imagen4",
    title="Imagen 4",
    family="Imagen 4",
    live=_live("google/imagen4", fast=False),
    reference=_reference("imagen-4"),
    aliases=("imagen4", "imagen-4", "google/imagen-4"),
    typical_seconds=15.0,
    max_images=4,
    description="Google's Imagen 4 Standard: balanced quality and speed (one image per task live)",
)

IMAGEN4_FAST = ModelSpec(
    id="google/imagen4-fast",
    title="Imagen 4 Fast",
    family="Imagen 4",
    live=_live("google/imagen4-fast", fast=True),
    reference=_reference("imagen-4-fast"),
    aliases=("imagen4-fast", "imagen-4-fast", "google/imagen-4-fast"),
    typical_seconds=10.0,  # costTime 9000 ms in the docs' success example
    max_images=4,
    description="Google's Imagen 4 Fast: quick iterations, up to 4 images per task, 16:9 by default",
)

MODELS = (IMAGEN4_ULTRA, IMAGEN4, IMAGEN4_FAST)

plugin = DeclarativePlugin(*MODELS)
