"""kiecore.stock: the parameters and wires every family declares, with the common mapping set."""

from __future__ import annotations

from typing import Any

import pytest

from kiecore import BodyLayout, Dialect, GenerationRequest, ModelSpec, ParamKind, ParamSpec, Profile, stock
from kiecore.errors import InvalidParameterError
from kiecore.validation import resolve_params


def model(*params: ParamSpec) -> ModelSpec:
    return ModelSpec(id="test/stock", title="Stock", family="Test", live=stock.market_wire("test/stock", *params))


def test_prompt_is_required_and_says_its_cap() -> None:
    assert stock.prompt(5000) == ParamSpec(
        name="prompt",
        common="prompt",
        description="What to draw (at most 5000 characters)",
        required=True,
        max_length=5000,
    )
    assert stock.prompt().description == "What to draw" and stock.prompt().max_length is None


def test_prompt_takes_another_name_and_can_be_optional() -> None:
    spec = stock.prompt(name="input_prompt", required=False, description="Optional with images")
    assert (spec.name, spec.common, spec.required, spec.description) == (
        "input_prompt",
        "prompt",
        False,
        "Optional with images",
    )


def test_the_prompt_cap_is_enforced() -> None:
    spec = model(stock.prompt(10))
    assert resolve_params(spec, Profile.LIVE, GenerationRequest(prompt="p" * 10)) == {"prompt": "p" * 10}
    with pytest.raises(InvalidParameterError, match="at most 10"):
        resolve_params(spec, Profile.LIVE, GenerationRequest(prompt="p" * 11))


def test_negative_prompt() -> None:
    assert stock.negative_prompt(5000) == ParamSpec(
        name="negative_prompt",
        common="negative_prompt",
        description="What to avoid (at most 5000 characters)",
        max_length=5000,
    )
    assert stock.negative_prompt().description == "What to avoid"


def test_seed_is_an_integer() -> None:
    assert stock.seed() == ParamSpec(name="seed", kind=ParamKind.INTEGER, common="seed", description="Random seed")
    assert stock.seed(description="Seed for reproducible results").description == "Seed for reproducible results"


def test_image_count_up_to_a_maximum() -> None:
    assert stock.image_count(4) == ParamSpec(
        name="num_images",
        kind=ParamKind.INTEGER,
        common="num_images",
        description="Number of images, 1-4",
        default=1,
        minimum=1,
        maximum=4,
    )


def test_image_count_from_choices_sent_as_text_and_only_when_more_than_one() -> None:
    spec = stock.image_count(name="nVariants", choices=(1, 2, 4), as_string=True, omit_default=True)
    assert (spec.choices, spec.minimum, spec.maximum, spec.default) == ((1, 2, 4), None, None, 1)
    declared = model(stock.prompt(), spec)
    assert resolve_params(declared, Profile.LIVE, GenerationRequest(prompt="x", num_images=1)) == {"prompt": "x"}
    sent = resolve_params(declared, Profile.LIVE, GenerationRequest(prompt="x", num_images=2))
    assert sent == {"prompt": "x", "nVariants": "2"}


@pytest.mark.parametrize("arguments", [{}, {"maximum": 4, "choices": (1, 2)}])
def test_image_count_takes_a_maximum_or_choices(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="either a maximum or choices"):
        stock.image_count(**arguments)


@pytest.mark.parametrize(
    ("choices", "value_map", "description"),
    [
        (("png", "jpg"), {"jpeg": "jpg"}, "Output file format (jpeg is sent as jpg)"),
        (("jpeg", "png"), {"jpg": "jpeg"}, "Output file format (jpg is sent as jpeg)"),
        (("jpg", "jpeg", "png"), {}, "Output file format"),
        (("png", "webp"), {}, "Output file format"),
    ],
)
def test_output_format_maps_the_other_jpeg_spelling(
    choices: tuple[str, ...], value_map: dict[str, str], description: str
) -> None:
    spec = stock.output_format(*choices, default="png")
    assert (spec.name, spec.common, spec.choices, spec.default) == ("output_format", "output_format", choices, "png")
    assert dict(spec.value_map) == value_map
    assert spec.description == description


def test_output_format_sends_the_models_spelling() -> None:
    declared = model(stock.prompt(), stock.output_format("png", "jpg", default="png", name="format"))
    sent = resolve_params(declared, Profile.LIVE, GenerationRequest(prompt="x", output_format="jpeg"))
    assert sent == {"prompt": "x", "format": "jpg"}


def test_aspect_ratio() -> None:
    spec = stock.aspect_ratio("1:1", "16:9", default="1:1", name="size", required=True)
    assert spec == ParamSpec(
        name="size",
        common="aspect_ratio",
        description="Aspect ratio of the output",
        required=True,
        default="1:1",
        choices=("1:1", "16:9"),
    )
    assert stock.aspect_ratio().choices == ()  # any text


def test_size_presets_put_the_longer_side_first() -> None:
    assert stock.size_presets("1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "2:3") == {
        "1:1": "square_hd",
        "4:3": "landscape_4_3",
        "3:4": "portrait_4_3",
        "16:9": "landscape_16_9",
        "9:16": "portrait_16_9",
        "21:9": "landscape_21_9",
        "2:3": "portrait_3_2",
    }


def test_size_preset_offers_both_squares_then_portraits_then_landscapes() -> None:
    spec = stock.size_preset("1:1", "4:3", "3:4", "16:9", "9:16", send_default=True)
    assert spec.choices == ("square", "square_hd", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9")
    assert (spec.name, spec.common, spec.default, spec.send_default) == (
        "image_size",
        "aspect_ratio",
        "square_hd",
        True,
    )
    assert spec.description == (
        "Size preset; aspect ratios 1:1, 4:3, 3:4, 16:9, 9:16 map to square_hd, landscape_4_3, ..."
    )
    declared = model(stock.prompt(), spec)
    assert resolve_params(declared, Profile.LIVE, GenerationRequest(prompt="x", aspect_ratio="9:16"))["image_size"] == (
        "portrait_16_9"
    )
    assert resolve_params(declared, Profile.LIVE, GenerationRequest(prompt="x", aspect_ratio="square"))[
        "image_size"
    ] == ("square")


def test_resolution() -> None:
    assert stock.resolution("1K", "2K", default="1K") == ParamSpec(
        name="resolution", common="resolution", description="Output resolution", default="1K", choices=("1K", "2K")
    )


def test_image_urls() -> None:
    spec = stock.image_urls("Images to edit", 10, required=True)
    assert spec == ParamSpec(
        name="image_urls",
        kind=ParamKind.URL_LIST,
        common="image_urls",
        description="Images to edit",
        required=True,
        max_items=10,
    )
    assert stock.image_urls("References", name="image_input").name == "image_input"


def test_choice_lists_its_words() -> None:
    spec = stock.choice("style", ("AUTO", "REALISTIC", "FICTION"), default="AUTO", send_default=True)
    assert spec == ParamSpec(
        name="style",
        description="AUTO, REALISTIC or FICTION",
        default="AUTO",
        choices=("AUTO", "REALISTIC", "FICTION"),
        send_default=True,
    )
    assert stock.choice("one", ("ONLY",)).description == "ONLY"


def test_flag() -> None:
    assert stock.flag("isEnhance", "Enhance the prompt", default=False) == ParamSpec(
        name="isEnhance", kind=ParamKind.BOOLEAN, description="Enhance the prompt", default=False
    )


def test_market_wire() -> None:
    wire = stock.market_wire("google/x", stock.prompt())
    assert (wire.dialect, wire.layout, wire.model_field, wire.callback_field) == (
        Dialect.MARKET,
        BodyLayout.INPUT,
        "google/x",
        "callBackUrl",
    )
    assert (wire.submit_path, wire.status_path) == ("/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo")
    assert wire.params == (stock.prompt(),)
    other = stock.market_wire("x", submit_path="/api/v2/jobs/createTask", callback_field="callbackUrl")
    assert (other.submit_path, other.status_path, other.callback_field) == (
        "/api/v2/jobs/createTask",
        "/api/v1/jobs/recordInfo",
        "callbackUrl",
    )


def test_reference_wire() -> None:
    wire = stock.reference_wire("/api/v1/google/imagen-4", stock.prompt())
    assert (wire.dialect, wire.layout, wire.model_field, wire.callback_field) == (
        Dialect.REFERENCE,
        BodyLayout.FLAT,
        None,
        None,
    )
    assert (wire.submit_path, wire.status_path) == ("/api/v1/google/imagen-4", "/api/v1/google/imagen-4/record-info")
