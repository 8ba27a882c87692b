"""GPT Image for kiecore: GPT Image 2 and GPT Image 2.5 (Flare, Sunburst), each text-to-image and image-to-image.

All six are market models, live only (the reference spec does not describe them): ``input`` holds ``prompt``
(required, at most 20000 characters), ``aspect_ratio`` (default auto), ``resolution`` (1K, 2K or 4K; sent only
when asked for), ``background`` and, for image-to-image, ``input_urls`` (required, at most 16). Some ratio,
resolution and background combinations make a task Kie takes, charges for and fails: they are declared as rules,
so the core refuses them before anything is sent.
"""

from __future__ import annotations

from kiecore import DeclarativePlugin, Match, ModelSpec, ParamSpec, Price, Rule, stock

__all__ = [
    "BACKGROUNDS",
    "GPT_IMAGE_2",
    "GPT_IMAGE_2_5_FLARE",
    "GPT_IMAGE_2_5_RATIOS",
    "GPT_IMAGE_2_5_RULES",
    "GPT_IMAGE_2_5_SUNBURST",
    "GPT_IMAGE_2_RATIOS",
    "GPT_IMAGE_2_RULES",
    "MODELS",
    "ONE_K_ONLY_RATIOS",
    "RESOLUTIONS",
    "plugin",
]

FAMILY = "GPT Image"
PROMPT_LIMIT = 20000
MAX_INPUT_IMAGES = 16
RESOLUTIONS = ("1K", "2K", "4K")
BACKGROUNDS = ("transparent", "opaque", "auto")

GPT_IMAGE_2_RATIOS = (
    "auto", "1:1", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16", "2:1", "1:2", "3:1", "1:3", "21:9", "9:21"
)  # fmt: skip
#: GPT Image 2.5's ratios that only 1K takes.
ONE_K_ONLY_RATIOS = ("27:16", "16:27", "9:8", "8:9")
GPT_IMAGE_2_5_RATIOS = ("auto", "1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "21:9", *ONE_K_ONLY_RATIOS)

#: GPT Image 2: what the docs say makes a task fail. Rules see the default ratio (auto) when none is sent.
GPT_IMAGE_2_RULES = (
    Rule(when={"aspect_ratio": "1:1"}, then={"resolution": ("1K", "2K")}, reason="1:1 cannot be 4K"),
    Rule(
        when={"aspect_ratio": "auto"},
        then={"resolution": "1K"},
        reason="with ratio auto or omitted only 1K is allowed",
    ),
    # Read from the one line "`background` transparent, opaque, auto (1K only)": a background, whichever, is
    # accepted only at 1K. No other source says so; drop this rule if the service shows otherwise.
    Rule(when={"background": Match()}, then={"resolution": "1K"}, reason="background is 1K only"),
)
#: GPT Image 2.5: four ratios are 1K only. The docs do not restrict its auto ratio, so no rule does either.
GPT_IMAGE_2_5_RULES = (
    Rule(
        when={"aspect_ratio": ONE_K_ONLY_RATIOS},
        then={"resolution": "1K"},
        reason="27:16, 16:27, 9:8 and 8:9 are 1K only",
    ),
)

PRICE_SOURCE = "docs.kie.ai, the GPT Image 2 and GPT Image 2.5 pages (autumn 2026)"


def _resolution(default: str | None) -> ParamSpec:
    """``resolution``, never sent unless given; ``default`` is what the service then uses, where the docs imply
    one."""
    return ParamSpec(
        name="resolution", common="resolution", description="Output resolution", choices=RESOLUTIONS, default=default
    )


def _params(ratios: tuple[str, ...], *, edit: bool, resolution: ParamSpec) -> tuple[ParamSpec, ...]:
    """The ``input`` parameters of one model: the image-to-image ones add the required ``input_urls``."""
    images = stock.image_urls(
        f"Images to edit or draw from (at most {MAX_INPUT_IMAGES} URLs or local files)",
        MAX_INPUT_IMAGES,
        name="input_urls",
        required=True,
    )
    return (
        stock.prompt(PROMPT_LIMIT),
        *((images,) if edit else ()),
        stock.aspect_ratio(*ratios, default="auto"),
        resolution,
        stock.choice("background", BACKGROUNDS, description="Background: transparent, opaque or auto"),
    )


def _pair(
    stem: str,
    title: str,
    names: tuple[str, ...],
    ratios: tuple[str, ...],
    rules: tuple[Rule, ...],
    resolution: ParamSpec,
) -> tuple[ModelSpec, ModelSpec]:
    """The models ``<stem>-text-to-image`` and ``<stem>-image-to-image``, aliased by ``names`` (the first also with
    ``-t2i``/``-i2i``; each with ``-edit`` for image-to-image)."""

    def model(kind: str, label: str, edit: bool, aliases: tuple[str, ...]) -> ModelSpec:
        model_id = f"{stem}-{kind}"
        what = f"a prompt and up to {MAX_INPUT_IMAGES} images" if edit else "text to image"
        return ModelSpec(
            id=model_id,
            title=f"{title} {label}",
            family=FAMILY,
            live=stock.market_wire(model_id, *_params(ratios, edit=edit, resolution=resolution), rules=rules),
            aliases=aliases,
            typical_seconds=60.0,  # a guess: the docs give no timing; the engine's learned timings replace it
            max_images=1,
            description=f"{title}: {what}, 1K/2K/4K",
            price=Price(by="resolution", by_value={"1K": 6, "2K": 10, "4K": 16}, source=PRICE_SOURCE),
        )

    text = model("text-to-image", "Text to Image", False, (*names, f"{names[0]}-t2i"))
    image = model("image-to-image", "Image to Image", True, (*(f"{name}-edit" for name in names), f"{names[0]}-i2i"))
    return text, image


#: Each pair: (text-to-image, image-to-image).
# GPT Image 2 without a resolution is 1K: its default ratio (auto) takes 1K only, and a request that leaves both
# out works. GPT Image 2.5's docs imply no default.
GPT_IMAGE_2 = _pair(
    "gpt-image-2", "GPT Image 2", ("gpt-image-2",), GPT_IMAGE_2_RATIOS, GPT_IMAGE_2_RULES, _resolution("1K")
)
GPT_IMAGE_2_5_FLARE = _pair(
    "gpt-image-2-5-flare",
    "GPT Image 2.5 Flare",
    ("gpt-image-2.5-flare", "gpt-image-2-5-flare"),
    GPT_IMAGE_2_5_RATIOS,
    GPT_IMAGE_2_5_RULES,
    _resolution(None),
)
GPT_IMAGE_2_5_SUNBURST = _pair(
    "gpt-image-2-5-sunburst",
    "GPT Image 2.5 Sunburst",
    ("gpt-image-2.5-sunburst", "gpt-image-2-5-sunburst"),
    GPT_IMAGE_2_5_RATIOS,
    GPT_IMAGE_2_5_RULES,
    _resolution(None),
)

MODELS = (*GPT_IMAGE_2, *GPT_IMAGE_2_5_FLARE, *GPT_IMAGE_2_5_SUNBURST)

plugin = DeclarativePlugin(*MODELS)
