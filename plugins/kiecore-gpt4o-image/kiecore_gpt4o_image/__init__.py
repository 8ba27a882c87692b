"""GPT-4o Image for kiecore: OpenAI's GPT-Image-1 behind Kie's dedicated 4o endpoints.

Live, the flat camelCase body needs ``size`` and takes ``nVariants`` 1/2/4 plus edit fields (``filesUrl``,
``maskUrl``, ...); replies carry ``successFlag`` and a ``"0.45"`` progress string. The reference uses the same
paths with ``{prompt, size, variants 1-4}`` and generic ``status``/``imageUrl``/``progress 0-100`` replies.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec, stock

__all__ = ["GPT4O_IMAGE", "MODELS", "plugin"]

SUBMIT_PATH = "/api/v1/gpt4o-image/generate"
STATUS_PATH = "/api/v1/gpt4o-image/record-info"
SIZES = ("1:1", "3:2", "2:3")

LIVE = WireSpec(
    dialect=Dialect.GPT4O,
    submit_path=SUBMIT_PATH,
    status_path=STATUS_PATH,
    params=(
        stock.prompt(required=False, description="What to draw (optional when filesUrl is given)"),
        stock.aspect_ratio(
            *SIZES,
            name="size",
            required=True,
            default="1:1",  # the live docs give no default; the reference's 1:1 keeps `size` always sent
            description="Aspect ratio of the output (required by the service; 1:1 when not set)",
        ),
        stock.image_count(
            name="nVariants",
            choices=(1, 2, 4),
            description="Number of images: 1, 2 or 4 (sent only when more than one)",
            omit_default=True,  # contested in the live docs (section 11): send it only when > 1
        ),
        stock.image_urls("Images to edit or draw from (at most 5 URLs; jpeg/png/webp)", 5, name="filesUrl"),
        ParamSpec(
            name="maskUrl",
            kind=ParamKind.URL,
            description="Mask image: black areas are edited, white kept (ignored with several files)",
        ),
        stock.flag("isEnhance", "Enhance the prompt", default=False),
        stock.flag("enableFallback", "Fall back to another model when GPT-Image-1 is unavailable", default=False),
        stock.choice(
            "fallbackModel", ("GPT_IMAGE_1", "FLUX_MAX"), default="FLUX_MAX", description="Model used when falling back"
        ),
        stock.flag("uploadCn", "Upload results through servers in China"),
        ParamSpec(name="fileUrl", kind=ParamKind.URL, description="Deprecated single-image form of filesUrl"),
    ),
    requires_any=(("prompt", "filesUrl"),),
)

REFERENCE = WireSpec(
    dialect=Dialect.REFERENCE,
    submit_path=SUBMIT_PATH,
    status_path=STATUS_PATH,
    callback_field=None,  # the reference documents no callback for 4o
    params=(
        stock.prompt(),
        stock.aspect_ratio(*SIZES, name="size", default="1:1"),
        stock.image_count(4, name="variants", description="Number of images (1-4)"),
    ),
)

GPT4O_IMAGE = ModelSpec(
    id="gpt4o-image",
    title="GPT-4o Image",
    family="GPT-4o Image",
    live=LIVE,
    reference=REFERENCE,
    aliases=("gpt-4o-image", "4o-image", "gpt4o"),
    typical_seconds=60.0,  # the docs' success example completes about 65 s after creation
    max_images=4,
    description="OpenAI's GPT-Image-1 (4o Image): text-to-image and image editing with masks, up to 4 variants",
)

MODELS = (GPT4O_IMAGE,)

plugin = DeclarativePlugin(*MODELS)
