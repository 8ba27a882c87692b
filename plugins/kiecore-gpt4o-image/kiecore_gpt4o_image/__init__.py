"""GPT-4o Image for kiecore: OpenAI's GPT-Image-1, on Kie's dedicated 4o endpoints and as the market model.

``gpt4o-image`` speaks the dedicated route. Live, its flat camelCase body needs ``size`` and takes ``prompt``,
``filesUrl`` and a few options; it makes one image per task (the schema has had no image count since spring 2026,
nor ``maskUrl`` since August 2026), and replies carry ``successFlag`` and a ``"0.45"`` progress string. Its
reference profile uses the same paths with ``{prompt, size, variants 1-4}`` and generic
``status``/``imageUrl``/``progress 0-100`` replies.

``4o-image-api`` is the market form (``/api/v1/jobs/createTask``, live only): ``input`` holds ``prompt``,
``files_url``, ``size`` and the deprecated ``file_url``, and its replies are market-shaped.

Both forms need a prompt or images, and both always send ``size`` (1:1 when not set).
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec, stock

__all__ = ["GPT4O_IMAGE", "GPT4O_IMAGE_MARKET", "MAX_FILES", "MODELS", "SIZES", "plugin"]

FAMILY = "GPT-4o Image"
SUBMIT_PATH = "/api/v1/gpt4o-image/generate"
STATUS_PATH = "/api/v1/gpt4o-image/record-info"
SIZES = ("1:1", "3:2", "2:3")
MAX_FILES = 5
#: The docs' success example completes about 65 s after creation; the market form is guessed the same.
TYPICAL_SECONDS = 60.0


def _inputs(files: str, file: str) -> tuple[ParamSpec, ...]:
    """What both forms take, under one form's names for the image list (``files``) and the deprecated single
    image (``file``); each form requires a prompt or ``files``."""
    return (
        stock.prompt(required=False, description=f"What to draw (optional when {files} is given)"),
        stock.aspect_ratio(
            *SIZES,
            name="size",
            required=True,
            default="1:1",  # the live docs give no default; the reference's 1:1 keeps `size` always sent
            description="Aspect ratio of the output (required by the service; 1:1 when not set)",
        ),
        stock.image_urls(
            f"Images to edit or draw from (at most {MAX_FILES} URLs or local files; jpeg/png/webp)",
            MAX_FILES,
            name=files,
        ),
        ParamSpec(name=file, kind=ParamKind.URL, description=f"Deprecated single-image form of {files}"),
    )


LIVE = WireSpec(
    dialect=Dialect.GPT4O,
    submit_path=SUBMIT_PATH,
    status_path=STATUS_PATH,
    params=(
        *_inputs("filesUrl", "fileUrl"),
        # Not in the request schema any more, but still in the docs' examples, and clients send them: kept so that
        # requests written from those examples still work.
        stock.flag("isEnhance", "Enhance the prompt", default=False),
        stock.flag("enableFallback", "Fall back to another model when GPT-Image-1 is unavailable", default=False),
        stock.choice(
            "fallbackModel", ("GPT_IMAGE_1", "FLUX_MAX"), default="FLUX_MAX", description="Model used when falling back"
        ),
        stock.flag("uploadCn", "Upload results through servers in China"),
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
    family=FAMILY,
    live=LIVE,
    reference=REFERENCE,
    aliases=("gpt-4o-image", "4o-image", "gpt4o"),
    typical_seconds=TYPICAL_SECONDS,
    max_images=4,  # the reference's variants; live makes one image per task
    description="OpenAI's GPT-Image-1 (4o Image), dedicated route: text-to-image and image editing, one image per "
    "task live (up to 4 variants in the reference profile)",
)

MARKET_ID = "4o-image-api"

# The docs page's schema examples name the model `custom_4o_image`, but its request example and the playground send
# `4o-image-api`: the latter is what is declared.
GPT4O_IMAGE_MARKET = ModelSpec(
    id=MARKET_ID,
    title="GPT-4o Image (market)",
    family=FAMILY,
    live=stock.market_wire(MARKET_ID, *_inputs("files_url", "file_url"), requires_any=(("prompt", "files_url"),)),
    aliases=("4o-image-market", "gpt4o-image-market"),
    typical_seconds=TYPICAL_SECONDS,
    max_images=1,
    description="OpenAI's GPT-Image-1 (4o Image) through the market jobs API: text-to-image and image editing, "
    "one image per task",
)

MODELS = (GPT4O_IMAGE, GPT4O_IMAGE_MARKET)

plugin = DeclarativePlugin(*MODELS)
