"""Nano Banana Pro: conformance, the docs' example replies, and request mapping in both profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kiecore_nano_banana_pro import plugin

from kiecore.errors import ParseError
from kiecore.model import GenerationRequest, Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.testing.conformance import PluginConformance
from kiecore.testing.mapping import create_request as create
from kiecore.testing.mapping import refusal as refused
from kiecore.validation import resolve_params
from kiecore.wire import build_status_request

HERE = Path(__file__).parent
REPLIES: dict[str, dict[str, Any]] = json.loads((HERE / "replies" / "nano_banana_pro.json").read_text())
LIVE = Profile.LIVE
REFERENCE = Profile.REFERENCE
CALLBACK = "https://<your-host>/kie/cb"


class TestConformance(PluginConformance):
    plugin = plugin


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.from_plugins(plugin)
    assert not registry.failures
    return registry


@pytest.fixture(scope="module")
def entry(registry: Registry) -> ModelEntry:
    return registry.resolve("nano-banana-pro")


# -- packaging and names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nano-banana-pro", "nbp", "NBP", "google/nano-banana-pro"])
def test_names_resolve_to_the_model(registry: Registry, name: str) -> None:
    assert registry.resolve(name).spec.id == "nano-banana-pro"


def test_one_image_per_task(entry: ModelEntry) -> None:
    assert entry.spec.max_images == 1
    assert entry.spec.profiles() == (LIVE, REFERENCE)


# -- live replies ------------------------------------------------------------------------------------


def test_live_create_reply(registry: Registry, entry: ModelEntry) -> None:
    task_id = registry.parse_submit(entry, LIVE, REPLIES["live"]["create_reply"])
    assert task_id == "task_nano-banana-pro_1765178625768"


def test_live_running_reply_is_queued(registry: Registry, entry: ModelEntry) -> None:
    status = registry.parse_status(entry, LIVE, REPLIES["live"]["running"])
    assert status.state is TaskState.QUEUED
    assert status.progress is None  # market image tasks report no progress
    assert status.fail_code is None and status.fail_message is None


def test_live_generating_state_is_running(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["running"]
    generating = {**reply, "data": {**reply["data"], "state": "generating"}}
    assert registry.parse_status(entry, LIVE, generating).state is TaskState.RUNNING


def test_live_success_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["success"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.SUCCEEDED
    assert status.fail_code is None  # failCode "" on success
    assert registry.extract_urls(entry, LIVE, reply) == ("https://<cdn>/3f9c0d_0.png",)


def test_live_failure_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["failure"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.FAILED
    assert status.fail_code == "500"
    assert status.fail_message == "Internal server error"
    assert registry.extract_urls(entry, LIVE, reply) == ()


def test_record_not_visible_yet_is_not_a_status(registry: Registry, entry: ModelEntry) -> None:
    with pytest.raises(ParseError):
        registry.parse_status(entry, LIVE, REPLIES["live"]["not_visible"])


def test_market_callbacks(registry: Registry, entry: ModelEntry) -> None:
    ok = REPLIES["live"]["callback_ok"]
    assert registry.parse_status(entry, LIVE, ok).state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, LIVE, ok) == ("https://<cdn>/e98962_0.png",)
    fail = registry.parse_status(entry, LIVE, REPLIES["live"]["callback_fail"])
    assert fail.state is TaskState.FAILED
    assert (fail.fail_code, fail.fail_message) == ("500", "Internal server error")


# -- reference replies -------------------------------------------------------------------------------


def test_reference_create_reply_uses_task_id_snake_case(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["reference"]["create_reply"]
    assert "message" in reply and "taskId" not in reply["data"]
    assert registry.parse_submit(entry, REFERENCE, reply) == "task_xxxxxxx"


def test_reference_query_reply_with_message(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["reference"]["success"]
    status = registry.parse_status(entry, REFERENCE, reply)
    assert status.state is TaskState.SUCCEEDED
    assert registry.extract_urls(entry, REFERENCE, reply) == ("https://example.com/generated-image.jpg",)


# -- live requests -----------------------------------------------------------------------------------


def test_live_create_body_matches_the_docs(registry: Registry, entry: ModelEntry) -> None:
    path, body = create(
        registry,
        entry,
        LIVE,
        prompt="Comic poster of a banana hero",
        aspect_ratio="3:4",
        resolution="2K",
        output_format="png",
        callback_url=CALLBACK,
    )
    expected = json.loads(json.dumps(REPLIES["live"]["create_body"]))
    del expected["input"]["image_input"]  # the docs send an empty list; we leave unset lists out
    assert path == "/api/v1/jobs/createTask"
    assert body == expected


def test_live_defaults_are_left_to_the_service(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, LIVE, prompt="a fox")
    assert body == {"model": "nano-banana-pro", "input": {"prompt": "a fox"}}


def test_live_status_request(entry: ModelEntry) -> None:
    request = build_status_request(entry.spec, LIVE, "t1")
    assert (request.method, request.path, request.query) == ("GET", "/api/v1/jobs/recordInfo", (("taskId", "t1"),))


def test_live_image_urls_go_to_image_input(registry: Registry, entry: ModelEntry) -> None:
    urls = tuple(f"https://img.example/{i}.png" for i in range(8))
    _, body = create(registry, entry, LIVE, prompt="blend", image_urls=urls)
    assert body["input"]["image_input"] == list(urls)


def test_live_jpeg_is_sent_as_jpg(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, LIVE, prompt="x", output_format="jpeg")
    assert body["input"]["output_format"] == "jpg"


def test_live_choices_are_case_insensitive(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, LIVE, prompt="x", resolution="4k", aspect_ratio="AUTO")
    assert body["input"]["resolution"] == "4K"
    assert body["input"]["aspect_ratio"] == "auto"


def test_live_extras_by_wire_name(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, LIVE, prompt="x", extra={"aspect_ratio": "21:9", "resolution": "2K"})
    assert body["input"] == {"prompt": "x", "aspect_ratio": "21:9", "resolution": "2K"}


def test_one_image_is_no_error_but_two_are(entry: ModelEntry) -> None:
    assert resolve_params(entry.spec, LIVE, GenerationRequest(prompt="x", num_images=1)) == {"prompt": "x"}
    assert refused(entry, LIVE, prompt="x", num_images=2).parameter == "num_images"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"seed": 7}, "seed"),
        ({"negative_prompt": "blur"}, "negative_prompt"),
        ({"aspect_ratio": "9:21"}, "aspect_ratio"),
        ({"resolution": "hd"}, "resolution"),
        ({"output_format": "webp"}, "output_format"),
        ({"image_urls": tuple(f"https://img.example/{i}.png" for i in range(9))}, "image_input"),
        ({"image_urls": ("ftp://img.example/a.png",)}, "image_input"),
        ({"extra": {"input_resolution": "hd"}}, "input_resolution"),
    ],
)
def test_live_refusals(entry: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(entry, LIVE, **{"prompt": "x", **fields}).parameter == parameter


def test_live_prompt_is_required_and_bounded(entry: ModelEntry) -> None:
    assert refused(entry, LIVE, aspect_ratio="1:1").parameter == "prompt"
    assert resolve_params(entry.spec, LIVE, GenerationRequest(prompt="p" * 10000))["prompt"] == "p" * 10000
    assert refused(entry, LIVE, prompt="p" * 10001).parameter == "prompt"


# -- reference requests ------------------------------------------------------------------------------


def test_reference_create_body_matches_the_docs(registry: Registry, entry: ModelEntry) -> None:
    path, body = create(
        registry,
        entry,
        REFERENCE,
        prompt="cinematic poster cool banana hero in shades leaps from sci-fi pod",
        extra={"input_resolution": "hd"},
        output_format="png",
    )
    assert path == "/api/v2/jobs/createTask"
    assert body == REPLIES["reference"]["create_body"]


def test_reference_status_path_is_v1(entry: ModelEntry) -> None:
    assert build_status_request(entry.spec, REFERENCE, "t1").path == "/api/v1/jobs/recordInfo"


def test_reference_names_and_callback_key(registry: Registry, entry: ModelEntry) -> None:
    urls = tuple(f"https://img.example/{i}.gif" for i in range(4))
    _, body = create(
        registry,
        entry,
        REFERENCE,
        prompt="hero",
        image_urls=urls,
        aspect_ratio="9:21",
        resolution="4K",
        output_format="jpeg",
        callback_url="https://me.example/cb",
    )
    assert body == {
        "model": "nano-banana-pro",
        "callbackUrl": "https://me.example/cb",
        "input": {
            "input_prompt": "hero",
            "input_image_input": list(urls),
            "input_aspect_ratio": "9:21",
            "input_resolution": "4k",
            "input_output_format": "jpg",
        },
    }
    assert "callBackUrl" not in body


def test_reference_accepts_webp(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, REFERENCE, prompt="x", output_format="webp")
    assert body["input"]["input_output_format"] == "webp"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"aspect_ratio": "auto"}, "input_aspect_ratio"),
        ({"aspect_ratio": "4:5"}, "input_aspect_ratio"),
        ({"resolution": "2K"}, "input_resolution"),
        ({"output_format": "gif"}, "input_output_format"),
        ({"image_urls": tuple(f"https://img.example/{i}.png" for i in range(5))}, "input_image_input"),
        ({"seed": 1}, "seed"),
        ({"extra": {"resolution": "2K"}}, "resolution"),
    ],
)
def test_reference_refusals(entry: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(entry, REFERENCE, **{"prompt": "x", **fields}).parameter == parameter


def test_reference_prompt_is_required(entry: ModelEntry) -> None:
    assert refused(entry, REFERENCE, output_format="png").parameter == "input_prompt"
