"""Flux Kontext for kiecore: Black Forest Labs' text-to-image and single-image editing models.

``flux-kontext-pro`` and ``flux-kontext-max`` speak the dedicated Flux dialect live (``/api/v1/flux/kontext/*``,
flat camelCase body, ``successFlag`` 0-3, one result in ``response.resultImageUrl``). Their reference profile
uses the same paths with ``ratio`` and ``output_format`` instead of ``aspectRatio``/``outputFormat``, adds 5:4
and 4:5, defaults to png and answers in its generic ``status``/``imageUrl`` shape.

``flux1-kontext`` is the market form (``/api/v1/jobs/createTask``, live only): the same fields in snake_case
under ``input``, market-shaped replies, and no field that chooses Pro or Max, so Max is reached only through the
dedicated ``flux-kontext-max``.

Every live form declares the docs' one rule across parameters: in edit mode (an input image set) the safety
tolerance is 0-2, not 0-6, so the core refuses more before anything is sent.
"""

from __future__ import annotations

import re

import attrs

from kiecore import DeclarativePlugin, Dialect, Match, ModelSpec, ParamKind, ParamSpec, Rule, WireSpec, stock

__all__ = [
    "EDIT_TOLERANCE",
    "FLUX1_KONTEXT",
    "FLUX_KONTEXT_MAX",
    "FLUX_KONTEXT_PRO",
    "LIVE_RATIOS",
    "MODELS",
    "TOLERANCE",
    "edit_mode_rule",
    "live_params",
    "live_rules",
    "plugin",
    "wire_name",
]

FAMILY = "Flux Kontext"
SUBMIT_PATH = "/api/v1/flux/kontext/generate"
STATUS_PATH = "/api/v1/flux/kontext/record-info"

LIVE_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
REFERENCE_RATIOS = ("16:9", "9:16", "21:9", "3:4", "4:3", "5:4", "4:5")
FORMATS = ("jpeg", "png")
#: The safety tolerance of a generation, and of an edit (an input image set).
TOLERANCE = (0, 6)
EDIT_TOLERANCE = (0, 2)


def wire_name(name: str, *, market: bool) -> str:
    """A live field's name on one route: the dedicated route's camelCase ``name``, or the market form's snake_case
    (``inputImage`` -> ``input_image``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if market else name


def edit_mode_rule(image: str, tolerance: str) -> Rule:
    """The rule that an edit (``image`` set) takes a safety tolerance (``tolerance``) of 0-2 only."""
    low, high = EDIT_TOLERANCE
    return Rule(
        when={image: Match()},
        then={tolerance: Match(minimum=low, maximum=high)},
        reason=f"edit mode takes {low}-{high}, generation {TOLERANCE[0]}-{TOLERANCE[1]}",
    )


def live_params(*, market: bool = False) -> tuple[ParamSpec, ...]:
    """The live fields of one route (:func:`wire_name`). The dedicated route's docs give every default; the market
    page gives none for ``output_format`` and ``prompt_upsampling``, so none is declared there. No default is sent
    unless the service needs it."""

    def name(field: str) -> str:
        return wire_name(field, market=market)

    output_format = stock.output_format(*FORMATS, name=name("outputFormat"), default="jpeg")
    return (
        stock.prompt(description="What to draw or change (English)"),
        stock.aspect_ratio(
            *LIVE_RATIOS,
            name=name("aspectRatio"),
            default="16:9",
            # Not sent unless asked for: in edit mode an omitted ratio keeps the input image's.
            description="Aspect ratio (service default 16:9; edits keep the input's ratio when unset)",
        ),
        attrs.evolve(output_format, default=None) if market else output_format,
        # A single URL on the wire: the common image list maps to it when it holds exactly one image.
        ParamSpec(
            name=name("inputImage"),
            kind=ParamKind.URL,
            common="image_urls",
            description="Image to edit (one URL or local file); setting it switches to edit mode",
        ),
        stock.flag(name("enableTranslation"), "Translate a non-English prompt to English first", default=True),
        stock.flag(name("promptUpsampling"), "Let the service elaborate the prompt", default=None if market else False),
        ParamSpec(
            name=name("safetyTolerance"),
            kind=ParamKind.INTEGER,
            description="Moderation tolerance: 0-6 for generation, 0-2 for edits",
            default=2,
            minimum=TOLERANCE[0],
            maximum=TOLERANCE[1],
        ),
        stock.flag(name("uploadCn"), "Store the result on China servers"),
        ParamSpec(name=name("watermark"), description="Watermark text to add to the result"),
    )


def live_rules(*, market: bool = False) -> tuple[Rule, ...]:
    """The live rules across parameters of one route (:func:`wire_name`)."""
    return (edit_mode_rule(wire_name("inputImage", market=market), wire_name("safetyTolerance", market=market)),)


#: The reference's body: ``{prompt, ratio, output_format, model}``, no callback and no input image.
REFERENCE_PARAMS = (
    stock.prompt(),
    stock.aspect_ratio(*REFERENCE_RATIOS, name="ratio", default="16:9"),
    stock.output_format(*FORMATS, default="png"),
)


def kontext_wire(
    dialect: str,
    model_id: str,
    params: tuple[ParamSpec, ...],
    callback_field: str | None,
    rules: tuple[Rule, ...] = (),
) -> WireSpec:
    """Both profiles of the dedicated route post to the same Flux Kontext paths; ``model`` tells Pro and Max
    apart."""
    return WireSpec(
        dialect=dialect,
        submit_path=SUBMIT_PATH,
        status_path=STATUS_PATH,
        model_field=model_id,
        callback_field=callback_field,
        params=params,
        rules=rules,
    )


def kontext(model_id: str, title: str, aliases: tuple[str, ...], typical_seconds: float, summary: str) -> ModelSpec:
    """One model of the dedicated route: the same bodies for Pro and Max."""
    return ModelSpec(
        id=model_id,
        title=title,
        family=FAMILY,
        live=kontext_wire(Dialect.FLUX, model_id, live_params(), "callBackUrl", live_rules()),
        reference=kontext_wire(Dialect.REFERENCE, model_id, REFERENCE_PARAMS, None),
        aliases=aliases,
        typical_seconds=typical_seconds,
        max_images=1,
        description=f"{title}: {summary}, or edits one input image (--image URL or PATH)",
    )


# flux-kontext: the service's default model. 40 s: the docs' success example, created 10:25:00, completed 10:25:41.
FLUX_KONTEXT_PRO = kontext(
    "flux-kontext-pro", "Flux Kontext Pro", ("flux-kontext", "flux-pro", "kontext-pro"), 40.0, "fast text-to-image"
)
# No example of its own; a little slower than Pro.
FLUX_KONTEXT_MAX = kontext(
    "flux-kontext-max", "Flux Kontext Max", ("flux-max", "kontext-max"), 50.0, "highest-quality text-to-image"
)

MARKET_ID = "flux1-kontext"
FLUX1_KONTEXT = ModelSpec(
    id=MARKET_ID,
    title="Flux Kontext (market)",
    family=FAMILY,
    live=stock.market_wire(MARKET_ID, *live_params(market=True), rules=live_rules(market=True)),
    aliases=("flux1-kontext-market", "kontext-market"),
    typical_seconds=40.0,  # a guess: its page gives no timing; Pro's, the dedicated route's default model
    max_images=1,
    description="Flux Kontext through the market jobs API: text-to-image, or edits one input image (--image URL or "
    "PATH); no field chooses Pro or Max: Max is reached only through the dedicated flux-kontext-max",
)

MODELS = (FLUX_KONTEXT_PRO, FLUX_KONTEXT_MAX, FLUX1_KONTEXT)

plugin = DeclarativePlugin(*MODELS)
