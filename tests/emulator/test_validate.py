"""Create bodies checked like the service would, and more strictly (validate.py)."""

from __future__ import annotations

from typing import Any

import pytest

from kiecore.emulator import Emulator, body_problems
from tests.emulator.helpers import FLUX_CREATE, GPT4O_CREATE, MARKET_CREATE, call, market_body
from tests.emulator.models import MARKET


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "test/market", "input": {"prompt": "x", "colour": "red"}}, "colour: unknown parameter"),
        ({"model": "test/market", "input": {}}, "prompt: is required"),
        ({"model": "test/market", "input": {"prompt": 5}}, "prompt: must be a string"),
        ({"model": "test/market", "input": {"prompt": "x" * 51}}, "prompt: must be at most 50 characters"),
        (market_body(num_images=2), "num_images: must be a whole number written as a string"),
        (market_body(num_images="two"), "num_images: must be a whole number written as a string"),
        (market_body(num_images="9"), "num_images: '9' is not one of 1, 2, 3, 4, 5"),
        (market_body(output_format="gif"), "output_format: 'gif' is not one of png, jpeg, webp"),
        (market_body(seed="5"), "seed: must be an integer"),
        (market_body(seed=1.5), "seed: must be an integer"),
        (market_body(seed=True), "seed: must be an integer"),
        (market_body(seed=1001), "seed: must be at most 1000"),
        (market_body(strength=0), "strength: must be at least 0.01"),
        (market_body(strength="0.5"), "strength: must be a number"),
        (market_body(nsfw_checker="yes"), "nsfw_checker: must be a boolean"),
        (market_body(image_urls="https://a.example/x.png"), "image_urls: must be a list of http(s) URLs"),
        (market_body(image_urls=["ftp://a.example/x.png"]), "image_urls: must hold only http(s) URLs"),
        (market_body(image_urls=["https://a.example/x"] * 3), "image_urls: must hold at most 2 URLs"),
        ({"model": "test/market", "prompt": "x"}, "prompt: unknown field"),
        ({"model": "test/market", "input": "x"}, "input: must be an object"),
        ({**market_body(), "callBackUrl": "not a url"}, "callBackUrl: must be an http(s) URL"),
        ([1, 2], "body: must be a JSON object"),
    ],
)
def test_market_body_rejections(emulator: Emulator, body: Any, message: str) -> None:
    status_code, reply, _ = call(emulator, "POST", MARKET_CREATE, body)
    assert status_code == 200 and reply == {"code": 422, "msg": message, "data": None}
    assert emulator.tasks == {}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (GPT4O_CREATE, {"size": "1:1"}, "prompt or filesUrl: at least one is required"),
        (GPT4O_CREATE, {"prompt": "x"}, "size: is required"),
        (GPT4O_CREATE, {"prompt": "x", "size": "1:1", "nVariants": 3}, "nVariants: 3 is not one of 1, 2, 4"),
        (GPT4O_CREATE, {"prompt": "x", "size": "1:1", "model": "gpt"}, "model: unknown parameter"),
        (FLUX_CREATE, {"prompt": "x", "model": "flux-kontext-ultra"}, "model: unknown model 'flux-kontext-ultra'"),
        (FLUX_CREATE, {"prompt": "x"}, "model: is required"),
        (
            FLUX_CREATE,
            {"prompt": "x", "model": "flux-kontext-pro", "inputImage": "/a"},
            "inputImage: must be an http(s) URL",
        ),
        (MARKET_CREATE, {"model": "nope", "input": {"prompt": "x"}}, "model: unknown model 'nope'"),
    ],
)  # fmt: skip
def test_flat_body_rejections(emulator: Emulator, path: str, body: Any, message: str) -> None:
    _, reply, _ = call(emulator, "POST", path, body)
    assert reply == {"code": 422, "msg": message, "data": None}


def test_invalid_json_is_400_for_4o_and_422_elsewhere(emulator: Emulator) -> None:
    assert call(emulator, "POST", GPT4O_CREATE, b"{not json")[1]["code"] == 400
    assert call(emulator, "POST", MARKET_CREATE, b"{not json")[1]["code"] == 422
    assert call(emulator, "POST", FLUX_CREATE, b"")[1]["code"] == 422


def test_body_problems_lists_every_problem() -> None:
    wire = MARKET.live
    assert body_problems(wire, market_body(num_images="4", image_urls=["https://a.example/1.png"])) == []
    assert body_problems(wire, None) == ["body: must be a JSON object"]
    problems = body_problems(wire, {"model": "other", "extra": 1, "input": {"seed": -1}})
    assert problems == [
        "model: expected 'test/market', got 'other'",
        "extra: unknown field",
        "seed: must be at least 0",
        "prompt: is required",
    ]
