"""Flux Kontext Pro and Max for kiecore: Black Forest Labs' text-to-image and single-image editing models.

Live, both speak the dedicated Flux dialect (``/api/v1/flux/kontext/*``, flat camelCase body, ``successFlag``
0-3, one result in ``response.resultImageUrl``). The reference uses the same paths with ``ratio`` and
``output_format`` instead of ``aspectRatio``/``outputFormat``, adds 5:4 and 4:5, defaults to png and answers
in its generic ``status``/``imageUrl`` shape.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec, stock

__all__ = ["FLUX_KONTEXT_MAX", "FLUX_KONTEXT_PRO", "MODELS", "plugin"]

SUBMIT_PATH = "/api/v1/flux/kontext/generate"
STATUS_PATH = "/api/v1/flux/kontext/record-info"

LIVE_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
REFERENCE_RATIOS = ("16:9", "9:16", "21:9", "3:4", "4:3", "5:4", "4:5")
FORMATS = ("jpeg", "png")

LIVE_PARAMS = (
    stock.prompt(description="What to draw or change (English)"),
    stock.aspect_ratio(
        *LIVE_RATIOS,
        name="aspectRatio",
        default="16:9",
        # Not sent unless asked for: in edit mode an omitted ratio keeps the input image's.
        description="Aspect ratio (service default 16:9; edits keep the input's ratio when unset)",
    ),
    stock.output_format(*FORMATS, name="outputFormat", default="jpeg"),
    # A single URL on the wire: the common image list maps to it when it holds exactly one image.
    ParamSpec(
        name="inputImage",
        kind=ParamKind.URL,
        common="image_urls",
        description="Image to edit (one URL or local file); setting it switches to edit mode",
    ),
    stock.flag("enableTranslation", "Translate a non-English prompt to English first", default=True),
    stock.flag("promptUpsampling", "Let the service elaborate the prompt", default=False),
    ParamSpec(
        name="safetyTolerance",
        kind=ParamKind.INTEGER,
        description="Moderation tolerance: 0-6 for generation, 0-2 for edits (the service checks the latter)",
        default=2,
        minimum=0,
        maximum=6,
    ),
    stock.flag("uploadCn", "Store the result on China servers"),
    ParamSpec(name="watermark", description="Watermark text to add to the result"),
)

#: The reference's body: ``{prompt, ratio, output_format, model}``, no callback.
REFERENCE_PARAMS = (
    stock.prompt(),
    stock.aspect_ratio(*REFERENCE_RATIOS, name="ratio", default="16:9"),
    stock.output_format(*FORMATS, default="png"),
)


def kontext_wire(dialect: str, model_id: str, params: tuple[ParamSpec, ...], callback_field: str | None) -> WireSpec:
    """Both profiles post to the same Flux Kontext paths; ``model`` tells Pro and Max apart."""
    return WireSpec(
        dialect=dialect,
        submit_path=SUBMIT_PATH,
        status_path=STATUS_PATH,
        model_field=model_id,
        callback_field=callback_field,
        params=params,
    )


def kontext(model_id: str, title: str, aliases: tuple[str, ...], typical_seconds: float, summary: str) -> ModelSpec:
    """One Flux Kontext model: the same bodies for Pro and Max."""
    return ModelSpec(
        id=model_id,
        title=title,
        family="Flux Kontext",
        live=kontext_wire(Dialect.FLUX, model_id, LIVE_PARAMS, "callBackUrl"),
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

MODELS = (FLUX_KONTEXT_PRO, FLUX_KONTEXT_MAX)

plugin = DeclarativePlugin(*MODELS)
