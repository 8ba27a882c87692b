"""Stock declarations: the parameters and wires every model family declares again, with the common mapping set.

Each builder returns an ordinary :class:`~kiecore.declarations.ParamSpec` (or :class:`WireSpec`), so a model
mixes them freely with parameters of its own::

    params = (
        stock.prompt(5000),
        stock.aspect_ratio(*RATIOS, default="1:1"),
        stock.output_format("png", "jpeg", default="png"),  # jpg is accepted and sent as jpeg
        stock.seed(),
        ParamSpec(name="nsfw_checker", kind=ParamKind.BOOLEAN),
    )

Descriptions default to the wording ``kie models`` shows for most models; pass ``description=`` where a model's
docs say more.
"""

from __future__ import annotations

from kiecore.declarations import BodyLayout, Dialect, ParamKind, ParamSpec, Rule, WireSpec

__all__ = [
    "aspect_ratio",
    "choice",
    "flag",
    "image_count",
    "image_urls",
    "market_wire",
    "negative_prompt",
    "output_format",
    "prompt",
    "reference_wire",
    "resolution",
    "seed",
    "size_preset",
    "size_presets",
]

#: The market jobs API every market model is spoken to on (live).
MARKET_SUBMIT_PATH = "/api/v1/jobs/createTask"
MARKET_STATUS_PATH = "/api/v1/jobs/recordInfo"


def _capped(what: str, max_length: int | None, min_length: int | None = None) -> str:
    if min_length is not None:
        return (
            f"{what} ({min_length}-{max_length} characters)"
            if max_length
            else f"{what} (at least {min_length} characters)"
        )
    return what if max_length is None else f"{what} (at most {max_length} characters)"


def prompt(
    max_length: int | None = None,
    *,
    name: str = "prompt",
    required: bool = True,
    description: str | None = None,
    min_length: int | None = None,
) -> ParamSpec:
    """The prompt, required unless the model draws from images alone, ``min_length`` to ``max_length``
    characters."""
    text = description or _capped("What to draw", max_length, min_length)
    return ParamSpec(
        name=name,
        common="prompt",
        description=text,
        required=required,
        min_length=min_length,
        max_length=max_length,
    )


def negative_prompt(
    max_length: int | None = None, *, name: str = "negative_prompt", description: str | None = None
) -> ParamSpec:
    """What the image should not show, at most ``max_length`` characters."""
    text = description or _capped("What to avoid", max_length)
    return ParamSpec(name=name, common="negative_prompt", description=text, max_length=max_length)


def seed(*, name: str = "seed", description: str = "Random seed") -> ParamSpec:
    """An integer seed (a model that takes the seed as text declares its own)."""
    return ParamSpec(name=name, kind=ParamKind.INTEGER, common="seed", description=description)


def image_count(
    maximum: int | None = None,
    *,
    name: str = "num_images",
    choices: tuple[int, ...] = (),
    default: int | None = 1,
    description: str | None = None,
    as_string: bool = False,
    omit_default: bool = False,
) -> ParamSpec:
    """How many images one task makes: ``1..maximum``, or one of ``choices`` (e.g. ``(1, 2, 4)``)."""
    if (maximum is None) == (not choices):
        raise ValueError(f"{name}: give either a maximum or choices")
    return ParamSpec(
        name=name,
        kind=ParamKind.INTEGER,
        common="num_images",
        description=description or f"Number of images, 1-{maximum}",
        default=default,
        choices=choices,
        minimum=None if choices else 1,
        maximum=None if choices else maximum,
        as_string=as_string,
        omit_default=omit_default,
    )


#: The two spellings of JPEG: a model that takes one is sent it for the other.
_JPEG_SPELLINGS = ("jpeg", "jpg")


def output_format(*choices: str, default: str, name: str = "output_format") -> ParamSpec:
    """The output file format; when the model takes only one spelling of JPEG, the other is sent as it."""
    taken = [spelling for spelling in _JPEG_SPELLINGS if spelling in choices]
    value_map = {}
    description = "Output file format"
    if len(taken) == 1:
        (other,) = set(_JPEG_SPELLINGS) - set(taken)
        value_map = {other: taken[0]}
        description = f"Output file format ({other} is sent as {taken[0]})"
    return ParamSpec(
        name=name,
        common="output_format",
        description=description,
        default=default,
        choices=choices,
        value_map=value_map,
    )


def aspect_ratio(
    *choices: str,
    default: str | None = None,
    name: str = "aspect_ratio",
    required: bool = False,
    description: str = "Aspect ratio of the output",
) -> ParamSpec:
    """The aspect ratio, one of ``choices`` (any text when there are none)."""
    return ParamSpec(
        name=name, common="aspect_ratio", description=description, required=required, default=default, choices=choices
    )


def size_presets(*ratios: str) -> dict[str, str]:
    """Aspect ratios onto the named size presets of Kie's market models: ``1:1`` onto ``square_hd``, ``4:3``
    onto ``landscape_4_3``, ``3:4`` onto ``portrait_4_3`` (the longer side first)."""
    presets = {}
    for ratio in ratios:
        width, height = (int(side) for side in ratio.split(":"))
        if width == height:
            presets[ratio] = "square_hd"
        else:
            orientation = "landscape" if width > height else "portrait"
            presets[ratio] = f"{orientation}_{max(width, height)}_{min(width, height)}"
    return presets


def size_preset(
    *ratios: str,
    name: str = "image_size",
    default: str = "square_hd",
    send_default: bool = False,
    description: str | None = None,
) -> ParamSpec:
    """A named size preset (``square``, ``square_hd``, ``portrait_4_3``, ...) that the common aspect ratios in
    ``ratios`` map onto; the presets themselves are accepted too."""
    presets = size_presets(*ratios)
    named = list(presets.values())
    portrait = [preset for preset in named if preset.startswith("portrait")]
    landscape = [preset for preset in named if preset.startswith("landscape")]
    return ParamSpec(
        name=name,
        common="aspect_ratio",
        description=description or f"Size preset; aspect ratios {', '.join(ratios)} map to {', '.join(named[:2])}, ...",
        default=default,
        choices=("square", "square_hd", *portrait, *landscape),
        value_map=presets,
        send_default=send_default,
    )


def resolution(
    *choices: str, default: str, name: str = "resolution", description: str = "Output resolution"
) -> ParamSpec:
    """The output resolution, one of ``choices``."""
    return ParamSpec(name=name, common="resolution", description=description, default=default, choices=choices)


def image_urls(
    description: str,
    max_items: int | None = None,
    *,
    name: str = "image_urls",
    required: bool = False,
    max_file_bytes: int | None = None,
) -> ParamSpec:
    """Input or reference images: a list of http(s) URLs (or local files, uploaded first, of at most
    ``max_file_bytes`` each), at most ``max_items``."""
    return ParamSpec(
        name=name,
        kind=ParamKind.URL_LIST,
        common="image_urls",
        description=description,
        required=required,
        max_items=max_items,
        max_file_bytes=max_file_bytes,
    )


def choice(
    name: str,
    choices: tuple[str, ...],
    *,
    default: str | None = None,
    send_default: bool = False,
    description: str | None = None,
) -> ParamSpec:
    """A model option with a closed list of words (``-p name=WORD``; matched regardless of case)."""
    words = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    return ParamSpec(
        name=name, description=description or words, default=default, choices=choices, send_default=send_default
    )


def flag(name: str, description: str, *, default: bool | None = None, send_default: bool = False) -> ParamSpec:
    """A true/false model option (``-p name=true``)."""
    return ParamSpec(
        name=name, kind=ParamKind.BOOLEAN, description=description, default=default, send_default=send_default
    )


def market_wire(
    model_id: str,
    *params: ParamSpec,
    submit_path: str = MARKET_SUBMIT_PATH,
    callback_field: str | None = "callBackUrl",
    requires_any: tuple[tuple[str, ...], ...] = (),
    rules: tuple[Rule, ...] = (),
) -> WireSpec:
    """A market model on the jobs API: ``POST /api/v1/jobs/createTask`` (or ``submit_path``) with ``{model,
    callBackUrl, input: {params}}``, its status at ``/api/v1/jobs/recordInfo``; ``requires_any`` and ``rules``
    as :class:`~kiecore.declarations.WireSpec` takes them."""
    return WireSpec(
        dialect=Dialect.MARKET,
        submit_path=submit_path,
        status_path=MARKET_STATUS_PATH,
        layout=BodyLayout.INPUT,
        model_field=model_id,
        callback_field=callback_field,
        params=params,
        requires_any=requires_any,
        rules=rules,
    )


def reference_wire(submit_path: str, *params: ParamSpec) -> WireSpec:
    """A model as the reference spec describes most of them: a flat body posted to ``submit_path``, its status
    at ``<submit_path>/record-info``, generic ``status``/``imageUrl`` replies and no callback."""
    return WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=submit_path,
        status_path=f"{submit_path}/record-info",
        layout=BodyLayout.FLAT,
        model_field=None,
        callback_field=None,
        params=params,
    )
