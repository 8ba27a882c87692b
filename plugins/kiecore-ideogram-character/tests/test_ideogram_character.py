"""Ideogram Character: conformance, the docs' example replies (live and reference), and request mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kiecore_ideogram_character import plugin

from kiecore.model import Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.testing.conformance import PluginConformance
from kiecore.testing.mapping import create_request as create
from kiecore.testing.mapping import refusal as refused
from kiecore.wire import build_status_request

HERE = Path(__file__).parent
REPLIES: dict[str, dict[str, Any]] = json.loads((HERE / "replies" / "ideogram_character.json").read_text())
LIVE = Profile.LIVE
REFERENCE = Profile.REFERENCE
MODEL_ID = "ideogram/character"
TASK_ID = "task_ideogram_1765179922911"
REF = "https://img.example/ref.webp"


class TestConformance(PluginConformance):
    plugin = plugin


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.from_plugins(plugin)
    assert not registry.failures
    return registry


@pytest.fixture(scope="module")
def entry(registry: Registry) -> ModelEntry:
    return registry.resolve("ideogram-character")


def live_input(registry: Registry, entry: ModelEntry, **fields: Any) -> dict[str, Any]:
    path, body = create(registry, entry, LIVE, **fields)
    assert path == "/api/v1/jobs/createTask"
    assert body["model"] == MODEL_ID
    return dict(body["input"])


# -- packaging and names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [MODEL_ID, "ideogram-character", "Ideogram-Character"])
def test_names_resolve_to_the_model(registry: Registry, name: str) -> None:
    assert registry.resolve(name).spec.id == MODEL_ID


def test_profiles_and_image_count(entry: ModelEntry) -> None:
    assert entry.spec.profiles() == (LIVE, REFERENCE)
    assert entry.spec.max_images == 4


# -- live replies ------------------------------------------------------------------------------------


def test_live_create_reply(registry: Registry, entry: ModelEntry) -> None:
    assert registry.parse_submit(entry, LIVE, REPLIES["live"]["create_reply"]) == TASK_ID


def test_live_running_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["running"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.QUEUED  # "waiting"
    assert status.progress is None
    assert status.fail_code is None and status.fail_message is None
    assert registry.extract_urls(entry, LIVE, reply) == ()


def test_live_success_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["success"]
    assert registry.parse_status(entry, LIVE, reply).state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, LIVE, reply) == ("https://<cdn>/c/1.png", "https://<cdn>/c/2.png")


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
    assert failed.fail_message == "Internal server error"


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
    assert registry.parse_status(entry, REFERENCE, replies["completed"]).state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, REFERENCE, replies["completed"]) == ("https://<cdn>/abc123.png",)
    assert registry.parse_status(entry, REFERENCE, replies["failed"]).state is TaskState.FAILED


def test_reference_status_path(entry: ModelEntry) -> None:
    assert build_status_request(entry.spec, REFERENCE, "abc123").path == "/api/v1/ideogram/character/record-info"


# -- live requests -----------------------------------------------------------------------------------


def test_live_create_body_matches_the_docs(registry: Registry, entry: ModelEntry) -> None:
    path, body = create(
        registry,
        entry,
        LIVE,
        prompt="The woman from the reference reading in a garden",
        image_urls=("https://<host>/ref.webp",),
        num_images=2,
        aspect_ratio="3:4",
        extra={"rendering_speed": "TURBO", "style": "REALISTIC"},
    )
    assert path == "/api/v1/jobs/createTask"
    assert body == REPLIES["live"]["create_body"]
    assert body["input"]["num_images"] == "2"
    assert body["input"]["image_size"] == "portrait_4_3"


def test_live_minimal_body_leaves_defaults_to_the_service(registry: Registry, entry: ModelEntry) -> None:
    assert live_input(registry, entry, prompt="x", image_urls=(REF,)) == {"prompt": "x", "reference_image_urls": [REF]}


def test_live_documented_defaults(entry: ModelEntry) -> None:
    live = entry.spec.live
    assert {name: getattr(live.param(name), "default", None) for name in ("rendering_speed", "image_size")} == {
        "rendering_speed": "BALANCED",
        "image_size": "square_hd",
    }


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_live_num_images_as_a_string(registry: Registry, entry: ModelEntry, count: int) -> None:
    assert live_input(registry, entry, prompt="x", image_urls=(REF,), num_images=count)["num_images"] == str(count)


@pytest.mark.parametrize(
    ("ratio", "preset"),
    [("1:1", "square_hd"), ("4:3", "landscape_4_3"), ("3:4", "portrait_4_3"), ("16:9", "landscape_16_9"),
     ("9:16", "portrait_16_9"), ("square", "square")],
)  # fmt: skip
def test_live_aspect_ratio_becomes_a_preset(registry: Registry, entry: ModelEntry, ratio: str, preset: str) -> None:
    assert live_input(registry, entry, prompt="x", image_urls=(REF,), aspect_ratio=ratio)["image_size"] == preset


@pytest.mark.parametrize(("given", "sent"), [("fiction", "FICTION"), ("Auto", "AUTO"), ("REALISTIC", "REALISTIC")])
def test_live_style_fiction_and_case(registry: Registry, entry: ModelEntry, given: str, sent: str) -> None:
    assert live_input(registry, entry, prompt="x", image_urls=(REF,), extra={"style": given})["style"] == sent


def test_live_all_options(registry: Registry, entry: ModelEntry) -> None:
    params = live_input(
        registry,
        entry,
        prompt="x",
        image_urls=(REF,),
        seed=3,
        negative_prompt="hats",
        extra={"expand_prompt": "no", "rendering_speed": "quality", "image_size": "landscape_4_3"},
    )
    assert params == {
        "prompt": "x",
        "reference_image_urls": [REF],
        "rendering_speed": "QUALITY",
        "expand_prompt": False,
        "image_size": "landscape_4_3",
        "seed": 3,
        "negative_prompt": "hats",
    }


def test_live_reference_image_as_a_model_option(registry: Registry, entry: ModelEntry) -> None:
    assert live_input(registry, entry, prompt="x", extra={"reference_image_urls": REF})["reference_image_urls"] == [REF]


def test_live_reference_image_is_required(entry: ModelEntry) -> None:
    error = refused(entry, LIVE, prompt="x")
    assert error.parameter == "reference_image_urls"
    assert "required" in str(error)


def test_live_only_one_reference_image(entry: ModelEntry) -> None:
    error = refused(entry, LIVE, prompt="x", image_urls=(REF, "https://img.example/second.png"))
    assert error.parameter == "reference_image_urls"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"extra": {"style": "DESIGN"}}, "style"),
        ({"extra": {"style": "GENERAL"}}, "style"),
        ({"extra": {"rendering_speed": "SLOW"}}, "rendering_speed"),
        ({"num_images": 0}, "num_images"),
        ({"num_images": 5}, "num_images"),
        ({"extra": {"num_images": "many"}}, "num_images"),
        ({"aspect_ratio": "2:3"}, "image_size"),
        ({"image_urls": ("ref.webp",)}, "reference_image_urls"),
        ({"output_format": "png"}, "output_format"),
        ({"resolution": "2K"}, "resolution"),
        ({"prompt": "x" * 5001}, "prompt"),
        ({"extra": {"strength": 0.5}}, "strength"),
    ],
)
def test_live_refusals(entry: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(entry, LIVE, **{"prompt": "x", "image_urls": (REF,), **fields}).parameter == parameter


def test_live_prompt_is_required(entry: ModelEntry) -> None:
    assert refused(entry, LIVE, image_urls=(REF,)).parameter == "prompt"


# -- reference requests ------------------------------------------------------------------------------


def test_reference_accepts_no_reference_image(registry: Registry, entry: ModelEntry) -> None:
    path, body = create(registry, entry, REFERENCE, prompt="a knight")
    assert path == "/api/v1/ideogram/character"
    assert body == {"prompt": "a knight"}


def test_reference_create_body(registry: Registry, entry: ModelEntry) -> None:
    second = "https://img.example/second.png"
    _, body = create(
        registry,
        entry,
        REFERENCE,
        prompt="a knight",
        image_urls=(REF, second),
        num_images=2,
        aspect_ratio="16:9",
        seed=11,
        negative_prompt="armour",
        extra={"style": "fiction", "rendering_speed": "TURBO", "expand_prompt": False},
    )
    assert body == {
        "prompt": "a knight",
        "rendering_speed": "TURBO",
        "style": "FICTION",
        "image_size": "16:9",
        "num_images": 2,
        "expand_prompt": False,
        "seed": 11,
        "negative_prompt": "armour",
        "reference_image_urls": [REF, second],
    }


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"extra": {"style": "DESIGN"}}, "style"),
        ({"num_images": 5}, "num_images"),
        ({"image_urls": ("not a url",)}, "reference_image_urls"),
        ({"callback_url": "https://me.example/cb"}, "callback_url"),
        ({"output_format": "jpeg"}, "output_format"),
    ],
)
def test_reference_refusals(entry: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(entry, REFERENCE, **{"prompt": "x", **fields}).parameter == parameter
