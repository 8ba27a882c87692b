"""Requests are checked against the declaration before anything is sent."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiecore.errors import InvalidParameterError
from kiecore.model import GenerationRequest, Profile
from kiecore.testing.strategies import valid_requests
from kiecore.validation import resolve_params
from tests.sample_plugin import FLUX, FOUR_O, MARKET


def test_common_parameters_map_to_wire_names_and_values() -> None:
    request = GenerationRequest(prompt="a fox", aspect_ratio="16:9", num_images=2, seed=7)
    params = resolve_params(MARKET, Profile.LIVE, request)
    assert params == {"prompt": "a fox", "image_size": "landscape_16_9", "num_images": "2", "seed": 7, "style": "AUTO"}


def test_defaults_required_and_omitted() -> None:
    assert resolve_params(FOUR_O, Profile.LIVE, GenerationRequest(prompt="x", num_images=1)) == {
        "prompt": "x",
        "size": "1:1",
    }
    assert resolve_params(FOUR_O, Profile.LIVE, GenerationRequest(prompt="x", num_images=4))["nVariants"] == 4


def test_extras_are_converted_from_strings() -> None:
    params = resolve_params(
        MARKET, Profile.LIVE, GenerationRequest(prompt="x", extra={"nsfw_checker": "true", "style": "design"})
    )
    assert params["nsfw_checker"] is True
    assert params["style"] == "DESIGN"


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (GenerationRequest(prompt="x", negative_prompt="blur"), "negative_prompt is not supported"),
        (GenerationRequest(prompt="x", aspect_ratio="7:3"), "allowed: square, landscape_16_9, 1:1, 16:9"),
        (GenerationRequest(prompt="x", seed=-1), "seed=-1 is out of range for test/market; allowed 0..2147483648"),
        (GenerationRequest(prompt="x" * 101), "at most 100"),
        (GenerationRequest(prompt="x", num_images=5), "num_images=5"),
        (GenerationRequest(prompt="x", aspect_ratio="4:3"), "aspect_ratio (image_size)='4:3' is not accepted"),
        (GenerationRequest(prompt="x", seed=-1), "out of range"),
        (GenerationRequest(prompt="x", image_urls=("file:///etc/passwd",)), "http(s) URL"),
        (GenerationRequest(prompt="x", image_urls=("https://a/1", "https://a/2", "https://a/3")), "at most 2"),
        (GenerationRequest(prompt="x", extra={"bogus": 1}), "unknown parameter 'bogus'"),
        (GenerationRequest(prompt="x", extra={"nsfw_checker": "maybe"}), "true or false"),
        (GenerationRequest(prompt="x", seed=1, extra={"seed": 2}), "given twice"),
        (GenerationRequest(aspect_ratio="1:1"), "prompt is required"),
    ],
)
def test_invalid_requests_are_refused_with_the_parameter_named(request_: GenerationRequest, fragment: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        resolve_params(MARKET, Profile.LIVE, request_)
    assert fragment in str(caught.value)


def test_requires_any_and_missing_profile() -> None:
    with pytest.raises(InvalidParameterError, match="needs prompt or filesUrl"):
        resolve_params(FOUR_O, Profile.LIVE, GenerationRequest(aspect_ratio="1:1"))
    assert resolve_params(FOUR_O, Profile.LIVE, GenerationRequest(image_urls=("https://a/b.png",)))
    with pytest.raises(InvalidParameterError, match="no reference profile"):
        resolve_params(FLUX, Profile.REFERENCE, GenerationRequest(prompt="x"))


def test_one_image_is_no_error_for_a_one_image_model() -> None:
    assert "num_images" not in resolve_params(FLUX, Profile.LIVE, GenerationRequest(prompt="x", num_images=1))
    many = attrs.evolve(FLUX, max_images=4)  # several images in another profile, one per task in this one
    assert "num_images" not in resolve_params(many, Profile.LIVE, GenerationRequest(prompt="x", num_images=1))
    with pytest.raises(InvalidParameterError, match="num_images=2: test/flux makes 1 image per task") as refused:
        resolve_params(FLUX, Profile.LIVE, GenerationRequest(prompt="x", num_images=2))
    assert refused.value.parameter == "num_images" and "several tasks" in str(refused.value)


def test_callback_only_where_the_dialect_has_one() -> None:
    live = resolve_params(MARKET, Profile.LIVE, GenerationRequest(prompt="x", callback_url="https://me/cb"))
    assert "callBackUrl" not in live  # the dialect adds it to the body, not to the parameters
    with pytest.raises(InvalidParameterError, match="callback_url is not supported"):
        resolve_params(MARKET, Profile.REFERENCE, GenerationRequest(prompt="x", callback_url="https://me/cb"))


@given(st.data())
def test_valid_requests_always_resolve(data: st.DataObject) -> None:
    model, profile = data.draw(
        st.sampled_from(
            [(MARKET, Profile.LIVE), (MARKET, Profile.REFERENCE), (FOUR_O, Profile.LIVE), (FLUX, Profile.LIVE)]
        )
    )
    params = resolve_params(model, profile, data.draw(valid_requests(model, profile)))
    declared = {spec.name for spec in model.wire(profile).params}
    assert set(params) <= declared


def test_a_text_shorter_than_its_minimum_is_refused_here_and_by_the_emulator() -> None:
    from kiecore import ModelSpec, stock
    from kiecore.emulator.validate import value_problem

    model = ModelSpec(
        id="t/short", title="t", family="t", live=stock.market_wire("t/short", stock.prompt(50, min_length=3))
    )
    assert resolve_params(model, Profile.LIVE, GenerationRequest(prompt="abc")) == {"prompt": "abc"}
    with pytest.raises(InvalidParameterError, match="prompt is 2 characters long; t/short needs at least 3"):
        resolve_params(model, Profile.LIVE, GenerationRequest(prompt="ab"))
    spec = model.live.params[0]
    assert value_problem(spec, "ab") == "must be at least 3 characters" and value_problem(spec, "abc") is None
    assert spec.description == "What to draw (3-50 characters)"
