"""Nano Banana (+ edit): conformance, the docs' example replies, and request mapping in both profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kiecore_nano_banana import plugin

from kiecore.errors import ParseError
from kiecore.model import GenerationRequest, Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.testing.conformance import PluginConformance
from kiecore.testing.mapping import create_request as create
from kiecore.testing.mapping import refusal as refused
from kiecore.validation import resolve_params
from kiecore.wire import build_status_request

HERE = Path(__file__).parent
REPLIES: dict[str, dict[str, Any]] = json.loads((HERE / "replies" / "nano_banana.json").read_text())
LIVE = Profile.LIVE
REFERENCE = Profile.REFERENCE
CALLBACK = "https://<your-host>/kie/cb"
URLS = tuple(f"https://img.example/{i}.png" for i in range(11))


class TestConformance(PluginConformance):
    plugin = plugin


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.from_plugins(plugin)
    assert not registry.failures
    return registry


@pytest.fixture(scope="module")
def banana(registry: Registry) -> ModelEntry:
    return registry.resolve("google/nano-banana")


@pytest.fixture(scope="module")
def edit(registry: Registry) -> ModelEntry:
    return registry.resolve("google/nano-banana-edit")


# -- packaging and names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("google/nano-banana", "google/nano-banana"),
        ("nano-banana", "google/nano-banana"),
        ("Nano-Banana", "google/nano-banana"),
        ("google/nano-banana-edit", "google/nano-banana-edit"),
        ("nano-banana-edit", "google/nano-banana-edit"),
    ],
)
def test_names_resolve_to_the_model(registry: Registry, name: str, model_id: str) -> None:
    assert registry.resolve(name).spec.id == model_id


def test_profiles_and_image_counts(banana: ModelEntry, edit: ModelEntry) -> None:
    assert banana.spec.profiles() == (LIVE, REFERENCE)
    assert edit.spec.profiles() == (LIVE,)  # the reference does not describe the edit model
    assert banana.spec.max_images == edit.spec.max_images == 1


# -- live replies ------------------------------------------------------------------------------------


def test_live_create_reply(registry: Registry, banana: ModelEntry) -> None:
    assert registry.parse_submit(banana, LIVE, REPLIES["live"]["create_reply"]) == "task_google_1765178608584"


def test_live_running_reply(registry: Registry, banana: ModelEntry) -> None:
    reply = REPLIES["live"]["running"]
    status = registry.parse_status(banana, LIVE, reply)
    assert status.state is TaskState.RUNNING
    assert status.progress is None  # market image tasks report no progress
    assert status.fail_code is None and status.fail_message is None
    assert registry.extract_urls(banana, LIVE, reply) == ()


@pytest.mark.parametrize("state", ["waiting", "queuing"])
def test_live_waiting_states_are_queued(registry: Registry, banana: ModelEntry, state: str) -> None:
    reply = REPLIES["live"]["running"]
    assert registry.parse_status(banana, LIVE, {**reply, "data": {**reply["data"], "state": state}}).state is (
        TaskState.QUEUED
    )


def test_live_success_reply(registry: Registry, edit: ModelEntry) -> None:
    reply = REPLIES["live"]["success"]
    status = registry.parse_status(edit, LIVE, reply)
    assert status.state is TaskState.SUCCEEDED
    assert status.fail_code is None  # failCode "" on success
    assert registry.extract_urls(edit, LIVE, reply) == ("https://<cdn>/nb_0.png",)


def test_live_failure_reply(registry: Registry, banana: ModelEntry) -> None:
    reply = REPLIES["live"]["failure"]
    status = registry.parse_status(banana, LIVE, reply)
    assert (status.state, status.fail_code, status.fail_message) == (TaskState.FAILED, "500", "Internal server error")
    assert registry.extract_urls(banana, LIVE, reply) == ()


def test_live_callbacks(registry: Registry, banana: ModelEntry) -> None:
    ok = REPLIES["live"]["callback_ok"]
    assert registry.parse_status(banana, LIVE, ok).state is TaskState.SUCCEEDED
    assert registry.extract_urls(banana, LIVE, ok) == ("https://<cdn>/e98962_0.png",)
    fail = registry.parse_status(banana, LIVE, REPLIES["live"]["callback_fail"])
    assert (fail.state, fail.fail_code, fail.fail_message) == (TaskState.FAILED, "500", "Internal server error")


def test_record_not_visible_yet_is_not_a_status(registry: Registry, banana: ModelEntry) -> None:
    with pytest.raises(ParseError):
        registry.parse_status(banana, LIVE, REPLIES["live"]["not_visible"])


# -- reference replies -------------------------------------------------------------------------------


def test_reference_replies(registry: Registry, banana: ModelEntry) -> None:
    replies = REPLIES["reference"]
    assert registry.parse_submit(banana, REFERENCE, replies["create_reply"]) == "task_nb_ref_1"
    assert registry.parse_status(banana, REFERENCE, replies["pending"]).state is TaskState.QUEUED
    processing = registry.parse_status(banana, REFERENCE, replies["processing"])
    assert (processing.state, processing.progress) == (TaskState.RUNNING, 0.6)
    assert registry.parse_status(banana, REFERENCE, replies["completed"]).state is TaskState.SUCCEEDED
    assert registry.extract_urls(banana, REFERENCE, replies["completed"]) == ("https://<cdn>/nb_ref.png",)
    assert registry.parse_status(banana, REFERENCE, replies["failed"]).state is TaskState.FAILED


# -- live requests -----------------------------------------------------------------------------------


def test_live_create_body_matches_the_docs(registry: Registry, banana: ModelEntry) -> None:
    # The docs' example uses the older size key, reachable as -p image_size=...
    path, body = create(
        registry,
        banana,
        LIVE,
        prompt="A banana astronaut",
        output_format="png",
        extra={"image_size": "16:9"},
        callback_url=CALLBACK,
    )
    assert path == "/api/v1/jobs/createTask"
    assert body == REPLIES["live"]["create_body"]


def test_live_common_aspect_ratio_goes_to_the_2026_key(registry: Registry, banana: ModelEntry) -> None:
    _, body = create(registry, banana, LIVE, prompt="A banana astronaut", aspect_ratio="16:9")
    assert body == {"model": "google/nano-banana", "input": {"prompt": "A banana astronaut", "aspect_ratio": "16:9"}}
    assert "image_size" not in body["input"]


def test_live_neither_size_key_is_sent_by_default(registry: Registry, banana: ModelEntry) -> None:
    _, body = create(registry, banana, LIVE, prompt="a fox")
    assert body == {"model": "google/nano-banana", "input": {"prompt": "a fox"}}


def test_live_status_request(banana: ModelEntry) -> None:
    request = build_status_request(banana.spec, LIVE, "t1")
    assert (request.method, request.path, request.query) == ("GET", "/api/v1/jobs/recordInfo", (("taskId", "t1"),))


def test_live_jpg_is_sent_as_jpeg_and_choices_fold_case(registry: Registry, banana: ModelEntry) -> None:
    _, body = create(registry, banana, LIVE, prompt="x", output_format="jpg", aspect_ratio="AUTO")
    assert body["input"] == {"prompt": "x", "output_format": "jpeg", "aspect_ratio": "auto"}


def test_live_nsfw_checker(registry: Registry, banana: ModelEntry) -> None:
    _, body = create(registry, banana, LIVE, prompt="x", extra={"nsfw_checker": "true"})
    assert body["input"]["nsfw_checker"] is True


def test_live_edit_body(registry: Registry, edit: ModelEntry) -> None:
    _, body = create(
        registry, edit, LIVE, prompt="add a hat", image_urls=URLS[:10], aspect_ratio="4:5", callback_url=CALLBACK
    )
    assert body == {
        "model": "google/nano-banana-edit",
        "callBackUrl": CALLBACK,
        "input": {"prompt": "add a hat", "image_urls": list(URLS[:10]), "aspect_ratio": "4:5"},
    }


def test_live_edit_refuses_a_request_without_image_urls(edit: ModelEntry) -> None:
    error = refused(edit, LIVE, prompt="add a hat")
    assert error.parameter == "image_urls"
    assert "image_urls" in str(error)


def test_live_edit_refuses_more_than_ten_images(edit: ModelEntry) -> None:
    assert refused(edit, LIVE, prompt="x", image_urls=URLS).parameter == "image_urls"


def test_one_image_is_no_error_but_two_are(banana: ModelEntry) -> None:
    assert resolve_params(banana.spec, LIVE, GenerationRequest(prompt="x", num_images=1)) == {"prompt": "x"}
    assert refused(banana, LIVE, prompt="x", num_images=2).parameter == "num_images"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"image_urls": URLS[:1]}, "image_urls"),  # text-to-image takes no images
        ({"seed": 7}, "seed"),
        ({"negative_prompt": "blur"}, "negative_prompt"),
        ({"resolution": "2K"}, "resolution"),
        ({"aspect_ratio": "9:21"}, "aspect_ratio"),
        ({"output_format": "webp"}, "output_format"),
        ({"extra": {"image_size": "square_hd"}}, "image_size"),
        ({"extra": {"nsfw_checker": "sometimes"}}, "nsfw_checker"),
        ({"prompt": "p" * 5001}, "prompt"),
    ],
)
def test_live_refusals(banana: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(banana, LIVE, **{"prompt": "x", **fields}).parameter == parameter


def test_live_prompt_is_required_and_bounded(banana: ModelEntry, edit: ModelEntry) -> None:
    assert refused(banana, LIVE, aspect_ratio="1:1").parameter == "prompt"
    assert refused(edit, LIVE, image_urls=URLS[:1]).parameter == "prompt"
    assert resolve_params(banana.spec, LIVE, GenerationRequest(prompt="p" * 5000))["prompt"] == "p" * 5000


# -- reference requests ------------------------------------------------------------------------------


def test_reference_create_body_is_flat(registry: Registry, banana: ModelEntry) -> None:
    path, body = create(
        registry, banana, REFERENCE, prompt="A banana astronaut", aspect_ratio="16:9", output_format="jpeg"
    )
    assert path == "/api/v1/jobs/createTask"
    assert body == {
        "model": "google/nano-banana",
        "prompt": "A banana astronaut",
        "output_format": "jpeg",
        "image_size": "16:9",
    }


def test_reference_status_request(banana: ModelEntry) -> None:
    assert build_status_request(banana.spec, REFERENCE, "t1").path == "/api/v1/jobs/recordInfo"


def test_edit_has_no_reference_profile(edit: ModelEntry) -> None:
    assert refused(edit, REFERENCE, prompt="x", image_urls=URLS[:1]).parameter == "profile"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"callback_url": "https://me.example/cb"}, "callback_url"),
        ({"image_urls": URLS[:1]}, "image_urls"),
        ({"seed": 1}, "seed"),
        ({"aspect_ratio": "9:21"}, "image_size"),
        ({"extra": {"nsfw_checker": True}}, "nsfw_checker"),
        ({"extra": {"aspect_ratio": "1:1"}}, "aspect_ratio"),
    ],
)
def test_reference_refusals(banana: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(banana, REFERENCE, **{"prompt": "x", **fields}).parameter == parameter


def test_reference_prompt_is_required(banana: ModelEntry) -> None:
    assert refused(banana, REFERENCE, output_format="png").parameter == "prompt"
