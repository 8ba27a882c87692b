"""kiecore.validation's contract: each kind's conversion and limits, and every refusal's exact message and fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from kiecore import GenerationRequest, ModelSpec, ParamKind, ParamSpec, Profile, Rule, stock
from kiecore.errors import InvalidParameterError
from kiecore.validation import coerce, describe_range, resolve_params
from tests.sample_plugin import FLUX, FOUR_O, MARKET

PNG = b"\x89PNG\r\n\x1a\n" + bytes(92)  # 100 bytes that start as a PNG image does

FLAG = ParamSpec(name="enhance", kind=ParamKind.BOOLEAN)
STEPS = ParamSpec(name="steps", kind=ParamKind.INTEGER, minimum=1, maximum=50)
GUIDANCE = ParamSpec(name="guidance", kind=ParamKind.NUMBER, minimum=0.5, maximum=7.5)
TEXT = ParamSpec(name="style", min_length=2, max_length=5)
RATIO = ParamSpec(name="ratio", common="aspect_ratio", choices=("square", "wide"), value_map={"1:1": "square"})
IMAGE = ParamSpec(name="image", kind=ParamKind.URL, common="image_urls", max_file_bytes=64)
REFS = ParamSpec(name="refs", kind=ParamKind.URL_LIST, max_items=2)
MODEL = ModelSpec(
    id="t/v",
    title="t",
    family="t",
    live=stock.market_wire(
        "t/v",
        ParamSpec(name="text", common="prompt", required=True),
        RATIO,
        ParamSpec(name="res", common="resolution", choices=("1K", "2K", "4K"), default="1K"),
        IMAGE,
        rules=(Rule(when={"ratio": ("square", "wide")}, then={"res": ("1K", "2K")}, reason="no 4K but tall"),),
    ),
)

Refusal = tuple[str, str | None, Any, str | None, str | None]


def refusal(call: Callable[[], object]) -> Refusal:
    """What ``call`` is refused with: (message, parameter, value, common, named)."""
    with pytest.raises(InvalidParameterError) as caught:
        call()
    error = caught.value
    return str(error), error.parameter, error.value, error.common, error.named


def coerced(spec: ParamSpec, value: Any, common: str | None = None) -> Any:
    return coerce(MODEL, spec, value, common=common)


def resolved(model: ModelSpec, profile: Profile = Profile.LIVE, **fields: Any) -> dict[str, Any]:
    return resolve_params(model, profile, GenerationRequest(**fields))


# --- flags, whole numbers, numbers, text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        (" Yes ", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("off", False),
        (" OFF ", False),
    ],
)
def test_a_flag_takes_a_bool_or_any_spelling_of_true_and_false(value: Any, expected: bool) -> None:
    assert coerced(FLAG, value) is expected


@pytest.mark.parametrize(("value", "shown"), [("maybe", "'maybe'"), (1, "1"), (None, "None")])
def test_a_flag_refuses_anything_else(value: Any, shown: str) -> None:
    assert refusal(lambda: coerced(FLAG, value)) == (
        f"enhance must be true or false, got {shown}",
        "enhance",
        value,
        None,
        "enhance",
    )


@pytest.mark.parametrize(("value", "expected"), [(7, 7), (7.0, 7), (" 12 ", 12), ("-3", -3), (1, 1), (50, 50)])
def test_a_whole_number_takes_ints_whole_floats_and_digits(value: Any, expected: int) -> None:
    result = coerced(ParamSpec(name="steps", kind=ParamKind.INTEGER), value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(("value", "shown"), [(True, "True"), (2.5, "2.5"), ("1.5", "'1.5'"), ("x", "'x'")])
def test_a_whole_number_refuses_flags_fractions_and_words(value: Any, shown: str) -> None:
    assert refusal(lambda: coerced(STEPS, value)) == (
        f"steps must be a whole number, got {shown}",
        "steps",
        value,
        None,
        "steps",
    )


@pytest.mark.parametrize(("value", "expected"), [(2, 2.0), (" 2.5 ", 2.5), ("3", 3.0), (0.5, 0.5), (7.5, 7.5)])
def test_a_number_takes_ints_floats_and_numerals_as_a_float(value: Any, expected: float) -> None:
    result = coerced(GUIDANCE, value)
    assert result == expected and type(result) is float


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "True"),
        ("abc", "'abc'"),
        ("nan", "'nan'"),
        ("inf", "'inf'"),
        ("-inf", "'-inf'"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (None, "None"),
        ([1], "[1]"),
    ],
)
def test_a_number_refuses_flags_words_and_anything_not_finite(value: Any, shown: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        coerced(GUIDANCE, value)
    error = caught.value
    assert (str(error), error.parameter, error.common, error.named) == (
        f"guidance must be a number, got {shown}",
        "guidance",
        None,
        "guidance",
    )
    assert error.value is value  # the very value given (a NaN equals nothing, itself included)


@pytest.mark.parametrize(("value", "expected"), [("abc", "abc"), (42, "42"), ("ab", "ab"), ("abcde", "abcde")])
def test_text_takes_strings_and_integers_as_their_digits(value: Any, expected: str) -> None:
    assert coerced(TEXT, value) == expected


@pytest.mark.parametrize(("value", "shown"), [(True, "True"), (2.5, "2.5"), (None, "None")])
def test_text_refuses_flags_floats_and_none(value: Any, shown: str) -> None:
    assert refusal(lambda: coerced(TEXT, value)) == (f"style must be text, got {shown}", "style", value, None, "style")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a", "style is 1 character long; t/v needs at least 2"),
        ("abcdef", "style is 6 characters long; t/v accepts at most 5"),
    ],
)
def test_text_outside_its_length_limits_is_refused(value: str, message: str) -> None:
    assert refusal(lambda: coerced(TEXT, value)) == (message, "style", value, None, "style")


def test_length_limits_bind_text_only() -> None:
    assert coerced(ParamSpec(name="n", kind=ParamKind.INTEGER, min_length=3, max_length=3), 5) == 5


# --- ranges ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        (STEPS, 0, "steps=0 is out of range for t/v; allowed 1..50"),
        (STEPS, "51", "steps=51 is out of range for t/v; allowed 1..50"),
        (GUIDANCE, 0.4, "guidance=0.4 is out of range for t/v; allowed 0.5..7.5"),
        (GUIDANCE, "7.6", "guidance=7.6 is out of range for t/v; allowed 0.5..7.5"),
        (ParamSpec(name="n", kind=ParamKind.INTEGER, maximum=5), 6, "n=6 is out of range for t/v; allowed ..5"),
        (ParamSpec(name="n", kind=ParamKind.INTEGER, minimum=1), 0, "n=0 is out of range for t/v; allowed 1.."),
    ],
)
def test_a_number_out_of_range_is_refused_with_its_converted_value(spec: ParamSpec, value: Any, message: str) -> None:
    converted = coerced(attrs.evolve(spec, minimum=None, maximum=None), value)
    assert refusal(lambda: coerced(spec, value)) == (message, spec.name, converted, None, spec.name)


def test_a_range_open_at_one_end_takes_anything_beyond_the_other() -> None:
    assert coerced(ParamSpec(name="n", kind=ParamKind.INTEGER, maximum=5), -(10**9)) == -(10**9)
    assert coerced(ParamSpec(name="n", kind=ParamKind.INTEGER, minimum=1), 10**9) == 10**9


def test_range_limits_bind_numbers_only_never_a_flag_or_text() -> None:
    assert coerced(attrs.evolve(FLAG, minimum=2), True) is True
    assert coerced(ParamSpec(name="s", minimum=1, maximum=2), "abc") == "abc"


@pytest.mark.parametrize(
    ("minimum", "maximum", "text"),
    [
        (1, 50, "1..50"),
        (0.0, 2048.0, "0..2048"),
        (0.5, 7.5, "0.5..7.5"),
        (None, 5, "..5"),
        (1, None, "1.."),
        (None, None, ".."),
    ],
)
def test_describe_range_writes_whole_bounds_as_integers_and_leaves_open_ends_empty(
    minimum: float | None, maximum: float | None, text: str
) -> None:
    assert describe_range(ParamSpec(name="n", kind=ParamKind.NUMBER, minimum=minimum, maximum=maximum)) == text


# --- choices ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("square", "square"), ("WIDE", "wide"), ("1:1", "square")])
def test_a_choice_is_matched_regardless_of_case_or_mapped_and_sent_as_declared(value: str, expected: str) -> None:
    assert coerced(RATIO, value) == expected


def test_a_value_outside_the_choices_is_refused_listing_choices_and_mapped_values() -> None:
    assert refusal(lambda: coerced(RATIO, "tall", common="aspect_ratio")) == (
        "aspect_ratio (ratio)='tall' is not accepted by t/v; allowed: square, wide, 1:1",
        "ratio",
        "tall",
        "aspect_ratio",
        "aspect_ratio (ratio)",
    )


def test_whole_number_choices_are_matched_by_value() -> None:
    counts = ParamSpec(name="n", kind=ParamKind.INTEGER, choices=(1, 2, 4))
    assert coerced(counts, "4") == 4
    assert refusal(lambda: coerced(counts, 3)) == ("n=3 is not accepted by t/v; allowed: 1, 2, 4", "n", 3, None, "n")


def test_a_numbers_whole_number_choices_take_its_own_values_and_send_them_as_declared() -> None:
    strength = ParamSpec(name="s", kind=ParamKind.NUMBER, choices=(1, 2.5))
    assert type(coerced(strength, 1)) is int and coerced(strength, "1") == 1  # a number enum of JSON integers
    assert coerced(strength, 2.5) == 2.5
    assert refusal(lambda: coerced(strength, True))[0] == "s must be a number, got True"
    assert refusal(lambda: coerced(strength, 3))[0] == "s=3.0 is not accepted by t/v; allowed: 1, 2.5"


# --- image URLs and local image files -------------------------------------------------------------------------


def test_a_single_image_takes_a_url_or_the_one_item_of_a_list() -> None:
    url = "https://e.example/a.png"
    assert coerced(IMAGE, url) == url
    assert coerced(IMAGE, [url], common="image_urls") == url
    assert coerced(IMAGE, (url,), common="image_urls") == url


@pytest.mark.parametrize("images", [[], ["https://e.example/a.png", "https://e.example/b.png"]])
def test_a_single_image_refuses_a_list_of_any_other_length(images: list[str]) -> None:
    assert refusal(lambda: coerced(IMAGE, images, common="image_urls")) == (
        f"image_urls (image): t/v takes one input image, got {len(images)}; give exactly one",
        "image",
        images,
        "image_urls",
        "image_urls (image)",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "ftp://e.example/a.png",
            "image must be an http(s) URL or the path of a local image file, got 'ftp://e.example/a.png'",
        ),
        ("https://", "image must be an http(s) URL or the path of a local image file, got 'https://'"),
        (5, "image must be a URL or the path of an image file, got 5"),
    ],
)
def test_an_image_that_is_neither_an_http_url_nor_a_path_is_refused(value: Any, message: str) -> None:
    assert refusal(lambda: coerced(IMAGE, value)) == (message, "image", value, None, "image")


def test_a_local_image_comes_out_as_its_file_url(tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    small.write_bytes(PNG[:64])
    assert coerced(IMAGE, str(small)) == small.as_uri()


def test_a_local_image_over_the_parameters_limit_is_refused_under_the_name_it_was_given(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(PNG)
    reason = "100 bytes, over the 64 bytes limit; give a smaller image"
    assert refusal(lambda: coerced(IMAGE, str(big), common="image_urls")) == (
        f"image_urls (image): {big}: {reason}",
        "image",
        str(big),
        "image_urls",
        "image_urls (image)",
    )
    assert refusal(lambda: coerced(IMAGE, str(big))) == (f"image: {big}: {reason}", "image", str(big), None, "image")


def test_a_local_image_is_held_to_the_default_limit_where_its_parameter_sets_none(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    assert coerced(attrs.evolve(IMAGE, max_file_bytes=None), str(image)) == image.as_uri()
    assert coerced(REFS, [str(image)]) == [image.as_uri()]


def test_a_url_list_takes_a_comma_separated_string_or_a_sequence() -> None:
    assert coerced(REFS, " https://a.example/1 , ,https://a.example/2 ") == [
        "https://a.example/1",
        "https://a.example/2",
    ]
    assert coerced(REFS, ("https://a.example/1",)) == ["https://a.example/1"]


def test_a_url_list_refuses_what_is_not_a_list() -> None:
    assert refusal(lambda: coerced(REFS, 5)) == ("refs must be a list of URLs, got 5", "refs", 5, None, "refs")


def test_a_url_list_refuses_more_urls_than_it_takes() -> None:
    urls = ["https://a.example/1", "https://a.example/2", "https://a.example/3"]
    assert refusal(lambda: coerced(REFS, ",".join(urls))) == (
        "refs has 3 URLs; at most 2 are accepted",
        "refs",
        urls,
        None,
        "refs",
    )


def test_a_missing_local_file_in_a_common_image_list_is_named_as_the_common_parameter(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.png")
    assert refusal(lambda: resolved(FOUR_O, image_urls=(missing,))) == (
        f"image_urls (filesUrl): {missing}: no such file; give the path of an image file or an http(s) URL",
        "filesUrl",
        missing,
        "image_urls",
        "image_urls (filesUrl)",
    )


# --- requests: profiles, common parameters, extras ------------------------------------------------------------


def test_a_model_without_the_profile_is_refused_as_the_profile_setting() -> None:
    assert refusal(lambda: resolved(FLUX, Profile.REFERENCE, prompt="x")) == (
        "test/flux has no reference profile; use --profile live",
        "profile",
        "reference",
        "profile",
        None,
    )


def test_a_model_without_an_image_count_takes_its_own_count_and_refuses_others() -> None:
    two = attrs.evolve(MODEL, images_per_task=2)
    assert resolved(two, prompt="x", num_images=2, resolution="2K") == {"text": "x", "res": "2K"}
    tail = (
        "per task and takes no image count; for more, run several tasks "
        "(Client.task_requests splits a request into them)"
    )
    assert refusal(lambda: resolved(two, prompt="x", num_images=1)) == (
        f"num_images=1: t/v makes 2 images {tail}",
        "num_images",
        1,
        "num_images",
        "num_images",
    )


@pytest.mark.parametrize(
    ("model", "profile", "fields", "message"),
    [
        (FLUX, Profile.LIVE, {"seed": 1}, "seed is not supported by test/flux (live profile); leave it out"),
        (
            MARKET,
            Profile.REFERENCE,
            {"output_format": "png"},
            "output_format is not supported by test/market (reference profile); leave it out",
        ),
    ],
)
def test_a_common_parameter_the_model_lacks_is_refused(
    model: ModelSpec, profile: Profile, fields: dict[str, Any], message: str
) -> None:
    (common, value) = next(iter(fields.items()))
    assert refusal(lambda: resolved(model, profile, prompt="x", **fields)) == (message, common, value, common, common)


def test_a_refused_common_value_carries_the_common_name_and_an_extra_does_not() -> None:
    message = (
        "aspect_ratio (image_size)='4:3' is not accepted by test/market; allowed: square, landscape_16_9, 1:1, 16:9"
    )
    assert refusal(lambda: resolved(MARKET, prompt="x", aspect_ratio="4:3")) == (
        message,
        "image_size",
        "4:3",
        "aspect_ratio",
        "aspect_ratio (image_size)",
    )
    assert refusal(lambda: resolved(MARKET, prompt="x", extra={"image_size": "4:3"}))[3] is None


def test_an_unknown_extra_is_refused_listing_the_known_parameters() -> None:
    assert refusal(lambda: resolved(MARKET, prompt="x", extra={"bogus": 1})) == (
        "unknown parameter 'bogus' for test/market (live profile); known: prompt, image_size, num_images, "
        "output_format, seed, image_urls, nsfw_checker, style",
        "bogus",
        1,
        None,
        None,
    )


def test_a_parameter_given_both_as_common_and_as_extra_is_refused() -> None:
    assert refusal(lambda: resolved(MARKET, prompt="x", aspect_ratio="1:1", extra={"image_size": "square"})) == (
        "image_size is given twice (also as aspect_ratio); give it once",
        "image_size",
        "square",
        None,
        "image_size",
    )


# --- callback URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://me.example/cb", "HTTPS://me.example/cb"])
def test_an_http_callback_is_accepted_and_not_a_parameter(url: str) -> None:
    assert resolved(MARKET, prompt="x", callback_url=url) == {"prompt": "x", "style": "AUTO"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://me.example/cb", "callback_url must be an http(s) URL, got 'ftp://me.example/cb'"),
        ("https://", "callback_url must be an http(s) URL, got 'https://'"),
        (5, "callback_url must be a URL, got 5"),
    ],
)
def test_a_callback_that_is_not_an_http_url_is_refused(url: Any, message: str) -> None:
    assert refusal(lambda: resolved(MARKET, prompt="x", callback_url=url)) == (
        message,
        "callback_url",
        url,
        "callback_url",
        "callback_url",
    )


def test_a_callback_where_the_dialect_takes_none_is_refused() -> None:
    assert refusal(lambda: resolved(MARKET, Profile.REFERENCE, prompt="x", callback_url="https://me.example/cb")) == (
        "callback_url is not supported by test/market; leave it out",
        "callback_url",
        "https://me.example/cb",
        "callback_url",
        "callback_url",
    )


# --- defaults, required parameters, requires_any, rules --------------------------------------------------------


def test_a_required_parameter_left_out_is_named_by_its_common_name_too() -> None:
    assert refusal(lambda: resolved(MODEL, aspect_ratio="1:1")) == (
        "prompt (text) is required by t/v",
        "text",
        None,
        "prompt",
        "prompt (text)",
    )
    assert refusal(lambda: resolved(MARKET, seed=1)) == (
        "prompt is required by test/market",
        "prompt",
        None,
        "prompt",
        "prompt",
    )


def test_a_count_equal_to_its_default_is_left_out_and_others_are_sent_as_text() -> None:
    assert resolved(MARKET, prompt="x", num_images=1) == {"prompt": "x", "style": "AUTO"}
    assert resolved(MARKET, prompt="x", num_images=3, extra={"style": "DESIGN"}) == {
        "prompt": "x",
        "num_images": "3",
        "style": "DESIGN",
    }


def test_a_request_with_none_of_a_required_group_is_refused_naming_the_first() -> None:
    assert refusal(lambda: resolved(FOUR_O, aspect_ratio="3:2")) == (
        "test/4o needs prompt or filesUrl",
        "prompt",
        None,
        "prompt",
        None,
    )
    assert resolved(FOUR_O, prompt="x") == {"prompt": "x", "size": "1:1"}


def test_a_required_group_is_refused_by_its_first_parameter_and_that_ones_common_name() -> None:
    mask = ParamSpec(name="mask", kind=ParamKind.URL)
    groups = ((("mask", "prompt"), None), (("prompt", "mask"), "prompt"))
    for group, common in groups:
        wire = stock.market_wire("t/any", mask, stock.prompt(required=False), requires_any=(group,))
        model = ModelSpec(id="t/any", title="t", family="t", live=wire)
        message = f"t/any needs {group[0]} or {group[1]}"
        assert refusal(lambda model=model: resolved(model)) == (message, group[0], None, common, None)
        assert resolved(model, prompt="x") == {"prompt": "x"}


@pytest.mark.parametrize(
    ("group", "text"), [((), "is empty"), (("mask", "prompt"), "'mask', which is not a declared parameter")]
)
def test_a_required_group_names_only_declared_parameters(group: tuple[str, ...], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        stock.market_wire("t/any", stock.prompt(required=False), requires_any=(group,))


def test_a_broken_rule_names_the_parameter_by_its_common_name_and_shows_the_value_that_met_it() -> None:
    assert resolved(MODEL, prompt="x", aspect_ratio="wide", resolution="2K") == {
        "text": "x",
        "ratio": "wide",
        "res": "2K",
    }
    assert refusal(lambda: resolved(MODEL, prompt="x", aspect_ratio="wide", resolution="4K")) == (
        "resolution (res)='4K' is not accepted by t/v with ratio=wide (no 4K but tall); allowed: 1K or 2K",
        "res",
        "4K",
        "resolution",
        "resolution (res)",
    )
