"""Flux Kontext Pro / Max: conformance, the docs' example replies, and request mapping in both profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kiecore_flux_kontext import plugin

from kiecore.errors import ParseError
from kiecore.model import GenerationRequest, Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.testing.conformance import PluginConformance
from kiecore.testing.mapping import create_request as create
from kiecore.testing.mapping import refusal as refused
from kiecore.validation import resolve_params
from kiecore.wire import build_status_request

HERE = Path(__file__).parent
REPLIES: dict[str, dict[str, Any]] = json.loads((HERE / "replies" / "flux_kontext.json").read_text())
LIVE = Profile.LIVE
REFERENCE = Profile.REFERENCE
CALLBACK = "https://<your-host>/kie/cb"
IMAGE = "https://img.example/cabin.png"


class TestConformance(PluginConformance):
    plugin = plugin


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.from_plugins(plugin)
    assert not registry.failures
    return registry


@pytest.fixture(scope="module")
def pro(registry: Registry) -> ModelEntry:
    return registry.resolve("flux-kontext-pro")


@pytest.fixture(scope="module")
def max_(registry: Registry) -> ModelEntry:
    return registry.resolve("flux-kontext-max")


def with_data(reply: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**reply, "data": {**reply["data"], **changes}}


# -- packaging and names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("flux-kontext-pro", "flux-kontext-pro"),
        ("flux-kontext", "flux-kontext-pro"),
        ("flux-pro", "flux-kontext-pro"),
        ("kontext-pro", "flux-kontext-pro"),
        ("Flux-Pro", "flux-kontext-pro"),
        ("flux-kontext-max", "flux-kontext-max"),
        ("flux-max", "flux-kontext-max"),
        ("kontext-max", "flux-kontext-max"),
    ],
)
def test_names_resolve_to_the_model(registry: Registry, name: str, model_id: str) -> None:
    assert registry.resolve(name).spec.id == model_id


def test_one_image_per_task_in_both_profiles(pro: ModelEntry, max_: ModelEntry) -> None:
    for entry in (pro, max_):
        assert entry.spec.max_images == 1
        assert entry.spec.profiles() == (LIVE, REFERENCE)


# -- live replies ------------------------------------------------------------------------------------


def test_live_create_reply(registry: Registry, pro: ModelEntry) -> None:
    assert registry.parse_submit(pro, LIVE, REPLIES["live"]["create_reply"]) == "fluxkontext_7c1e..."


def test_live_running_reply(registry: Registry, pro: ModelEntry) -> None:
    reply = REPLIES["live"]["running"]
    status = registry.parse_status(pro, LIVE, reply)
    assert status.state is TaskState.RUNNING
    assert status.progress is None  # Flux reports no progress
    assert status.fail_code is None and status.fail_message is None
    assert registry.extract_urls(pro, LIVE, reply) == ()  # response is null while running


def test_live_success_gives_the_result_image_only(registry: Registry, pro: ModelEntry) -> None:
    reply = REPLIES["live"]["success"]
    status = registry.parse_status(pro, LIVE, reply)
    assert status.state is TaskState.SUCCEEDED
    assert registry.extract_urls(pro, LIVE, reply) == ("https://<cdn>/xyz.jpg",)


def test_live_origin_image_url_is_never_a_result(registry: Registry, pro: ModelEntry) -> None:
    success = REPLIES["live"]["success"]
    origin_only = with_data(success, response={"originImageUrl": "https://<bfl-host>/o.png"})
    assert registry.extract_urls(pro, LIVE, origin_only) == ()


@pytest.mark.parametrize(("flag", "code"), [(2, "400"), (3, "501")])
def test_live_success_flags_2_and_3_are_failures(registry: Registry, pro: ModelEntry, flag: int, code: str) -> None:
    reply = with_data(REPLIES["live"]["failure"], successFlag=flag, errorCode=int(code))
    status = registry.parse_status(pro, LIVE, reply)
    assert status.state is TaskState.FAILED
    assert status.fail_code == code
    assert status.fail_message == "<reason>"


def test_live_documented_failure_reply(registry: Registry, pro: ModelEntry) -> None:
    reply = REPLIES["live"]["failure"]
    status = registry.parse_status(pro, LIVE, reply)
    assert (status.state, status.fail_code, status.fail_message) == (TaskState.FAILED, "501", "<reason>")
    assert registry.extract_urls(pro, LIVE, reply) == ()


def test_live_callbacks(registry: Registry, pro: ModelEntry) -> None:
    assert registry.extract_urls(pro, LIVE, REPLIES["live"]["callback_ok"]) == ("https://<cdn>/xyz.jpg",)
    assert registry.extract_urls(pro, LIVE, REPLIES["live"]["callback_fail"]) == ()


def test_live_reply_without_a_state_is_a_parse_error(registry: Registry, pro: ModelEntry) -> None:
    with pytest.raises(ParseError):
        registry.parse_status(pro, LIVE, {"code": 200, "msg": "success", "data": {"taskId": "x"}})


# -- reference replies -------------------------------------------------------------------------------


def test_reference_replies(registry: Registry, max_: ModelEntry) -> None:
    replies = REPLIES["reference"]
    assert registry.parse_submit(max_, REFERENCE, replies["create_reply"]) == "task_flux_ref_1"
    processing = registry.parse_status(max_, REFERENCE, replies["processing"])
    assert (processing.state, processing.progress) == (TaskState.RUNNING, 0.45)
    completed = registry.parse_status(max_, REFERENCE, replies["completed"])
    assert (completed.state, completed.progress) == (TaskState.SUCCEEDED, 1.0)
    assert registry.extract_urls(max_, REFERENCE, replies["completed"]) == ("https://<cdn>/flux_ref.png",)
    assert registry.parse_status(max_, REFERENCE, replies["failed"]).state is TaskState.FAILED


# -- live requests -----------------------------------------------------------------------------------


def test_live_create_body_matches_the_docs(registry: Registry, pro: ModelEntry) -> None:
    path, body = create(
        registry,
        pro,
        LIVE,
        prompt="A cozy cabin at dusk",
        aspect_ratio="16:9",
        output_format="jpeg",
        extra={"safetyTolerance": 2},
        callback_url=CALLBACK,
    )
    assert path == "/api/v1/flux/kontext/generate"
    assert body == REPLIES["live"]["create_body"]


def test_live_defaults_are_left_to_the_service(registry: Registry, max_: ModelEntry) -> None:
    # aspectRatio especially: in edit mode an omitted ratio keeps the input image's.
    _, body = create(registry, max_, LIVE, prompt="a fox")
    assert body == {"model": "flux-kontext-max", "prompt": "a fox"}


def test_live_status_request(pro: ModelEntry) -> None:
    request = build_status_request(pro.spec, LIVE, "t1")
    assert (request.method, request.path, request.query) == (
        "GET",
        "/api/v1/flux/kontext/record-info",
        (("taskId", "t1"),),
    )


def test_live_jpg_is_sent_as_jpeg(registry: Registry, pro: ModelEntry) -> None:
    _, body = create(registry, pro, LIVE, prompt="x", output_format="jpg")
    assert body["outputFormat"] == "jpeg"
    _, body = create(registry, pro, LIVE, prompt="x", output_format="PNG")
    assert body["outputFormat"] == "png"


def test_live_edit_mode_and_extras(registry: Registry, max_: ModelEntry) -> None:
    extra = {
        "inputImage": IMAGE,
        "enableTranslation": "false",
        "promptUpsampling": True,
        "safetyTolerance": "1",
        "uploadCn": False,
        "watermark": "kie",
    }
    _, body = create(registry, max_, LIVE, prompt="make it snow", aspect_ratio="1:1", extra=extra)
    assert body == {
        "model": "flux-kontext-max",
        "prompt": "make it snow",
        "aspectRatio": "1:1",
        "inputImage": IMAGE,
        "enableTranslation": False,
        "promptUpsampling": True,
        "safetyTolerance": 1,
        "uploadCn": False,
        "watermark": "kie",
    }


def test_one_image_is_no_error_but_two_are(pro: ModelEntry) -> None:
    assert resolve_params(pro.spec, LIVE, GenerationRequest(prompt="x", num_images=1)) == {"prompt": "x"}
    assert refused(pro, LIVE, prompt="x", num_images=2).parameter == "num_images"


@pytest.mark.parametrize("fields", [{"negative_prompt": "blur"}, {"seed": 42}])
def test_live_refuses_negative_prompt_and_seed_by_name(pro: ModelEntry, fields: dict[str, Any]) -> None:
    (name,) = fields
    error = refused(pro, LIVE, prompt="x", **fields)
    assert error.parameter == name
    assert name in str(error) and "flux-kontext-pro" in str(error)


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"image_urls": (IMAGE,)}, "image_urls"),  # one URL on the wire: -p inputImage=URL instead
        ({"resolution": "2K"}, "resolution"),
        ({"aspect_ratio": "5:4"}, "aspectRatio"),  # reference-only ratios
        ({"aspect_ratio": "4:5"}, "aspectRatio"),
        ({"output_format": "webp"}, "outputFormat"),
        ({"extra": {"safetyTolerance": 7}}, "safetyTolerance"),
        ({"extra": {"safetyTolerance": -1}}, "safetyTolerance"),
        ({"extra": {"inputImage": "not a url"}}, "inputImage"),
        ({"extra": {"enableTranslation": "maybe"}}, "enableTranslation"),
        ({"extra": {"ratio": "16:9"}}, "ratio"),  # the reference's name
    ],
)
def test_live_refusals(pro: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(pro, LIVE, **{"prompt": "x", **fields}).parameter == parameter


def test_live_prompt_is_required(pro: ModelEntry) -> None:
    assert refused(pro, LIVE, aspect_ratio="1:1").parameter == "prompt"


# -- reference requests ------------------------------------------------------------------------------


def test_reference_create_body(registry: Registry, max_: ModelEntry) -> None:
    path, body = create(registry, max_, REFERENCE, prompt="a lake", aspect_ratio="5:4", output_format="jpg")
    assert path == "/api/v1/flux/kontext/generate"
    assert body == {"model": "flux-kontext-max", "prompt": "a lake", "ratio": "5:4", "output_format": "jpeg"}


def test_reference_defaults_are_left_to_the_service(registry: Registry, pro: ModelEntry) -> None:
    _, body = create(registry, pro, REFERENCE, prompt="a lake")
    assert body == {"model": "flux-kontext-pro", "prompt": "a lake"}


def test_reference_status_request(pro: ModelEntry) -> None:
    request = build_status_request(pro.spec, REFERENCE, "t9")
    assert (request.path, request.query) == ("/api/v1/flux/kontext/record-info", (("taskId", "t9"),))


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"aspect_ratio": "1:1"}, "ratio"),  # the reference lists no 1:1
        ({"output_format": "webp"}, "output_format"),
        ({"seed": 1}, "seed"),
        ({"negative_prompt": "blur"}, "negative_prompt"),
        ({"callback_url": "https://me.example/cb"}, "callback_url"),
        ({"extra": {"inputImage": IMAGE}}, "inputImage"),
        ({"extra": {"aspectRatio": "16:9"}}, "aspectRatio"),
    ],
)
def test_reference_refusals(pro: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(pro, REFERENCE, **{"prompt": "x", **fields}).parameter == parameter
