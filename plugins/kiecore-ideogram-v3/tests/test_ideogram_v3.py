"""Ideogram V3: conformance, the docs' example replies (live and reference), and request mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kiecore_ideogram_v3 import plugin

from kiecore.model import GenerationRequest, Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.testing.conformance import PluginConformance
from kiecore.testing.mapping import create_request as create
from kiecore.testing.mapping import refusal as refused
from kiecore.validation import resolve_params
from kiecore.wire import build_status_request

HERE = Path(__file__).parent
REPLIES: dict[str, dict[str, Any]] = json.loads((HERE / "replies" / "ideogram_v3.json").read_text())
LIVE = Profile.LIVE
REFERENCE = Profile.REFERENCE
MODEL_ID = "ideogram/v3-text-to-image"
TASK_ID = "task_ideogram_1765180586443"
#: What every live body carries when the caller sets nothing: the docs state no defaults.
EXPLICIT_DEFAULTS = {"rendering_speed": "BALANCED", "style": "AUTO", "expand_prompt": True, "image_size": "square_hd"}


class TestConformance(PluginConformance):
    plugin = plugin


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.from_plugins(plugin)
    assert not registry.failures
    return registry


@pytest.fixture(scope="module")
def entry(registry: Registry) -> ModelEntry:
    return registry.resolve("ideogram-v3")


def live_input(registry: Registry, entry: ModelEntry, **fields: Any) -> dict[str, Any]:
    path, body = create(registry, entry, LIVE, **fields)
    assert path == "/api/v1/jobs/createTask"
    assert body["model"] == MODEL_ID
    return dict(body["input"])


# -- packaging and names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [MODEL_ID, "ideogram-v3", "ideogram/v3", "Ideogram-V3"])
def test_names_resolve_to_the_model(registry: Registry, name: str) -> None:
    assert registry.resolve(name).spec.id == MODEL_ID


def test_profiles_and_image_count(entry: ModelEntry) -> None:
    assert entry.spec.profiles() == (LIVE, REFERENCE)
    assert entry.spec.max_images == 4  # reference num_images 1-4; live gives one per task
    assert entry.spec.live.for_common("num_images") is None


# -- live replies ------------------------------------------------------------------------------------


def test_live_create_reply(registry: Registry, entry: ModelEntry) -> None:
    assert registry.parse_submit(entry, LIVE, REPLIES["live"]["create_reply"]) == TASK_ID


def test_live_running_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["running"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.RUNNING  # "generating"
    assert status.progress is None
    assert status.fail_code is None and status.fail_message is None
    assert registry.extract_urls(entry, LIVE, reply) == ()


def test_live_success_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["success"]
    assert registry.parse_status(entry, LIVE, reply).state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, LIVE, reply) == ("https://<cdn>/v3_0.png",)


def test_live_failure_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["failure"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.FAILED
    assert (status.fail_code, status.fail_message) == ("500", "Internal server error")
    assert registry.extract_urls(entry, LIVE, reply) == ()


def test_live_callbacks(registry: Registry, entry: ModelEntry) -> None:
    ok = REPLIES["live"]["callback_ok"]
    assert registry.parse_status(entry, LIVE, ok).state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, LIVE, ok) == ("https://<cdn>/e98962_0.png",)
    failed = registry.parse_status(entry, LIVE, REPLIES["live"]["callback_fail"])
    assert failed.state is TaskState.FAILED
    assert failed.fail_code == "500"


def test_live_status_request(entry: ModelEntry) -> None:
    request = build_status_request(entry.spec, LIVE, TASK_ID)
    assert (request.method, request.path) == ("GET", "/api/v1/jobs/recordInfo")
    assert request.query == (("taskId", TASK_ID),)


# -- reference replies -------------------------------------------------------------------------------


def test_reference_replies(registry: Registry, entry: ModelEntry) -> None:
    replies = REPLIES["reference"]
    assert registry.parse_submit(entry, REFERENCE, replies["create_reply"]) == "abc123"
    assert registry.parse_status(entry, REFERENCE, replies["pending"]).state is TaskState.QUEUED
    running = registry.parse_status(entry, REFERENCE, replies["processing"])
    assert (running.state, running.progress) == (TaskState.RUNNING, pytest.approx(0.45))
    done = registry.parse_status(entry, REFERENCE, replies["completed"])
    assert done.state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, REFERENCE, replies["completed"]) == ("https://<cdn>/abc123.png",)
    assert registry.parse_status(entry, REFERENCE, replies["failed"]).state is TaskState.FAILED


def test_reference_status_path(entry: ModelEntry) -> None:
    request = build_status_request(entry.spec, REFERENCE, "abc123")
    assert request.path == "/api/v1/ideogram/v3-text-to-image/record-info"


# -- live requests -----------------------------------------------------------------------------------


def test_live_create_body_matches_the_docs(registry: Registry, entry: ModelEntry) -> None:
    path, body = create(
        registry,
        entry,
        LIVE,
        prompt="Neon 'Kie.ai' sign over a lake",
        seed=123456,
        callback_url="https://<your-host>/kie/cb",
    )
    assert path == "/api/v1/jobs/createTask"
    assert body == REPLIES["live"]["create_body"]


def test_live_defaults_are_always_sent(registry: Registry, entry: ModelEntry) -> None:
    assert live_input(registry, entry, prompt="x") == {"prompt": "x", **EXPLICIT_DEFAULTS}


@pytest.mark.parametrize(
    ("ratio", "preset"),
    [
        ("1:1", "square_hd"),
        ("4:3", "landscape_4_3"),
        ("3:4", "portrait_4_3"),
        ("16:9", "landscape_16_9"),
        ("9:16", "portrait_16_9"),
        ("square", "square"),
        ("landscape_16_9", "landscape_16_9"),
    ],
)
def test_live_aspect_ratio_becomes_a_preset(registry: Registry, entry: ModelEntry, ratio: str, preset: str) -> None:
    assert live_input(registry, entry, prompt="x", aspect_ratio=ratio)["image_size"] == preset


def test_live_image_size_as_a_model_option(registry: Registry, entry: ModelEntry) -> None:
    assert (
        live_input(registry, entry, prompt="x", extra={"image_size": "Portrait_16_9"})["image_size"] == "portrait_16_9"
    )


@pytest.mark.parametrize(("given", "sent"), [("design", "DESIGN"), ("Realistic", "REALISTIC"), ("GENERAL", "GENERAL")])
def test_live_style_is_case_insensitive(registry: Registry, entry: ModelEntry, given: str, sent: str) -> None:
    assert live_input(registry, entry, prompt="x", extra={"style": given})["style"] == sent


def test_live_model_options(registry: Registry, entry: ModelEntry) -> None:
    params = live_input(
        registry,
        entry,
        prompt="a poster",
        negative_prompt="blurry",
        seed=9,
        aspect_ratio="9:16",
        extra={"rendering_speed": "turbo", "expand_prompt": "false"},
    )
    assert params == {
        "prompt": "a poster",
        "rendering_speed": "TURBO",
        "style": "AUTO",
        "expand_prompt": False,
        "image_size": "portrait_16_9",
        "seed": 9,
        "negative_prompt": "blurry",
    }


@pytest.mark.parametrize("count", [2, 4])
def test_live_num_images_refused(entry: ModelEntry, count: int) -> None:
    error = refused(entry, LIVE, prompt="x", num_images=count)
    assert error.parameter == "num_images"


def test_live_one_image_is_what_it_makes(entry: ModelEntry) -> None:
    assert "num_images" not in resolve_params(entry.spec, LIVE, GenerationRequest(prompt="x", num_images=1))


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"extra": {"style": "FICTION"}}, "style"),
        ({"extra": {"rendering_speed": "FAST"}}, "rendering_speed"),
        ({"extra": {"expand_prompt": "sometimes"}}, "expand_prompt"),
        ({"extra": {"num_images": "2"}}, "num_images"),
        ({"aspect_ratio": "21:9"}, "image_size"),
        ({"extra": {"image_size": "portrait_3_4"}}, "image_size"),
        ({"output_format": "png"}, "output_format"),
        ({"resolution": "1K"}, "resolution"),
        ({"image_urls": ("https://img.example/a.png",)}, "image_urls"),
        ({"extra": {"seed": "abc"}}, "seed"),
        ({"prompt": "x" * 5001}, "prompt"),
        ({"negative_prompt": "x" * 5001}, "negative_prompt"),
        ({"aspect_ratio": "16:9", "extra": {"image_size": "square"}}, "image_size"),
    ],
)
def test_live_refusals(entry: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(entry, LIVE, **{"prompt": "x", **fields}).parameter == parameter


def test_live_prompt_is_required(entry: ModelEntry) -> None:
    assert refused(entry, LIVE, aspect_ratio="1:1").parameter == "prompt"


# -- reference requests ------------------------------------------------------------------------------


def test_reference_create_body_matches_the_docs(registry: Registry, entry: ModelEntry) -> None:
    path, body = create(
        registry,
        entry,
        REFERENCE,
        prompt="modern logo design",
        num_images=2,
        extra={"rendering_speed": "QUALITY", "style": "DESIGN"},
    )
    assert path == "/api/v1/ideogram/v3-text-to-image"
    assert body == REPLIES["reference"]["create_body"]
    assert body["num_images"] == 2  # a number, not "2"


def test_reference_aspect_ratio_is_sent_as_is(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, REFERENCE, prompt="x", aspect_ratio="16:9", seed=5, negative_prompt="n")
    assert body == {"prompt": "x", "image_size": "16:9", "seed": 5, "negative_prompt": "n"}


def test_reference_defaults_are_left_to_the_service(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, REFERENCE, prompt="x")
    assert body == {"prompt": "x"}


def test_reference_style_is_case_insensitive(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, REFERENCE, prompt="x", extra={"style": "design", "expand_prompt": True})
    assert body == {"prompt": "x", "style": "DESIGN", "expand_prompt": True}


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 5}, "num_images"),
        ({"extra": {"style": "FICTION"}}, "style"),
        ({"image_urls": ("https://img.example/a.png",)}, "image_urls"),
        ({"callback_url": "https://me.example/cb"}, "callback_url"),
    ],
)
def test_reference_refusals(entry: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(entry, REFERENCE, **{"prompt": "x", **fields}).parameter == parameter
