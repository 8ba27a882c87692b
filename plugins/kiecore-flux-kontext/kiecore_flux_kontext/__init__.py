"""Flux Kontext Pro and Max for kiecore: Black Forest Labs' text-to-image and single-image editing models.

Live, both speak the dedicated Flux dialect (``/api/v1/flux/kontext/*``, flat camelCase body, ``successFlag``
0-3, one result in ``response.resultImageUrl``). The reference uses the same paths with ``ratio`` and
``output_format`` instead of ``aspectRatio``/``outputFormat``, adds 5:4 and 4:5, defaults to png and answers
in its generic ``status``/``imageUrl`` shape.
"""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.declarative import DeclarativePlugin

__all__ = ["FLUX_KONTEXT_MAX", "FLUX_KONTEXT_PRO", "MODELS", "plugin"]

SUBMIT_PATH = "/api/v1/flux/kontext/generate"
STATUS_PATH = "/api/v1/flux/kontext/record-info"

LIVE_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
REFERENCE_RATIOS = ("16:9", "9:16", "21:9", "3:4", "4:3", "5:4", "4:5")
FORMATS = ("jpeg", "png")
JPG_IS_JPEG = {"jpg": "jpeg"}


def live_wire(model_id: str) -> WireSpec:
    """The live Flux Kontext wire: the same body for Pro and Max, told apart by ``model``."""
    return WireSpec(
        dialect=Dialect.FLUX,
        submit_path=SUBMIT_PATH,
        status_path=STATUS_PATH,
        layout=BodyLayout.FLAT,
        model_field=model_id,
        callback_field="callBackUrl",
        params=(
            ParamSpec(name="prompt", common="prompt", description="What to draw or change (English)", required=True),
            ParamSpec(
                name="aspectRatio",
                common="aspect_ratio",
                # Not sent unless asked for: in edit mode an omitted ratio keeps the input image's.
                description="Aspect ratio (service default 16:9; edits keep the input's ratio when unset)",
                default="16:9",
                choices=LIVE_RATIOS,
            ),
            ParamSpec(
                name="outputFormat",
                common="output_format",
                description="Output file format (jpg is sent as jpeg)",
                default="jpeg",
                choices=FORMATS,
                value_map=JPG_IS_JPEG,
            ),
            # A single URL on the wire, so it cannot take the common image_urls list: pass -p inputImage=URL.
            ParamSpec(
                name="inputImage",
                kind=ParamKind.URL,
                description="Image to edit (a URL); setting it switches to edit mode",
            ),
            ParamSpec(
                name="enableTranslation",
                kind=ParamKind.BOOLEAN,
                description="Translate a non-English prompt to English first",
                default=True,
            ),
            ParamSpec(
                name="promptUpsampling",
                kind=ParamKind.BOOLEAN,
                description="Let the service elaborate the prompt",
                default=False,
            ),
            ParamSpec(
                name="safetyTolerance",
                kind=ParamKind.INTEGER,
                description="Moderation tolerance: 0-6 for generation, 0-2 for edits (the service checks the latter)",
                default=2,
                minimum=0,
                maximum=6,
            ),
            ParamSpec(name="uploadCn", kind=ParamKind.BOOLEAN, description="Store the result on China servers"),
            ParamSpec(name="watermark", description="Watermark text to add to the result"),
        ),
    )


def reference_wire(model_id: str) -> WireSpec:
    """The reference's Flux Kontext body: ``{prompt, ratio, output_format, model}``, no callback."""
    return WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=SUBMIT_PATH,
        status_path=STATUS_PATH,
        layout=BodyLayout.FLAT,
        model_field=model_id,
        callback_field=None,
        params=(
            ParamSpec(name="prompt", common="prompt", description="What to draw", required=True),
            ParamSpec(
                name="ratio",
                common="aspect_ratio",
                description="Aspect ratio of the output",
                default="16:9",
                choices=REFERENCE_RATIOS,
            ),
            ParamSpec(
                name="output_format",
                common="output_format",
                description="Output file format (jpg is sent as jpeg)",
                default="png",
                choices=FORMATS,
                value_map=JPG_IS_JPEG,
            ),
        ),
    )


FLUX_KONTEXT_PRO = ModelSpec(
    id="flux-kontext-pro",
    title="Flux Kontext Pro",
    family="Flux Kontext",
    live=live_wire("flux-kontext-pro"),
    reference=reference_wire("flux-kontext-pro"),
    aliases=("flux-kontext", "flux-pro", "kontext-pro"),  # flux-kontext: the service's default model
    typical_seconds=40.0,  # the docs' success example: created 10:25:00, completed 10:25:41
    max_images=1,
    description="Flux Kontext Pro: fast text-to-image, or edits one input image (-p inputImage=URL)",
)

FLUX_KONTEXT_MAX = ModelSpec(
    id="flux-kontext-max",
    title="Flux Kontext Max",
    family="Flux Kontext",
    live=live_wire("flux-kontext-max"),
    reference=reference_wire("flux-kontext-max"),
    aliases=("flux-max", "kontext-max"),
    typical_seconds=50.0,  # no example of its own; a little slower than Pro
    max_images=1,
    description="Flux Kontext Max: highest-quality text-to-image, or edits one input image (-p inputImage=URL)",
)

MODELS = (FLUX_KONTEXT_PRO, FLUX_KONTEXT_MAX)

plugin = DeclarativePlugin(*MODELS)
