"""Imagen 4 for kiecore: Google's Imagen 4 Ultra, Standard and Fast text-to-image models.

Live, all three are market models (``google/imagen4-ultra``, ``google/imagen4``, ``google/imagen4-fast``) that
make one image per task and take no image count (Fast's ``num_images`` left its schema in the autumn-2026 docs);
the seed is a string for Ultra and Standard but an integer for Fast. The reference gives each its own path
(``/api/v1/google/imagen-4*``) with one flat body for all three: an integer seed and ``num_images`` 1-4, and
generic ``status``/``imageUrl`` replies.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, ModelSpec, ParamSpec, WireSpec, stock

__all__ = ["IMAGEN4", "IMAGEN4_FAST", "IMAGEN4_ULTRA", "MODELS", "plugin"]

LIVE_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "3:4", "4:3", "auto")  # `auto` since the 2026-08 docs
REFERENCE_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "3:4", "4:3")
PROMPT_LIMIT = 5000

INTEGER_SEED = stock.seed(description="Random seed (an integer)")
TEXT_SEED = ParamSpec(
    name="seed",
    common="seed",  # an integer seed from --seed is sent as its decimal text
    description="Random seed: text of at most 500 characters (an integer is sent as text)",
    max_length=500,
)


def _live(model_id: str, *, fast: bool) -> WireSpec:
    """The live market declaration; Fast differs in its default ratio and its seed type. None takes an image
    count: the autumn-2026 docs dropped Fast's ``num_images`` (Kie prices Fast per request, one image)."""
    return stock.market_wire(
        model_id,
        stock.prompt(PROMPT_LIMIT),
        stock.negative_prompt(PROMPT_LIMIT),
        stock.aspect_ratio(*LIVE_ASPECT_RATIOS, default="16:9" if fast else "1:1"),
        INTEGER_SEED if fast else TEXT_SEED,
    )


def _reference(path_name: str) -> WireSpec:
    """The reference declaration: ``POST /api/v1/google/<path_name>``, the same flat body for all three."""
    return stock.reference_wire(
        f"/api/v1/google/{path_name}",
        stock.prompt(),
        stock.negative_prompt(),
        stock.aspect_ratio(*REFERENCE_ASPECT_RATIOS, default="1:1"),
        stock.image_count(4),
        INTEGER_SEED,
    )


def imagen4(variant: str, typical_seconds: float, summary: str) -> ModelSpec:
    """``google/imagen4<variant>`` (``variant`` is ``"-ultra"``, ``""`` or ``"-fast"``) and its aliases."""
    short = f"imagen-4{variant}"
    return ModelSpec(
        id=f"google/imagen4{variant}",
        title=f"Imagen 4{variant.replace('-', ' ').title()}",
        family="Imagen 4",
        live=_live(f"google/imagen4{variant}", fast=variant == "-fast"),
        reference=_reference(short),
        aliases=(f"imagen4{variant}", short, f"google/{short}"),
        typical_seconds=typical_seconds,
        # Per model, not per profile: 4 because the reference takes 1-4 for all three. Live, none has a
        # num_images field (Fast's left in the autumn-2026 docs), so a live task gives one image.
        max_images=4,
        description=f"Google's Imagen 4 {summary}",
    )


IMAGEN4_ULTRA = imagen4("-ultra", 20.0, "Ultra: maximum photorealism and detail (one image per task live)")
IMAGEN4 = imagen4("", 15.0, "Standard: balanced quality and speed (one image per task live)")
# 10 s: costTime 9000 ms in the docs' success example.
IMAGEN4_FAST = imagen4("-fast", 10.0, "Fast: quick iterations, 16:9 by default (one image per task live)")

MODELS = (IMAGEN4_ULTRA, IMAGEN4, IMAGEN4_FAST)

plugin = DeclarativePlugin(*MODELS)
