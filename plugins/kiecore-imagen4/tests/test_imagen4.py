"""Imagen 4: conformance, the docs' example replies (live and reference), and request mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kiecore_imagen4 import plugin

from kiecore.errors import InvalidParameterError
from kiecore.model import GenerationRequest, Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.testing.conformance import PluginConformance
from kiecore.testing.mapping import create_request, refusal
from kiecore.validation import resolve_params
from kiecore.wire import build_status_request

HERE = Path(__file__).parent
REPLIES: dict[str, dict[str, Any]] = json.loads((HERE / "replies" / "imagen4.json").read_text())
LIVE = Profile.LIVE
REFERENCE = Profile.REFERENCE
ULTRA, STANDARD, FAST = "google/imagen4-ultra", "google/imagen4", "google/imagen4-fast"
ALL = (ULTRA, STANDARD, FAST)
REFERENCE_PATHS = {ULTRA: "imagen-4-ultra", STANDARD: "imagen-4", FAST: "imagen-4-fast"}


class TestConformance(PluginConformance):
    plugin = plugin


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.from_plugins(plugin)
    assert not registry.failures
    return registry


def entry_of(registry: Registry, model_id: str) -> ModelEntry:
    return registry.resolve(model_id)


def create(registry: Registry, model_id: str, profile: Profile, **fields: Any) -> tuple[str, dict[str, Any]]:
    return create_request(registry, entry_of(registry, model_id), profile, **fields)


def live_input(registry: Registry, model_id: str, **fields: Any) -> dict[str, Any]:
    path, body = create(registry, model_id, LIVE, **fields)
    assert path == "/api/v1/jobs/createTask"
    assert body["model"] == model_id
    return dict(body["input"])


def refused(registry: Registry, model_id: str, profile: Profile, **fields: Any) -> InvalidParameterError:
    return refusal(entry_of(registry, model_id), profile, **fields)


# -- packaging and names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("imagen4-ultra", ULTRA),
        ("imagen-4-ultra", ULTRA),
        ("google/imagen-4-ultra", ULTRA),
        ("imagen4", STANDARD),
        ("imagen-4", STANDARD),
        ("Imagen4", STANDARD),
        ("imagen4-fast", FAST),
        ("imagen-4-fast", FAST),
        (FAST, FAST),
    ],
)
def test_names_resolve_to_the_model(registry: Registry, name: str, model_id: str) -> None:
    assert registry.resolve(name).spec.id == model_id


@pytest.mark.parametrize("model_id", ALL)
def test_both_profiles_and_up_to_four_images(registry: Registry, model_id: str) -> None:
    spec = entry_of(registry, model_id).spec
    assert spec.profiles() == (LIVE, REFERENCE)
    assert spec.max_images == 4
    assert spec.family == "Imagen 4"


# -- live replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ALL)
def test_live_create_reply(registry: Registry, model_id: str) -> None:
    entry = entry_of(registry, model_id)
    assert registry.parse_submit(entry, LIVE, REPLIES["live"]["create_reply"]) == "task_google_1765172332800"


def test_live_running_reply(registry: Registry) -> None:
    entry = entry_of(registry, FAST)
    reply = REPLIES["live"]["running"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.QUEUED  # "queuing"
    assert status.progress is None  # market image models report none
    assert status.fail_code is None and status.fail_message is None
    assert registry.extract_urls(entry, LIVE, reply) == ()


def test_live_success_reply(registry: Registry) -> None:
    entry = entry_of(registry, FAST)
    reply = REPLIES["live"]["success"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, LIVE, reply) == ("https://<cdn>/1.png", "https://<cdn>/2.png")


def test_live_failure_reply(registry: Registry) -> None:
    entry = entry_of(registry, FAST)
    reply = REPLIES["live"]["failure"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.FAILED
    assert status.fail_code == "500"
    assert status.fail_message == "Internal server error"
    assert registry.extract_urls(entry, LIVE, reply) == ()


def test_live_callbacks(registry: Registry) -> None:
    entry = entry_of(registry, ULTRA)
    ok = REPLIES["live"]["callback_ok"]
    assert registry.parse_status(entry, LIVE, ok).state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, LIVE, ok) == ("https://<cdn>/e98962_0.png",)
    failed = registry.parse_status(entry, LIVE, REPLIES["live"]["callback_fail"])
    assert failed.state is TaskState.FAILED
    assert (failed.fail_code, failed.fail_message) == ("500", "Internal server error")


@pytest.mark.parametrize("model_id", ALL)
def test_live_status_request(model_id: str, registry: Registry) -> None:
    request = build_status_request(entry_of(registry, model_id).spec, LIVE, "task_google_1765172332800")
    assert (request.method, request.path) == ("GET", "/api/v1/jobs/recordInfo")
    assert request.query == (("taskId", "task_google_1765172332800"),)


# -- reference replies -------------------------------------------------------------------------------


def test_reference_replies(registry: Registry) -> None:
    entry = entry_of(registry, STANDARD)
    replies = REPLIES["reference"]
    assert registry.parse_submit(entry, REFERENCE, replies["create_reply"]) == "abc123"
    assert registry.parse_status(entry, REFERENCE, replies["pending"]).state is TaskState.QUEUED
    running = registry.parse_status(entry, REFERENCE, replies["processing"])
    assert running.state is TaskState.RUNNING
    assert running.progress == pytest.approx(0.45)
    done = registry.parse_status(entry, REFERENCE, replies["completed"])
    assert done.state is TaskState.SUCCEEDED
    assert done.progress == pytest.approx(1.0)
    assert registry.extract_urls(entry, REFERENCE, replies["completed"]) == ("https://<cdn>/abc123.png",)
    assert registry.parse_status(entry, REFERENCE, replies["failed"]).state is TaskState.FAILED


@pytest.mark.parametrize("model_id", ALL)
def test_reference_status_path(registry: Registry, model_id: str) -> None:
    request = build_status_request(entry_of(registry, model_id).spec, REFERENCE, "abc123")
    assert request.path == f"/api/v1/google/{REFERENCE_PATHS[model_id]}/record-info"
    assert request.query == (("taskId", "abc123"),)


# -- live requests -----------------------------------------------------------------------------------


def test_live_ultra_create_body_matches_the_docs(registry: Registry) -> None:
    # The docs' example sends an empty negative prompt and an empty string seed.
    path, body = create(
        registry,
        ULTRA,
        LIVE,
        prompt="Office comic, four panels",
        negative_prompt="",
        aspect_ratio="1:1",
        extra={"seed": ""},
    )
    assert path == "/api/v1/jobs/createTask"
    assert body == REPLIES["live"]["create_body"]


def test_live_fast_create_body_matches_the_docs(registry: Registry) -> None:
    _, body = create(registry, FAST, LIVE, prompt="90s indie film still", aspect_ratio="16:9", num_images=2, seed=1234)
    assert body == REPLIES["live"]["create_body_fast"]
    assert body["input"]["num_images"] == "2"
    assert body["input"]["seed"] == 1234


@pytest.mark.parametrize("model_id", [ULTRA, STANDARD])
def test_live_integer_seed_is_sent_as_text(registry: Registry, model_id: str) -> None:
    assert live_input(registry, model_id, prompt="x", seed=42) == {"prompt": "x", "seed": "42"}


@pytest.mark.parametrize("model_id", [ULTRA, STANDARD])
def test_live_text_seed_is_sent_as_given(registry: Registry, model_id: str) -> None:
    assert live_input(registry, model_id, prompt="x", extra={"seed": "my-seed"})["seed"] == "my-seed"


def test_live_fast_seed_is_an_integer(registry: Registry) -> None:
    assert live_input(registry, FAST, prompt="x", seed=42) == {"prompt": "x", "seed": 42}
    assert live_input(registry, FAST, prompt="x", extra={"seed": "42"})["seed"] == 42


def test_live_fast_num_images_omitted_when_not_set(registry: Registry) -> None:
    assert live_input(registry, FAST, prompt="x") == {"prompt": "x"}


def test_live_fast_num_images_of_one_is_left_out(registry: Registry) -> None:
    assert "num_images" not in live_input(registry, FAST, prompt="x", num_images=1)
    assert "num_images" not in live_input(registry, FAST, prompt="x", extra={"num_images": "1"})


@pytest.mark.parametrize("count", [2, 3, 4])
def test_live_fast_num_images_as_a_string(registry: Registry, count: int) -> None:
    assert live_input(registry, FAST, prompt="x", num_images=count)["num_images"] == str(count)


def test_live_defaults_are_left_to_the_service(registry: Registry) -> None:
    for model_id in ALL:
        assert live_input(registry, model_id, prompt="x") == {"prompt": "x"}


def test_live_default_aspect_ratios(registry: Registry) -> None:
    defaults = {model_id: entry_of(registry, model_id).spec.live.param("aspect_ratio") for model_id in ALL}
    assert {model_id: spec.default for model_id, spec in defaults.items() if spec} == {
        ULTRA: "1:1",
        STANDARD: "1:1",
        FAST: "16:9",
    }


@pytest.mark.parametrize("model_id", ALL)
@pytest.mark.parametrize("ratio", ["1:1", "16:9", "9:16", "3:4", "4:3", "auto"])
def test_live_aspect_ratios(registry: Registry, model_id: str, ratio: str) -> None:
    assert live_input(registry, model_id, prompt="x", aspect_ratio=ratio)["aspect_ratio"] == ratio


def test_live_full_request(registry: Registry) -> None:
    callback = "https://me.example/kie/cb"
    _, body = create(
        registry,
        STANDARD,
        LIVE,
        prompt="a lighthouse",
        negative_prompt="people",
        aspect_ratio="9:16",
        seed=7,
        callback_url=callback,
    )
    assert body == {
        "model": STANDARD,
        "callBackUrl": callback,
        "input": {"prompt": "a lighthouse", "negative_prompt": "people", "aspect_ratio": "9:16", "seed": "7"},
    }


@pytest.mark.parametrize("model_id", [ULTRA, STANDARD])
@pytest.mark.parametrize("count", [2, 4])
def test_live_num_images_refused_for_ultra_and_standard(registry: Registry, model_id: str, count: int) -> None:
    error = refused(registry, model_id, LIVE, prompt="x", num_images=count)
    assert error.parameter == "num_images"
    assert "num_images" in str(error)


@pytest.mark.parametrize("model_id", [ULTRA, STANDARD])
def test_live_one_image_is_what_ultra_and_standard_make(registry: Registry, model_id: str) -> None:
    spec = registry.resolve(model_id).spec
    assert "num_images" not in resolve_params(spec, LIVE, GenerationRequest(prompt="x", num_images=1))


@pytest.mark.parametrize("model_id", [ULTRA, STANDARD])
def test_live_num_images_extra_refused_for_ultra_and_standard(registry: Registry, model_id: str) -> None:
    assert refused(registry, model_id, LIVE, prompt="x", extra={"num_images": "2"}).parameter == "num_images"


@pytest.mark.parametrize("model_id", ALL)
@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"output_format": "png"}, "output_format"),
        ({"resolution": "2K"}, "resolution"),
        ({"image_urls": ("https://img.example/a.png",)}, "image_urls"),
        ({"aspect_ratio": "21:9"}, "aspect_ratio"),
        ({"prompt": "x" * 5001}, "prompt"),
        ({"negative_prompt": "x" * 5001}, "negative_prompt"),
        ({"extra": {"image_size": "square_hd"}}, "image_size"),
    ],
)
def test_live_refusals(registry: Registry, model_id: str, fields: dict[str, Any], parameter: str) -> None:
    assert refused(registry, model_id, LIVE, **{"prompt": "x", **fields}).parameter == parameter


@pytest.mark.parametrize("model_id", ALL)
def test_live_prompt_is_required(registry: Registry, model_id: str) -> None:
    assert refused(registry, model_id, LIVE, aspect_ratio="1:1").parameter == "prompt"


def test_live_text_seed_longer_than_500_refused(registry: Registry) -> None:
    assert live_input(registry, ULTRA, prompt="x", extra={"seed": "s" * 500})["seed"] == "s" * 500
    assert refused(registry, ULTRA, LIVE, prompt="x", extra={"seed": "s" * 501}).parameter == "seed"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 5}, "num_images"),
        ({"extra": {"num_images": "two"}}, "num_images"),
        ({"extra": {"seed": "abc"}}, "seed"),
    ],
)
def test_live_fast_refusals(registry: Registry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(registry, FAST, LIVE, **{"prompt": "x", **fields}).parameter == parameter


# -- reference requests ------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ALL)
def test_reference_create_body(registry: Registry, model_id: str) -> None:
    path, body = create(
        registry,
        model_id,
        REFERENCE,
        prompt="a red fox",
        negative_prompt="blur",
        aspect_ratio="4:3",
        num_images=3,
        seed=42,
    )
    assert path == f"/api/v1/google/{REFERENCE_PATHS[model_id]}"
    assert body == {
        "prompt": "a red fox",
        "negative_prompt": "blur",
        "aspect_ratio": "4:3",
        "num_images": 3,
        "seed": 42,
    }


@pytest.mark.parametrize("model_id", ALL)
def test_reference_minimal_body(registry: Registry, model_id: str) -> None:
    _, body = create(registry, model_id, REFERENCE, prompt="a red fox")
    assert body == {"prompt": "a red fox"}


def test_reference_num_images_one_is_sent_as_a_number(registry: Registry) -> None:
    _, body = create(registry, ULTRA, REFERENCE, prompt="x", num_images=1)
    assert body == {"prompt": "x", "num_images": 1}


@pytest.mark.parametrize("model_id", ALL)
@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 5}, "num_images"),
        ({"aspect_ratio": "auto"}, "aspect_ratio"),
        ({"extra": {"seed": "my-seed"}}, "seed"),
        ({"output_format": "png"}, "output_format"),
        ({"image_urls": ("https://img.example/a.png",)}, "image_urls"),
        ({"callback_url": "https://me.example/cb"}, "callback_url"),
    ],
)
def test_reference_refusals(registry: Registry, model_id: str, fields: dict[str, Any], parameter: str) -> None:
    assert refused(registry, model_id, REFERENCE, **{"prompt": "x", **fields}).parameter == parameter


def test_reference_prompt_is_required(registry: Registry) -> None:
    assert refused(registry, FAST, REFERENCE, seed=1).parameter == "prompt"
