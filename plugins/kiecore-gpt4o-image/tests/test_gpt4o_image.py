"""GPT-4o Image: conformance, the docs' example replies (live and reference), and request mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kiecore_gpt4o_image import plugin

from kiecore.model import Profile, TaskState
from kiecore.registry import ModelEntry, Registry
from kiecore.testing.conformance import PluginConformance
from kiecore.testing.mapping import create_request as create
from kiecore.testing.mapping import refusal as refused
from kiecore.wire import build_status_request

HERE = Path(__file__).parent
REPLIES: dict[str, dict[str, Any]] = json.loads((HERE / "replies" / "gpt4o_image.json").read_text())
LIVE = Profile.LIVE
REFERENCE = Profile.REFERENCE
RESULTS = ("https://<cdn>/abc_0.png", "https://<cdn>/abc_1.png")


class TestConformance(PluginConformance):
    plugin = plugin


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry.from_plugins(plugin)
    assert not registry.failures
    return registry


@pytest.fixture(scope="module")
def entry(registry: Registry) -> ModelEntry:
    return registry.resolve("gpt4o-image")


def with_data(reply: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**reply, "data": {**reply["data"], **changes}}


# -- packaging and names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gpt4o-image", "gpt-4o-image", "4o-image", "gpt4o", "GPT4o"])
def test_names_resolve_to_the_model(registry: Registry, name: str) -> None:
    assert registry.resolve(name).spec.id == "gpt4o-image"


def test_up_to_four_images_per_task(entry: ModelEntry) -> None:
    assert entry.spec.max_images == 4
    assert entry.spec.profiles() == (LIVE, REFERENCE)


# -- live replies ------------------------------------------------------------------------------------


def test_live_create_reply(registry: Registry, entry: ModelEntry) -> None:
    assert registry.parse_submit(entry, LIVE, REPLIES["live"]["create_reply"]) == "task_4o_abc123"


def test_live_running_reply_has_string_progress(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["running"]
    assert reply["data"]["progress"] == "0.45"
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.RUNNING
    assert status.progress == pytest.approx(0.45)
    assert status.fail_code is None and status.fail_message is None
    assert registry.extract_urls(entry, LIVE, reply) == ()  # response is null while running


def test_live_success_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["success"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.SUCCEEDED
    assert status.progress == pytest.approx(1.0)
    assert registry.extract_urls(entry, LIVE, reply) == RESULTS


def test_live_success_with_snake_case_result_urls(registry: Registry, entry: ModelEntry) -> None:
    reply = with_data(REPLIES["live"]["success"], response={"result_urls": list(RESULTS)})
    assert registry.extract_urls(entry, LIVE, reply) == RESULTS


def test_live_failure_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["failure"]
    status = registry.parse_status(entry, LIVE, reply)
    assert status.state is TaskState.FAILED
    assert status.fail_code == "400"
    assert status.fail_message == "Your content was flagged by OpenAI as violating content policies"
    assert registry.extract_urls(entry, LIVE, reply) == ()


@pytest.mark.parametrize(("flag", "state"), [(3, TaskState.FAILED), ("2", TaskState.FAILED), (0, TaskState.RUNNING)])
def test_live_success_flags(registry: Registry, entry: ModelEntry, flag: Any, state: TaskState) -> None:
    reply = with_data(REPLIES["live"]["failure"], successFlag=flag)
    assert registry.parse_status(entry, LIVE, reply).state is state


def test_live_text_status_decides_when_the_flag_is_missing(registry: Registry, entry: ModelEntry) -> None:
    data = {k: v for k, v in REPLIES["live"]["failure"]["data"].items() if k != "successFlag"}
    data["status"] = "CREATE_TASK_FAILED"
    assert registry.parse_status(entry, LIVE, {"code": 200, "msg": "success", "data": data}).state is TaskState.FAILED


def test_live_callback_urls(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["live"]["callback_ok"]
    assert "result_urls" in reply["data"]["info"]
    assert registry.extract_urls(entry, LIVE, reply) == RESULTS


def test_live_callback_with_camel_case_urls(registry: Registry, entry: ModelEntry) -> None:
    reply = {"code": 200, "msg": "success", "data": {"taskId": "t", "info": {"resultUrls": list(RESULTS)}}}
    assert registry.extract_urls(entry, LIVE, reply) == RESULTS


# -- reference replies -------------------------------------------------------------------------------


def test_reference_create_reply(registry: Registry, entry: ModelEntry) -> None:
    assert registry.parse_submit(entry, REFERENCE, REPLIES["reference"]["create_reply"]) == "abc123"


def test_reference_progress_is_percent(registry: Registry, entry: ModelEntry) -> None:
    status = registry.parse_status(entry, REFERENCE, REPLIES["reference"]["processing"])
    assert status.state is TaskState.RUNNING
    assert status.progress == pytest.approx(0.45)


def test_reference_completed_reply(registry: Registry, entry: ModelEntry) -> None:
    reply = REPLIES["reference"]["completed"]
    status = registry.parse_status(entry, REFERENCE, reply)
    assert status.state is TaskState.SUCCEEDED
    assert status.progress == pytest.approx(1.0)
    assert registry.extract_urls(entry, REFERENCE, reply) == ("https://<cdn>/abc123.png",)


def test_reference_failed_reply(registry: Registry, entry: ModelEntry) -> None:
    status = registry.parse_status(entry, REFERENCE, REPLIES["reference"]["failed"])
    assert status.state is TaskState.FAILED


def test_pending_is_queued(registry: Registry, entry: ModelEntry) -> None:
    reply = with_data(REPLIES["reference"]["processing"], status="pending", progress=0)
    assert registry.parse_status(entry, REFERENCE, reply).state is TaskState.QUEUED


def test_reply_shape_wins_over_profile(registry: Registry, entry: ModelEntry) -> None:
    live_reply = registry.parse_status(entry, REFERENCE, REPLIES["live"]["running"])
    assert live_reply.progress == pytest.approx(0.45)  # "0.45" read as a fraction even in the reference profile
    reference_reply = registry.parse_status(entry, LIVE, REPLIES["reference"]["processing"])
    assert reference_reply.progress == pytest.approx(0.45)  # 45 read as percent even in the live profile


# -- live requests -----------------------------------------------------------------------------------


def test_live_create_body_matches_the_docs(registry: Registry, entry: ModelEntry) -> None:
    path, body = create(
        registry,
        entry,
        LIVE,
        prompt="A red fox",
        aspect_ratio="1:1",
        num_images=2,
        callback_url="https://<your-host>/kie/cb",
        extra={"isEnhance": False},
    )
    assert path == "/api/v1/gpt4o-image/generate"
    assert body == REPLIES["live"]["create_body"]
    assert "model" not in body


def test_live_status_request(entry: ModelEntry) -> None:
    request = build_status_request(entry.spec, LIVE, "task_4o_abc123")
    assert (request.method, request.path) == ("GET", "/api/v1/gpt4o-image/record-info")
    assert request.query == (("taskId", "task_4o_abc123"),)


def test_live_size_is_always_sent(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, LIVE, prompt="a fox")
    assert body == {"prompt": "a fox", "size": "1:1"}


@pytest.mark.parametrize(("count", "sent"), [(1, None), (2, 2), (4, 4)])
def test_live_n_variants_only_when_more_than_one(
    registry: Registry, entry: ModelEntry, count: int, sent: int | None
) -> None:
    _, body = create(registry, entry, LIVE, prompt="a fox", num_images=count)
    assert body.get("nVariants") == sent
    assert ("nVariants" in body) is (sent is not None)


def test_live_n_variants_as_an_extra(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(registry, entry, LIVE, prompt="a fox", extra={"nVariants": "4"})
    assert body["nVariants"] == 4


def test_live_edit_without_prompt(registry: Registry, entry: ModelEntry) -> None:
    urls = tuple(f"https://img.example/{i}.png" for i in range(5))
    _, body = create(
        registry,
        entry,
        LIVE,
        image_urls=urls,
        aspect_ratio="2:3",
        extra={"maskUrl": "https://img.example/mask.png", "uploadCn": "true"},
    )
    assert body == {
        "size": "2:3",
        "filesUrl": list(urls),
        "maskUrl": "https://img.example/mask.png",
        "uploadCn": True,
    }


def test_live_model_specific_fields(registry: Registry, entry: ModelEntry) -> None:
    _, body = create(
        registry,
        entry,
        LIVE,
        prompt="x",
        extra={
            "isEnhance": "yes",
            "enableFallback": True,
            "fallbackModel": "gpt_image_1",
            "fileUrl": "https://img.example/old.png",
        },
    )
    assert body == {
        "prompt": "x",
        "size": "1:1",
        "isEnhance": True,
        "enableFallback": True,
        "fallbackModel": "GPT_IMAGE_1",
        "fileUrl": "https://img.example/old.png",
    }


def test_live_needs_prompt_or_files(entry: ModelEntry) -> None:
    error = refused(entry, LIVE, aspect_ratio="1:1")
    assert error.parameter == "prompt"
    assert "filesUrl" in str(error)


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"num_images": 3}, "nVariants"),
        ({"num_images": 5}, "nVariants"),
        ({"aspect_ratio": "16:9"}, "size"),
        ({"output_format": "png"}, "output_format"),
        ({"resolution": "2K"}, "resolution"),
        ({"seed": 42}, "seed"),
        ({"negative_prompt": "blur"}, "negative_prompt"),
        ({"image_urls": tuple(f"https://img.example/{i}.png" for i in range(6))}, "filesUrl"),
        ({"extra": {"maskUrl": "mask.png"}}, "maskUrl"),
        ({"extra": {"fallbackModel": "DALL_E_3"}}, "fallbackModel"),
        ({"extra": {"isEnhance": "maybe"}}, "isEnhance"),
        ({"extra": {"variants": 2}}, "variants"),
    ],
)
def test_live_refusals(entry: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(entry, LIVE, **{"prompt": "x", **fields}).parameter == parameter


# -- reference requests ------------------------------------------------------------------------------


def test_reference_create_body_matches_the_docs(registry: Registry, entry: ModelEntry) -> None:
    path, body = create(registry, entry, REFERENCE, prompt="sunset over mountains")
    assert path == "/api/v1/gpt4o-image/generate"
    assert body == REPLIES["reference"]["create_body"]


def test_reference_status_path(entry: ModelEntry) -> None:
    assert build_status_request(entry.spec, REFERENCE, "abc123").path == "/api/v1/gpt4o-image/record-info"


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_reference_variants_one_to_four(registry: Registry, entry: ModelEntry, count: int) -> None:
    _, body = create(registry, entry, REFERENCE, prompt="x", aspect_ratio="3:2", num_images=count)
    assert body == {"prompt": "x", "size": "3:2", "variants": count}


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"num_images": 0}, "variants"),
        ({"num_images": 5}, "variants"),
        ({"aspect_ratio": "16:9"}, "size"),
        ({"image_urls": ("https://img.example/a.png",)}, "image_urls"),
        ({"extra": {"nVariants": 2}}, "nVariants"),
        ({"extra": {"isEnhance": True}}, "isEnhance"),
        ({"callback_url": "https://me.example/cb"}, "callback_url"),
    ],
)
def test_reference_refusals(entry: ModelEntry, fields: dict[str, Any], parameter: str) -> None:
    assert refused(entry, REFERENCE, **{"prompt": "x", **fields}).parameter == parameter


def test_reference_prompt_is_required(entry: ModelEntry) -> None:
    assert refused(entry, REFERENCE, aspect_ratio="1:1").parameter == "prompt"
