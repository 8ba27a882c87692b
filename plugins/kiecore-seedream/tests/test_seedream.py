"""Seedream 4.0 (+ edit): conformance, the docs' example replies, and request mapping in both profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kiecore_seedream import plugin

from kiecore.errors import ParseError
from kiecore.model import GenerationRequest, Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.testing.conformance import PluginConformance
from kiecore.testing.mapping import create_request as create
from kiecore.testing.mapping import refusal as refused
from kiecore.validation import resolve_params
from kiecore.wire import build_status_request

HERE = Path(__file__).parent
REPLIES: dict[str, dict[str, Any]] = json.loads((HERE / "replies" / "seedream.json").read_text())
LIVE = Profile.LIVE
REFERENCE = Profile.REFERENCE
T2I = "bytedance/seedream-v4-text-to-image"
EDIT = "bytedance/seedream-v4-edit"
URLS = tuple(f"https://img.example/{i}.png" for i in range(11))


class TestConformance(PluginConformance):
    plugin = plugin


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.from_plugins(plugin)
    assert not registry.failures
    return registry


@pytest.fixture(scope="module")
def seedream(registry: Registry) -> ModelEntry:
    return registry.resolve(T2I)


@pytest.fixture(scope="module")
def edit(registry: Registry) -> ModelEntry:
    return registry.resolve(EDIT)


# -- packaging and names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        (T2I, T2I),
        ("seedream", T2I),
        ("seedream-v4", T2I),
        ("Seedream-V4", T2I),
        ("seedream-v4-text-to-image", T2I),
        (EDIT, EDIT),
        ("seedream-v4-edit", EDIT),
        ("seedream-edit", EDIT),
    ],
)
def test_names_resolve_to_the_model(registry: Registry, name: str, model_id: str) -> None:
    assert registry.resolve(name).spec.id == model_id


def test_profiles_and_image_counts(seedream: ModelEntry, edit: ModelEntry) -> None:
    assert seedream.spec.profiles() == (LIVE, REFERENCE)
    assert edit.spec.profiles() == (LIVE,)  # the reference does not describe the edit model
    assert seedream.spec.max_images == edit.spec.max_images == 6


# -- live replies ------------------------------------------------------------------------------------


def test_live_create_reply(registry: Registry, seedream: ModelEntry) -> None:
    assert registry.parse_submit(seedream, LIVE, REPLIES["live"]["create_reply"]) == "task_bytedance_1765176547151"


def test_live_waiting_reply_is_queued(registry: Registry, seedream: ModelEntry) -> None:
    reply = REPLIES["live"]["running"]
    status = registry.parse_status(seedream, LIVE, reply)
    assert status.state is TaskState.QUEUED
    assert status.progress is None
    assert status.fail_code is None and status.fail_message is None
    assert registry.extract_urls(seedream, LIVE, reply) == ()


def test_live_generating_state_is_running(registry: Registry, seedream: ModelEntry) -> None:
    reply = REPLIES["live"]["running"]
    generating = {**reply, "data": {**reply["data"], "state": "generating"}}
    assert registry.parse_status(seedream, LIVE, generating).state is TaskState.RUNNING


def test_live_success_reply_with_two_images(registry: Registry, seedream: ModelEntry) -> None:
    reply = REPLIES["live"]["success"]
    status = registry.parse_status(seedream, LIVE, reply)
    assert status.state is TaskState.SUCCEEDED
    assert status.fail_code is None
    assert registry.extract_urls(seedream, LIVE, reply) == ("https://<cdn>/a_0.jpeg", "https://<cdn>/a_1.jpeg")


def test_live_failure_reply(registry: Registry, edit: ModelEntry) -> None:
    reply = REPLIES["live"]["failure"]
    status = registry.parse_status(edit, LIVE, reply)
    assert status.state is TaskState.FAILED
    assert status.fail_code == "422"
    assert status.fail_message == "Invalid prompt: prompt contains prohibited content"
    assert registry.extract_urls(edit, LIVE, reply) == ()


def test_live_callbacks(registry: Registry, seedream: ModelEntry) -> None:
    ok = REPLIES["live"]["callback_ok"]
    assert registry.parse_status(seedream, LIVE, ok).state is TaskState.SUCCEEDED
    assert registry.extract_urls(seedream, LIVE, ok) == ("https://<cdn>/e98962_0.png",)
    fail = registry.parse_status(seedream, LIVE, REPLIES["live"]["callback_fail"])
    assert (fail.state, fail.fail_code, fail.fail_message) == (TaskState.FAILED, "500", "Internal server error")


def test_record_not_visible_yet_is_not_a_status(registry: Registry, seedream: ModelEntry) -> None:
    with pytest.raises(ParseError):
        registry.parse_status(seedream, LIVE, REPLIES["live"]["not_visible"])


# -- reference replies -------------------------------------------------------------------------------


def test_reference_replies(registry: Registry, seedream: ModelEntry) -> None:
    replies = REPLIES["reference"]
    assert registry.parse_submit(seedream, REFERENCE, replies["create_reply"]) == "task_seedream_ref_1"
    processing = registry.parse_status(seedream, REFERENCE, replies["processing"])
    assert (processing.state, processing.progress) == (TaskState.RUNNING, 0.3)
    assert registry.parse_status(seedream, REFERENCE, replies["completed"]).state is TaskState.SUCCEEDED
    assert registry.extract_urls(seedream, REFERENCE, replies["completed"]) == ("https://<cdn>/sd_0.png",)
    assert registry.extract_urls(seedream, REFERENCE, replies["completed_several"]) == (
        "https://<cdn>/sd_0.png",
        "https://<cdn>/sd_1.png",
    )
    assert registry.parse_status(seedream, REFERENCE, replies["failed"]).state is TaskState.FAILED


# -- live requests -----------------------------------------------------------------------------------


def test_live_create_body_matches_the_docs(registry: Registry, seedream: ModelEntry) -> None:
    path, body = create(
        registry,
        seedream,
        LIVE,
        prompt="Two product shots of a blue thermos",
        aspect_ratio="4:3",
        resolution="2K",
        num_images=2,
        seed=50331296,
    )
    assert path == "/api/v1/jobs/createTask"
    assert body == REPLIES["live"]["create_body"]


def test_live_defaults_are_left_to_the_service(registry: Registry, seedream: ModelEntry) -> None:
    _, body = create(registry, seedream, LIVE, prompt="a fox")
    assert body == {"model": T2I, "input": {"prompt": "a fox"}}


def test_live_status_request(seedream: ModelEntry) -> None:
    request = build_status_request(seedream.spec, LIVE, "t1")
    assert (request.method, request.path, request.query) == ("GET", "/api/v1/jobs/recordInfo", (("taskId", "t1"),))


@pytest.mark.parametrize(
    ("ratio", "preset"),
    [
        ("1:1", "square_hd"),
        ("4:3", "landscape_4_3"),
        ("3:4", "portrait_4_3"),
        ("3:2", "landscape_3_2"),
        ("2:3", "portrait_3_2"),
        ("16:9", "landscape_16_9"),
        ("9:16", "portrait_16_9"),
        ("21:9", "landscape_21_9"),
    ],
)
def test_live_aspect_ratios_become_size_presets(
    registry: Registry, seedream: ModelEntry, ratio: str, preset: str
) -> None:
    _, body = create(registry, seedream, LIVE, prompt="x", aspect_ratio=ratio)
    assert body["input"] == {"prompt": "x", "image_size": preset}


def test_live_presets_pass_through_by_wire_name(registry: Registry, seedream: ModelEntry) -> None:
    _, body = create(registry, seedream, LIVE, prompt="x", extra={"image_size": "SQUARE", "nsfw_checker": "yes"})
    assert body["input"] == {"prompt": "x", "image_size": "square", "nsfw_checker": True}
    _, body = create(registry, seedream, LIVE, prompt="x", aspect_ratio="landscape_16_9")
    assert body["input"]["image_size"] == "landscape_16_9"


def test_live_six_images_are_accepted_seven_refused(seedream: ModelEntry, edit: ModelEntry) -> None:
    for entry in (seedream, edit):
        extra = {"image_urls": URLS[:1]} if entry is edit else {}
        params = resolve_params(entry.spec, LIVE, GenerationRequest(prompt="six cats", num_images=6, **extra))
        assert params["max_images"] == 6
        error = refused(entry, LIVE, prompt="seven cats", num_images=7, **extra)
        assert error.parameter == "max_images"
        assert "1..6" in str(error)


def test_live_edit_body(registry: Registry, edit: ModelEntry) -> None:
    _, body = create(
        registry, edit, LIVE, prompt="swap the background", image_urls=URLS[:10], aspect_ratio="9:16", resolution="4K"
    )
    assert body == {
        "model": EDIT,
        "input": {
            "prompt": "swap the background",
            "image_urls": list(URLS[:10]),
            "image_size": "portrait_16_9",
            "image_resolution": "4K",
        },
    }


def test_live_edit_needs_one_to_ten_images(edit: ModelEntry) -> None:
    assert refused(edit, LIVE, prompt="x").parameter == "image_urls"
    assert refused(edit, LIVE, prompt="x", image_urls=URLS).parameter == "image_urls"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"num_images": 0}, "max_images"),
        ({"aspect_ratio": "5:4"}, "image_size"),
        ({"aspect_ratio": "auto"}, "image_size"),
        ({"resolution": "8K"}, "image_resolution"),
        ({"negative_prompt": "blur"}, "negative_prompt"),
        ({"output_format": "png"}, "output_format"),
        ({"image_urls": URLS[:1]}, "image_urls"),  # text-to-image takes no images
        ({"extra": {"seed": "lucky"}}, "seed"),
        ({"extra": {"max_images": 2}, "num_images": 2}, "max_images"),  # given twice
        ({"prompt": "p" * 5001}, "prompt"),
    ],
)
def test_live_refusals(seedream: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(seedream, LIVE, **{"prompt": "x", **fields}).parameter == parameter


def test_live_prompt_is_required(seedream: ModelEntry, edit: ModelEntry) -> None:
    assert refused(seedream, LIVE, aspect_ratio="1:1").parameter == "prompt"
    assert refused(edit, LIVE, image_urls=URLS[:1]).parameter == "prompt"


# -- reference requests ------------------------------------------------------------------------------


def test_reference_create_body_is_flat_on_its_own_path(registry: Registry, seedream: ModelEntry) -> None:
    path, body = create(
        registry,
        seedream,
        REFERENCE,
        prompt="Two product shots of a blue thermos",
        aspect_ratio="16:9",
        resolution="4K",
        num_images=6,
        seed=7,
    )
    assert path == "/api/v1/bytedance/seedream-v4-text-to-image"
    assert body == {
        "prompt": "Two product shots of a blue thermos",
        "image_size": "16:9",  # an aspect-ratio string in the reference, not a preset
        "image_resolution": "4K",
        "max_images": 6,
        "seed": 7,
    }


def test_reference_defaults_are_left_to_the_service(registry: Registry, seedream: ModelEntry) -> None:
    _, body = create(registry, seedream, REFERENCE, prompt="a fox")
    assert body == {"prompt": "a fox"}


def test_reference_status_request(seedream: ModelEntry) -> None:
    request = build_status_request(seedream.spec, REFERENCE, "t1")
    assert (request.path, request.query) == (
        "/api/v1/bytedance/seedream-v4-text-to-image/record-info",
        (("taskId", "t1"),),
    )


def test_edit_has_no_reference_profile(edit: ModelEntry) -> None:
    assert refused(edit, REFERENCE, prompt="x", image_urls=URLS[:1]).parameter == "profile"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"num_images": 7}, "max_images"),
        ({"resolution": "8K"}, "image_resolution"),
        ({"callback_url": "https://me.example/cb"}, "callback_url"),
        ({"extra": {"nsfw_checker": True}}, "nsfw_checker"),
        ({"image_urls": URLS[:1]}, "image_urls"),
        ({"prompt": "p" * 5001}, "prompt"),
    ],
)
def test_reference_refusals(seedream: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(seedream, REFERENCE, **{"prompt": "x", **fields}).parameter == parameter
