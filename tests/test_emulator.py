"""The emulator, spoken to with raw HTTP: routing, auth, validation, reply shapes, files and faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
import urllib3
from PIL import Image

from kiecore.declarations import BodyLayout, Dialect, ModelSpec, ParamKind, ParamSpec, WireSpec
from kiecore.declarative import DeclarativePlugin
from kiecore.emulator import Emulator, FaultKind, body_problems, parse_fault
from kiecore.registry import Registry

KEY = "test-key"
MARKET_CREATE = "/api/v1/jobs/createTask"
MARKET_STATUS = "/api/v1/jobs/recordInfo"
GPT4O_CREATE = "/api/v1/gpt4o-image/generate"
GPT4O_STATUS = "/api/v1/gpt4o-image/record-info"
FLUX_CREATE = "/api/v1/flux/kontext/generate"
FLUX_STATUS = "/api/v1/flux/kontext/record-info"
PRO_CREATE = "/api/v2/jobs/createTask"

# -- test models ---------------------------------------------------------------------------------------

MARKET = ModelSpec(
    id="test/market",
    title="Market",
    family="test",
    max_images=4,
    live=WireSpec(
        dialect=Dialect.MARKET,
        submit_path=MARKET_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.INPUT,
        model_field="test/market",
        params=(
            ParamSpec(name="prompt", common="prompt", required=True, max_length=50),
            ParamSpec(name="output_format", common="output_format", choices=("png", "jpeg", "webp"), default="png"),
            ParamSpec(name="image_size", common="aspect_ratio", choices=("1:1", "16:9", "portrait_4_3")),
            ParamSpec(
                name="num_images", common="num_images", kind=ParamKind.INTEGER, as_string=True, choices=(1, 2, 3, 4, 5)
            ),
            ParamSpec(name="seed", common="seed", kind=ParamKind.INTEGER, minimum=0, maximum=1000),
            ParamSpec(name="strength", kind=ParamKind.NUMBER, minimum=0.01, maximum=1),
            ParamSpec(name="image_urls", common="image_urls", kind=ParamKind.URL_LIST, max_items=2),
            ParamSpec(name="nsfw_checker", kind=ParamKind.BOOLEAN),
        ),
    ),
    reference=WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=MARKET_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.FLAT,
        model_field="test/market",
        params=(
            ParamSpec(name="prompt", common="prompt", required=True),
            ParamSpec(name="output_format", common="output_format", choices=("png", "jpeg")),
            ParamSpec(name="num_images", common="num_images", kind=ParamKind.INTEGER, minimum=1, maximum=4),
        ),
    ),
)

GPT4O = ModelSpec(
    id="test/4o",
    title="4o",
    family="test",
    max_images=4,
    live=WireSpec(
        dialect=Dialect.GPT4O,
        submit_path=GPT4O_CREATE,
        status_path=GPT4O_STATUS,
        params=(
            ParamSpec(name="prompt", common="prompt"),
            ParamSpec(name="size", common="aspect_ratio", required=True, choices=("1:1", "3:2", "2:3")),
            ParamSpec(name="filesUrl", common="image_urls", kind=ParamKind.URL_LIST, max_items=5),
            ParamSpec(name="nVariants", common="num_images", kind=ParamKind.INTEGER, choices=(1, 2, 4)),
            ParamSpec(name="isEnhance", kind=ParamKind.BOOLEAN),
        ),
        requires_any=(("prompt", "filesUrl"),),
    ),
    reference=WireSpec(
        dialect=Dialect.REFERENCE,
        submit_path=GPT4O_CREATE,
        status_path=GPT4O_STATUS,
        params=(
            ParamSpec(name="prompt", common="prompt", required=True),
            ParamSpec(name="size", common="aspect_ratio", choices=("1:1", "3:2", "2:3")),
            ParamSpec(name="variants", common="num_images", kind=ParamKind.INTEGER, minimum=1, maximum=4),
        ),
    ),
)


def _flux(model_id: str, field: str) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        title=model_id,
        family="test",
        live=WireSpec(
            dialect=Dialect.FLUX,
            submit_path=FLUX_CREATE,
            status_path=FLUX_STATUS,
            model_field=field,
            params=(
                ParamSpec(name="prompt", common="prompt", required=True),
                ParamSpec(name="aspectRatio", common="aspect_ratio", choices=("16:9", "1:1", "9:16"), default="16:9"),
                ParamSpec(name="outputFormat", common="output_format", choices=("jpeg", "png"), default="jpeg"),
                ParamSpec(name="safetyTolerance", kind=ParamKind.INTEGER, minimum=0, maximum=6),
                ParamSpec(name="inputImage", kind=ParamKind.URL),
            ),
        ),
        reference=WireSpec(
            dialect=Dialect.REFERENCE,
            submit_path=FLUX_CREATE,
            status_path=FLUX_STATUS,
            model_field=field,
            params=(
                ParamSpec(name="prompt", common="prompt", required=True),
                ParamSpec(name="ratio", common="aspect_ratio", choices=("16:9", "4:5")),
                ParamSpec(name="output_format", common="output_format", choices=("jpeg", "png"), default="png"),
            ),
        ),
    )


FLUX = _flux("test/flux-pro", "flux-kontext-pro")
FLUX_MAX = _flux("test/flux-max", "flux-kontext-max")

PRO = ModelSpec(
    id="test/pro",
    title="Pro",
    family="test",
    live=WireSpec(
        dialect=Dialect.MARKET,
        submit_path=MARKET_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.INPUT,
        model_field="nano-banana-pro",
        params=(
            ParamSpec(name="prompt", common="prompt", required=True),
            ParamSpec(name="aspect_ratio", common="aspect_ratio", choices=("1:1", "3:4")),
            ParamSpec(name="output_format", common="output_format", choices=("png", "jpg"), default="png"),
        ),
    ),
    reference=WireSpec(
        dialect=Dialect.MARKET,
        submit_path=PRO_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.INPUT,
        model_field="nano-banana-pro",
        callback_field="callbackUrl",
        params=(
            ParamSpec(name="input_prompt", common="prompt", required=True),
            ParamSpec(name="input_image_input", common="image_urls", kind=ParamKind.URL_LIST, max_items=4),
            ParamSpec(name="input_aspect_ratio", common="aspect_ratio", choices=("1:1", "9:21")),
            ParamSpec(
                name="input_output_format", common="output_format", choices=("jpg", "png", "webp"), default="webp"
            ),
        ),
    ),
)

LIVE_ONLY = ModelSpec(
    id="test/live-only",
    title="Live only",
    family="test",
    live=WireSpec(
        dialect=Dialect.MARKET,
        submit_path=MARKET_CREATE,
        status_path=MARKET_STATUS,
        layout=BodyLayout.INPUT,
        model_field="test/live-only",
        params=(ParamSpec(name="prompt", common="prompt", required=True),),
    ),
)


def _registry() -> Registry:
    registry = Registry.from_plugins(DeclarativePlugin(MARKET, GPT4O, FLUX, FLUX_MAX, PRO, LIVE_ONLY))
    assert not registry.failures and len(registry.models()) == 6
    return registry


# -- plumbing ------------------------------------------------------------------------------------------

HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))
LIVE = {"Authorization": f"Bearer {KEY}"}
REF = {"X-API-KEY": KEY, "Authorization": f"Bearer {KEY}"}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(_registry(), task_seconds=100.0) as running:
        yield running


def call(
    emulator: Emulator, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
) -> tuple[int, Any, urllib3.BaseHTTPResponse]:
    """``(HTTP status, decoded JSON or raw bytes, response)`` of one API request."""
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(LIVE if headers is None else headers)}
    response = HTTP.request(method, emulator.base_url + path, body=raw, headers=sent)
    try:
        payload: Any = json.loads(response.data)
    except ValueError:
        payload = response.data
    return response.status, payload, response


def create(emulator: Emulator, path: str, body: Any, headers: dict[str, str] | None = None) -> str:
    status, reply, _ = call(emulator, "POST", path, body, headers=headers)
    assert status == 200 and reply["code"] == 200, reply
    data = reply["data"]
    return str(data.get("taskId") or data["task_id"])


def status(emulator: Emulator, path: str, task_id: str, headers: dict[str, str] | None = None) -> Any:
    code, reply, _ = call(emulator, "GET", f"{path}?taskId={task_id}", headers=headers)
    assert code == 200, reply
    return reply


def at(emulator: Emulator, task_id: str, fraction: float) -> None:
    """Move a task's clock so it is ``fraction`` of the way through."""
    emulator.tasks[task_id].started = time.monotonic() - fraction * emulator.task_seconds


def fetch(url: str, headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
    return HTTP.request("GET", url, headers=headers)


def market_body(**params: Any) -> dict[str, Any]:
    return {"model": "test/market", "input": {"prompt": "a red fox", **params}}


# -- market dialect --------------------------------------------------------------------------------------


def test_market_live_state_sequence_and_shapes(emulator: Emulator) -> None:
    body = {
        "model": "test/market",
        "callBackUrl": "https://cb.example/x",
        "input": {"prompt": "fox", "num_images": "2"},
    }
    status_code, reply, response = call(emulator, "POST", MARKET_CREATE, body)
    assert status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert reply["code"] == 200 and reply["msg"] == "success" and set(reply) == {"code", "msg", "data"}
    task_id = reply["data"]["taskId"]
    assert len(task_id) == 32 and int(task_id, 16) >= 0
    seen = []
    for fraction in (0.0, 0.1, 0.3, 0.5, 0.99):
        at(emulator, task_id, fraction)
        data = status(emulator, MARKET_STATUS, task_id)["data"]
        seen.append(data["state"])
        assert data["resultJson"] == "" and data["failCode"] == "" and data["failMsg"] == ""
        assert data["completeTime"] is None and data["costTime"] is None
    assert seen == ["waiting", "waiting", "queuing", "generating", "generating"]
    at(emulator, task_id, 1.0)
    reply = status(emulator, MARKET_STATUS, task_id)
    data = reply["data"]
    assert reply["code"] == 200 and reply["msg"] == "success"
    assert data["state"] == "success" and data["taskId"] == task_id and data["model"] == "test/market"
    assert json.loads(data["param"]) == body
    urls = json.loads(data["resultJson"])["resultUrls"]
    assert len(urls) == 2 and all(url.startswith(emulator.files_url + f"/files/{task_id}/") for url in urls)
    assert data["failCode"] == "" and data["failMsg"] == ""
    assert isinstance(data["createTime"], int) and data["completeTime"] >= data["createTime"]
    assert data["updateTime"] == data["completeTime"] and isinstance(data["costTime"], int)
    assert emulator.tasks[task_id].model == "test/market" and emulator.tasks[task_id].urls == tuple(urls)
    # the fields live records carry since September 2026; costTime counts seconds there
    assert data["successFlag"] == 1 and data["response"] == {"resultUrls": urls}
    assert data["operationType"] == "test/market" and data["paramJson"] == data["param"]
    assert data["creditsConsumed"] > 0 and data["costTime"] == round(emulator.task_seconds)


def test_market_real_time_run_ends_in_success(emulator: Emulator) -> None:
    emulator.task_seconds = 0.2
    task_id = create(emulator, MARKET_CREATE, market_body())
    states = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        states.append(status(emulator, MARKET_STATUS, task_id)["data"]["state"])
        if states[-1] == "success":
            break
        time.sleep(0.01)
    order = ["waiting", "queuing", "generating", "success"]
    assert states[-1] == "success" and [order.index(s) for s in states] == sorted(order.index(s) for s in states)


def test_market_failed_task(emulator: Emulator) -> None:
    emulator.inject("fail_task", message="prompt flagged")
    task_id = create(emulator, MARKET_CREATE, market_body())
    at(emulator, task_id, 0.5)
    assert status(emulator, MARKET_STATUS, task_id)["data"]["state"] == "generating"
    at(emulator, task_id, 1.0)
    data = status(emulator, MARKET_STATUS, task_id)["data"]
    assert data["state"] == "fail" and data["failCode"] == "500" and data["failMsg"] == "prompt flagged"
    assert data["resultJson"] == "" and emulator.tasks[task_id].failed
    assert emulator.faults.fired("fail_task") == 1
    assert fetch(emulator.tasks[task_id].urls[0]).status == 404
    second = create(emulator, MARKET_CREATE, market_body())
    assert not emulator.tasks[second].failed


def test_market_reference_profile_uses_generic_shapes(emulator: Emulator) -> None:
    body = {"model": "test/market", "prompt": "fox", "num_images": 3}
    task_id = create(emulator, MARKET_CREATE, body, headers=REF)
    assert task_id.startswith("task_")
    at(emulator, task_id, 0.1)
    assert status(emulator, MARKET_STATUS, task_id, REF)["data"] == {
        "taskId": task_id,
        "status": "pending",
        "progress": 0,
    }
    at(emulator, task_id, 0.5)
    reply = status(emulator, MARKET_STATUS, task_id, REF)
    assert reply["msg"] == "success" and reply["data"]["status"] == "processing" and reply["data"]["progress"] == 50
    at(emulator, task_id, 1.0)
    data = status(emulator, MARKET_STATUS, task_id, REF)["data"]
    assert data["status"] == "completed" and data["progress"] == 100
    assert data["imageUrl"] == data["imageUrls"][0] and len(data["imageUrls"]) == 3


def test_reference_single_image_has_no_url_list(emulator: Emulator) -> None:
    task_id = create(emulator, MARKET_CREATE, {"model": "test/market", "prompt": "fox"}, headers=REF)
    at(emulator, task_id, 1.0)
    data = status(emulator, MARKET_STATUS, task_id, REF)["data"]
    assert data["status"] == "completed" and isinstance(data["imageUrl"], str) and "imageUrls" not in data


def test_reference_failed_task(emulator: Emulator) -> None:
    emulator.inject(FaultKind.FAIL_TASK)
    task_id = create(emulator, GPT4O_CREATE, {"prompt": "fox"}, headers=REF)
    at(emulator, task_id, 1.0)
    data = status(emulator, GPT4O_STATUS, task_id, REF)["data"]
    assert data["status"] == "failed" and data["failMsg"] == "Internal server error" and "imageUrl" not in data


def test_pro_reference_market_shapes_use_message_and_task_id(emulator: Emulator) -> None:
    body = {"model": "nano-banana-pro", "callbackUrl": "https://cb.example/", "input": {"input_prompt": "hero"}}
    status_code, reply, _ = call(emulator, "POST", PRO_CREATE, body, headers=REF)
    task_id = reply["data"]["task_id"]
    assert status_code == 200 and reply == {"code": 200, "message": "success", "data": {"task_id": task_id}}
    assert len(task_id) == 32
    at(emulator, task_id, 0.3)
    reply = status(emulator, MARKET_STATUS, task_id, REF)
    assert "msg" not in reply and reply["message"] == "success" and reply["data"]["state"] == "queuing"
    at(emulator, task_id, 1.0)
    data = status(emulator, MARKET_STATUS, task_id, REF)["data"]
    [url] = json.loads(data["resultJson"])["resultUrls"]
    assert url.endswith(".webp")  # the declared default format
    # The live callback spelling is refused on the reference route, and its errors use "message" too.
    body["callBackUrl"] = body.pop("callbackUrl")
    _, reply, _ = call(emulator, "POST", PRO_CREATE, body, headers=REF)
    assert reply == {"code": 422, "message": "callBackUrl: unknown field", "data": None}


def test_pro_live_profile_uses_v1_path(emulator: Emulator) -> None:
    body = {"model": "nano-banana-pro", "input": {"prompt": "hero", "output_format": "jpg"}}
    status_code, reply, _ = call(emulator, "POST", PRO_CREATE, body)
    assert status_code == 404 and reply["code"] == 404
    task_id = create(emulator, MARKET_CREATE, body)
    at(emulator, task_id, 1.0)
    reply = status(emulator, MARKET_STATUS, task_id)
    assert reply["msg"] == "success" and json.loads(reply["data"]["resultJson"])["resultUrls"][0].endswith(".jpg")


def test_model_without_reference_profile_is_not_found_there(emulator: Emulator) -> None:
    body = {"model": "test/live-only", "prompt": "x"}
    status_code, reply, _ = call(emulator, "POST", MARKET_CREATE, body, headers=REF)
    assert status_code == 404 and reply["code"] == 404 and reply["data"] is None
    assert create(emulator, MARKET_CREATE, {"model": "test/live-only", "input": {"prompt": "x"}})


# -- 4o and Flux dialects -----------------------------------------------------------------------------


def test_gpt4o_live_sequence(emulator: Emulator) -> None:
    body = {"prompt": "fox", "size": "3:2", "nVariants": 2, "isEnhance": False}
    task_id = create(emulator, GPT4O_CREATE, body)
    assert task_id.startswith("task_4o_")
    at(emulator, task_id, 0.0)
    data = status(emulator, GPT4O_STATUS, task_id)["data"]
    assert data["successFlag"] == 0 and data["status"] == "GENERATING" and data["progress"] == "0.00"
    assert data["response"] is None and data["errorCode"] is None and data["completeTime"] is None
    assert json.loads(data["paramJson"]) == body and isinstance(data["createTime"], int)
    at(emulator, task_id, 0.456)
    assert status(emulator, GPT4O_STATUS, task_id)["data"]["progress"] == "0.46"
    at(emulator, task_id, 1.0)
    data = status(emulator, GPT4O_STATUS, task_id)["data"]
    assert data["successFlag"] == 1 and data["status"] == "SUCCESS" and data["progress"] == "1.00"
    urls = data["response"]["resultUrls"]
    assert len(urls) == 2 and isinstance(data["completeTime"], int)
    image = Image.open(io.BytesIO(fetch(urls[1]).data))
    assert image.format == "PNG" and image.size == (256, 171)


def test_gpt4o_failure(emulator: Emulator) -> None:
    emulator.inject("fail_task", message="flagged")
    task_id = create(emulator, GPT4O_CREATE, {"filesUrl": ["https://x.example/a.png"], "size": "1:1"})
    at(emulator, task_id, 1.0)
    data = status(emulator, GPT4O_STATUS, task_id)["data"]
    assert data["successFlag"] == 2 and data["status"] == "GENERATE_FAILED"
    assert data["errorCode"] == 400 and data["errorMessage"] == "flagged"


def test_gpt4o_reference_profile(emulator: Emulator) -> None:
    task_id = create(emulator, GPT4O_CREATE, {"prompt": "fox", "variants": 9 - 5}, headers=REF)
    at(emulator, task_id, 1.0)
    data = status(emulator, GPT4O_STATUS, task_id, REF)["data"]
    assert data["status"] == "completed" and len(data["imageUrls"]) == 4


def test_flux_live_sequence(emulator: Emulator) -> None:
    body = {"prompt": "cabin", "model": "flux-kontext-pro", "aspectRatio": "9:16", "safetyTolerance": 2}
    task_id = create(emulator, FLUX_CREATE, body)
    assert task_id.startswith("fluxkontext_")
    data = status(emulator, FLUX_STATUS, task_id)["data"]
    assert data["successFlag"] == 0 and data["response"] is None and data["completeTime"] is None
    assert "progress" not in data and "status" not in data and data["createTime"].endswith("Z")
    at(emulator, task_id, 1.0)
    data = status(emulator, FLUX_STATUS, task_id)["data"]
    assert data["successFlag"] == 1 and data["errorCode"] is None and data["completeTime"].endswith("Z")
    assert json.loads(data["paramJson"]) == body
    result = data["response"]["resultImageUrl"]
    assert result.endswith("/0.jpeg") and data["response"]["originImageUrl"] != result
    image = Image.open(io.BytesIO(fetch(result).data))
    assert image.format == "JPEG" and image.size == (144, 256)
    assert fetch(data["response"]["originImageUrl"]).status == 200
    assert emulator.tasks[task_id].model == "test/flux-pro"


def test_flux_dispatches_by_model_and_fails_with_flag_3(emulator: Emulator) -> None:
    emulator.inject("fail_task")
    task_id = create(emulator, FLUX_CREATE, {"prompt": "cabin", "model": "flux-kontext-max"})
    assert emulator.tasks[task_id].model == "test/flux-max"
    at(emulator, task_id, 1.0)
    data = status(emulator, FLUX_STATUS, task_id)["data"]
    assert data["successFlag"] == 3 and data["errorCode"] == 501 and data["errorMessage"]


def test_flux_reference_profile(emulator: Emulator) -> None:
    body = {"prompt": "cabin", "model": "flux-kontext-pro", "ratio": "4:5"}
    task_id = create(emulator, FLUX_CREATE, body, headers=REF)
    at(emulator, task_id, 1.0)
    data = status(emulator, FLUX_STATUS, task_id, REF)["data"]
    image = Image.open(io.BytesIO(fetch(data["imageUrl"]).data))
    assert image.format == "PNG" and image.size == (205, 256)


# -- validation ------------------------------------------------------------------------------------


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


# -- auth, routing, status errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": KEY}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}, {"X-API-KEY": ""}],
)
def test_missing_or_malformed_key_is_refused(emulator: Emulator, headers: dict[str, str]) -> None:
    status_code, reply, _ = call(emulator, "POST", MARKET_CREATE, market_body(), headers=headers)
    assert status_code == 200 and reply == {"code": 401, "msg": "You do not have access permissions", "data": None}
    assert emulator.tasks == {}


def test_api_key_must_match_when_set() -> None:
    with Emulator(_registry(), api_key=KEY) as emulator:
        bad_live = {"Authorization": "Bearer other"}
        assert call(emulator, "POST", MARKET_CREATE, market_body(), headers=bad_live)[1]["code"] == 401
        bad_ref = {"X-API-KEY": "other", "Authorization": f"Bearer {KEY}"}
        ref_body = {"model": "test/market", "prompt": "x"}
        assert call(emulator, "POST", MARKET_CREATE, ref_body, headers=bad_ref)[1]["code"] == 401
        assert create(emulator, MARKET_CREATE, ref_body, headers=REF)
        task_id = create(emulator, MARKET_CREATE, market_body())
        _, reply, _ = call(emulator, "GET", f"{MARKET_STATUS}?taskId={task_id}", headers=bad_live)
        assert reply["code"] == 401
        # reference NBP errors use "message"
        _, reply, _ = call(emulator, "POST", PRO_CREATE, {}, headers=bad_ref)
        assert reply == {"code": 401, "message": "You do not have access permissions", "data": None}


def test_reference_profile_is_chosen_by_x_api_key(emulator: Emulator) -> None:
    # A live-shaped body sent with X-API-KEY is checked against the reference declaration.
    _, reply, _ = call(emulator, "POST", MARKET_CREATE, market_body(), headers=REF)
    assert reply["code"] == 422 and reply["msg"] == "input: unknown parameter"


def test_unknown_path_and_method(emulator: Emulator) -> None:
    for method, path in [("GET", "/api/v1/nothing"), ("GET", MARKET_CREATE), ("POST", MARKET_STATUS)]:
        status_code, reply, _ = call(emulator, method, path)
        assert status_code == 404 and reply == {"code": 404, "msg": "Not Found", "data": None}


def test_status_errors(emulator: Emulator) -> None:
    assert status(emulator, MARKET_STATUS, "nope") == {"code": 422, "msg": "recordInfo is null", "data": None}
    _, reply, _ = call(emulator, "GET", MARKET_STATUS)
    assert reply == {"code": 400, "msg": "taskId parameter is required", "data": None}
    task_id = create(emulator, MARKET_CREATE, market_body())
    assert status(emulator, GPT4O_STATUS, task_id)["msg"] == "recordInfo is null"  # another family's path


def test_requests_are_recorded_and_reset(emulator: Emulator) -> None:
    create(emulator, MARKET_CREATE, market_body())
    [recorded] = emulator.requests
    assert recorded.server == "api" and recorded.method == "POST" and recorded.path == MARKET_CREATE
    assert recorded.headers["Authorization"] == f"Bearer {KEY}" and json.loads(recorded.body) == market_body()
    call(emulator, "GET", f"{MARKET_STATUS}?taskId=abc")
    assert emulator.requests[-1].query == "taskId=abc"
    emulator.inject("drop")
    emulator.reset()
    assert emulator.requests == [] and emulator.tasks == {} and emulator.faults.faults == []


def test_keep_alive_serves_several_requests_on_one_connection(emulator: Emulator) -> None:
    parts = urlsplit(emulator.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", f"{MARKET_STATUS}?taskId=x", headers=LIVE)
            response = connection.getresponse()
            assert json.loads(response.read())["code"] == 422
            assert response.getheader("Content-Length") is not None
    finally:
        connection.close()


# -- files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "pillow_format", "suffix", "size"),
    [
        ({}, "PNG", ".png", (256, 256)),
        ({"output_format": "jpeg", "image_size": "16:9"}, "JPEG", ".jpeg", (256, 144)),
        ({"output_format": "webp", "image_size": "portrait_4_3"}, "WEBP", ".webp", (192, 256)),
    ],
)
def test_file_host_serves_requested_format(
    emulator: Emulator, params: dict[str, str], pillow_format: str, suffix: str, size: tuple[int, int]
) -> None:
    task_id = create(emulator, MARKET_CREATE, market_body(**params))
    [url] = emulator.tasks[task_id].urls
    assert url.endswith(suffix)
    assert fetch(url).status == 404  # not there until the task succeeds
    at(emulator, task_id, 1.0)
    response = fetch(url)
    content_type = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[pillow_format]
    assert response.status == 200 and response.headers["Content-Type"] == content_type
    assert int(response.headers["Content-Length"]) == len(response.data)
    image = Image.open(io.BytesIO(response.data))
    assert image.format == pillow_format and image.size == size
    assert fetch(url).data == response.data  # drawn once, cached


def test_jpg_word_gives_jpg_extension(emulator: Emulator) -> None:
    task_id = create(
        emulator, MARKET_CREATE, {"model": "nano-banana-pro", "input": {"prompt": "x", "output_format": "jpg"}}
    )
    at(emulator, task_id, 1.0)
    [url] = emulator.tasks[task_id].urls
    assert url.endswith("/0.jpg") and Image.open(io.BytesIO(fetch(url).data)).format == "JPEG"


def test_image_count_is_capped_by_max_images(emulator: Emulator) -> None:
    task_id = create(emulator, MARKET_CREATE, market_body(num_images="5"))
    assert len(emulator.tasks[task_id].urls) == 4


def test_file_host_is_another_origin_and_never_sees_the_key(emulator: Emulator) -> None:
    api, files = urlsplit(emulator.base_url), urlsplit(emulator.files_url)
    assert (api.hostname, api.port) != (files.hostname, files.port)
    assert files.hostname == "127.0.0.2" or files.port != api.port
    task_id = create(emulator, MARKET_CREATE, market_body(num_images="2"))
    at(emulator, task_id, 1.0)
    for url in emulator.tasks[task_id].urls:
        assert url.startswith(emulator.files_url) and fetch(url).status == 200
    assert fetch(emulator.files_url + f"/files/{task_id}/7.png").status == 404
    assert fetch(emulator.files_url + "/files/nope/0.png").status == 404
    downloads = [r for r in emulator.requests if r.server == "files"]
    assert len(downloads) == 4
    for recorded in downloads:
        names = {name.lower() for name in recorded.headers}
        assert "authorization" not in names and "x-api-key" not in names
        assert KEY not in " ".join(recorded.headers.values())


# -- faults ----------------------------------------------------------------------------------------


def test_rate_limit_fault(emulator: Emulator) -> None:
    emulator.retry_after = 2
    emulator.inject("rate_limit", on="submit", times=2)
    for _ in range(2):
        status_code, reply, response = call(emulator, "POST", MARKET_CREATE, market_body())
        assert status_code == 429 and response.headers["Retry-After"] == "2"
        assert reply == {"code": 429, "msg": "Rate limit exceeded", "data": None}
    assert emulator.tasks == {}
    create(emulator, MARKET_CREATE, market_body())
    [fault] = emulator.faults.faults
    assert fault.fired == 2 and emulator.faults.fired(FaultKind.RATE_LIMIT) == 2


def test_fault_only_hits_its_target(emulator: Emulator) -> None:
    emulator.inject("server_error", on="status", status=503)
    task_id = create(emulator, MARKET_CREATE, market_body())
    status_code, reply, _ = call(emulator, "GET", f"{MARKET_STATUS}?taskId={task_id}")
    assert status_code == 503 and reply["code"] == 503 and reply["msg"] == "Server Error"
    assert status(emulator, MARKET_STATUS, task_id)["code"] == 200
    assert emulator.faults.faults[0].fired == 1


def test_server_error_fault_does_not_create(emulator: Emulator) -> None:
    emulator.inject(FaultKind.SERVER_ERROR)
    status_code, reply, _ = call(emulator, "POST", MARKET_CREATE, market_body())
    assert status_code == 500 and reply == {"code": 500, "msg": "Server Error", "data": None}
    assert emulator.tasks == {}


def test_drop_fault_closes_without_reply_or_task(emulator: Emulator) -> None:
    emulator.inject("drop", on="submit")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        call(emulator, "POST", MARKET_CREATE, market_body())
    assert emulator.tasks == {} and emulator.faults.fired("drop") == 1
    create(emulator, MARKET_CREATE, market_body())


def test_drop_after_create_creates_exactly_one_task(emulator: Emulator) -> None:
    task_id = create(emulator, GPT4O_CREATE, {"prompt": "x", "size": "1:1"})
    emulator.inject("drop_after_create")
    assert status(emulator, GPT4O_STATUS, task_id)["code"] == 200  # status requests don't spend it
    with pytest.raises(urllib3.exceptions.ProtocolError):
        call(emulator, "POST", GPT4O_CREATE, {"prompt": "y", "size": "1:1"})
    assert len(emulator.tasks) == 2
    assert [t.body["prompt"] for t in emulator.tasks.values()] == ["x", "y"]
    assert emulator.faults.fired("drop_after_create") == 1


def test_non_json_fault(emulator: Emulator) -> None:
    emulator.inject("non_json", on="status")
    status_code, payload, response = call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")
    assert status_code == 200 and payload == b"<html>Bad gateway</html>"
    assert response.headers["Content-Type"].startswith("text/html")


def test_auth_and_credits_faults(emulator: Emulator) -> None:
    emulator.inject("auth", on="submit")
    emulator.inject("credits", on="submit")
    assert call(emulator, "POST", MARKET_CREATE, market_body())[1]["code"] == 401
    _, reply, _ = call(emulator, "POST", MARKET_CREATE, market_body())
    assert reply == {"code": 402, "msg": "Credits insufficient", "data": None}
    assert emulator.tasks == {}
    assert [fault.fired for fault in emulator.faults.faults] == [1, 1]


def test_invisible_fault_hides_the_next_task_for_n_queries(emulator: Emulator) -> None:
    before = create(emulator, MARKET_CREATE, market_body())
    emulator.inject("invisible", times=2)
    task_id = create(emulator, MARKET_CREATE, market_body())
    other = create(emulator, MARKET_CREATE, market_body())
    assert status(emulator, MARKET_STATUS, before)["code"] == 200
    assert status(emulator, MARKET_STATUS, other)["code"] == 200
    for _ in range(2):
        assert status(emulator, MARKET_STATUS, task_id) == {"code": 422, "msg": "recordInfo is null", "data": None}
    assert status(emulator, MARKET_STATUS, task_id)["code"] == 200
    assert emulator.faults.fired("invisible") == 2 and emulator.tasks[task_id].status_queries == 3


def test_slow_fault_delays_the_reply(emulator: Emulator) -> None:
    emulator.inject("slow", on="status", seconds=0.3)
    started = time.monotonic()
    call(emulator, "POST", MARKET_CREATE, market_body())
    assert time.monotonic() - started < 0.25
    started = time.monotonic()
    assert call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")[1]["code"] == 422
    assert time.monotonic() - started >= 0.3 and emulator.faults.fired("slow") == 1


def test_download_faults(emulator: Emulator) -> None:
    task_id = create(emulator, MARKET_CREATE, market_body())
    at(emulator, task_id, 1.0)
    [url] = emulator.tasks[task_id].urls
    emulator.inject("rate_limit", on="download", retry_after=0.5)
    emulator.inject("drop", on="download")
    response = fetch(url)
    assert response.status == 429 and response.headers["Retry-After"] == "0.5"
    with pytest.raises(urllib3.exceptions.ProtocolError):
        fetch(url)
    assert fetch(url).status == 200
    assert emulator.faults.fired("rate_limit") == 1 and emulator.faults.fired("drop") == 1


def test_inject_and_parse_reject_nonsense(emulator: Emulator) -> None:
    with pytest.raises(ValueError):
        emulator.inject("explode")
    with pytest.raises(ValueError):
        emulator.inject("drop", on="everything")
    with pytest.raises(ValueError):
        emulator.inject("drop", times=0)
    with pytest.raises(ValueError):
        emulator.inject("server_error", status=404)
    assert parse_fault("rate_limit:submit:2") == (FaultKind.RATE_LIMIT, "submit", 2)
    assert parse_fault("drop") == (FaultKind.DROP, "any", 1)
    for bad in ("", "nope", "drop:sideways", "drop:any:x", "drop:any:1:2"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_stop_is_idempotent_and_urls_need_a_running_emulator() -> None:
    emulator = Emulator(_registry())
    with pytest.raises(RuntimeError):
        _ = emulator.base_url
    emulator.start()
    url = emulator.base_url
    assert emulator.start() is emulator and emulator.base_url == url
    emulator.stop()
    emulator.stop()
    with pytest.raises(urllib3.exceptions.HTTPError):
        HTTP.request("GET", url + MARKET_STATUS)


# -- download links --------------------------------------------------------------------------------

DOWNLOAD_URL = "/api/v1/common/download-url"
GPT4O_DOWNLOAD_URL = "/api/v1/gpt4o-image/download-url"
CREDIT = "/api/v1/chat/credit"
EXPIRED_BODY = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


def test_common_download_url_gives_a_fresh_link_to_the_same_bytes(emulator: Emulator) -> None:
    task_id = create(emulator, MARKET_CREATE, market_body(num_images="2"))
    at(emulator, task_id, 1.0)
    url = emulator.tasks[task_id].urls[1]
    status_code, reply, _ = call(emulator, "POST", DOWNLOAD_URL, {"url": url})
    assert status_code == 200 and reply["code"] == 200 and reply["msg"] == "success"
    link = reply["data"]
    assert isinstance(link, str) and link != url and link.startswith(url + "?")
    assert urlsplit(link).netloc == urlsplit(emulator.files_url).netloc
    assert fetch(link).status == 200 and fetch(link).data == fetch(url).data
    # the reference profile's key works too; a fresh link may itself be refreshed
    assert call(emulator, "POST", DOWNLOAD_URL, {"url": link}, headers=REF)[1]["code"] == 200
    recorded = [r for r in emulator.requests if r.path == DOWNLOAD_URL]
    assert len(recorded) == 2 and json.loads(recorded[0].body) == {"url": url}


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://elsewhere.example/files/x/0.png"},
        {"url": "http://127.0.0.2:1/files/x/0.png"},
        {},
        {"url": 5},
    ],
)
def test_common_download_url_refuses_urls_it_did_not_issue(emulator: Emulator, body: dict[str, Any]) -> None:
    status_code, reply, _ = call(emulator, "POST", DOWNLOAD_URL, body)
    assert status_code == 200 and reply["code"] == 422 and reply["msg"] and reply["data"] is None


def test_common_download_url_refuses_unfinished_and_unknown_files(emulator: Emulator) -> None:
    task_id = create(emulator, MARKET_CREATE, market_body())
    [url] = emulator.tasks[task_id].urls
    assert call(emulator, "POST", DOWNLOAD_URL, {"url": url})[1]["code"] == 422  # not generated yet
    at(emulator, task_id, 1.0)
    assert call(emulator, "POST", DOWNLOAD_URL, {"url": url.replace("/0.png", "/5.png")})[1]["code"] == 422
    assert call(emulator, "POST", DOWNLOAD_URL, b"{nope")[1]["code"] == 422


def test_download_url_endpoints_need_the_key(emulator: Emulator) -> None:
    for path, body in [(DOWNLOAD_URL, {"url": "x"}), (GPT4O_DOWNLOAD_URL, {"taskId": "x", "url": "x"})]:
        status_code, reply, _ = call(emulator, "POST", path, body, headers={})
        assert status_code == 200 and reply == {"code": 401, "msg": "You do not have access permissions", "data": None}
        assert call(emulator, "POST", path, body, headers={"X-API-KEY": ""})[1]["code"] == 401
    assert call(emulator, "GET", DOWNLOAD_URL)[0] == 404


def test_gpt4o_download_url(emulator: Emulator) -> None:
    task_id = create(emulator, GPT4O_CREATE, {"prompt": "fox", "size": "1:1", "nVariants": 2})
    url = emulator.tasks[task_id].urls[1]
    _, reply, _ = call(emulator, "POST", GPT4O_DOWNLOAD_URL, {"taskId": "task_4o_nope", "url": url})
    assert reply == {"code": 422, "msg": "record is null", "data": None}
    _, reply, _ = call(emulator, "POST", GPT4O_DOWNLOAD_URL, {"taskId": task_id, "url": url})
    assert reply == {"code": 422, "msg": "record status is not success", "data": None}
    market = create(emulator, MARKET_CREATE, market_body())
    at(emulator, market, 1.0)
    _, reply, _ = call(emulator, "POST", GPT4O_DOWNLOAD_URL, {"taskId": market, "url": url})
    assert reply["msg"] == "record is null"  # not a 4o record
    at(emulator, task_id, 1.0)
    wrong = emulator.tasks[market].urls[0]
    assert call(emulator, "POST", GPT4O_DOWNLOAD_URL, {"taskId": task_id, "url": wrong})[1]["code"] == 422
    status_code, reply, _ = call(emulator, "POST", GPT4O_DOWNLOAD_URL, {"taskId": task_id, "url": url})
    assert status_code == 200 and reply["code"] == 200 and reply["msg"] == "success"
    link = reply["data"]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == url
    query = dict(pair.split("=", 1) for pair in parts.query.split("&"))
    assert query["X-Amz-Expires"] == "1200" and int(query["X-Amz-Signature"], 16) >= 0
    assert fetch(link).data == fetch(url).data
    tampered = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    response = fetch(tampered)
    assert response.status == 403 and response.headers["Content-Type"] == "application/xml"


def test_gpt4o_download_url_refuses_a_failed_task(emulator: Emulator) -> None:
    emulator.inject("fail_task")
    task_id = create(emulator, GPT4O_CREATE, {"prompt": "fox", "size": "1:1"}, headers=None)
    at(emulator, task_id, 1.0)
    [url] = emulator.tasks[task_id].urls
    _, reply, _ = call(emulator, "POST", GPT4O_DOWNLOAD_URL, {"taskId": task_id, "url": url})
    assert reply["msg"] == "record status is not success"


def test_gpt4o_download_url_in_the_reference_profile(emulator: Emulator) -> None:
    task_id = create(emulator, GPT4O_CREATE, {"prompt": "fox"}, headers=REF)
    at(emulator, task_id, 1.0)
    [url] = emulator.tasks[task_id].urls
    _, reply, _ = call(emulator, "POST", GPT4O_DOWNLOAD_URL, {"taskId": task_id, "url": url}, headers=REF)
    assert reply["code"] == 200 and fetch(reply["data"]).status == 200


def test_fresh_links_expire(emulator: Emulator) -> None:
    task_id = create(emulator, MARKET_CREATE, market_body())
    at(emulator, task_id, 1.0)
    [url] = emulator.tasks[task_id].urls
    emulator.link_seconds = 0.0
    link = call(emulator, "POST", DOWNLOAD_URL, {"url": url})[1]["data"]
    response = fetch(link)
    assert response.status == 403 and EXPIRED_BODY in response.data
    assert fetch(url).status == 200 and emulator.faults.fired("expire") == 0


# -- expired result URLs -----------------------------------------------------------------------------


def test_expire_fault_expires_original_urls_only(emulator: Emulator) -> None:
    emulator.inject("expire", times=2)
    first = create(emulator, MARKET_CREATE, market_body(num_images="2"))
    second = create(emulator, GPT4O_CREATE, {"prompt": "fox", "size": "1:1"})
    third = create(emulator, MARKET_CREATE, market_body())
    for task_id in (first, second, third):
        at(emulator, task_id, 1.0)
    for url in [*emulator.tasks[first].urls, emulator.tasks[second].urls[0], emulator.tasks[first].urls[0]]:
        response = fetch(url)
        assert response.status == 403 and response.headers["Content-Type"] == "application/xml"
        assert response.data.endswith(EXPIRED_BODY) and response.data.startswith(b"<?xml")
    assert fetch(emulator.tasks[third].urls[0]).status == 200
    assert emulator.faults.fired("expire") == 4 and emulator.faults.faults[0].used == 2
    # both download-url endpoints give links that work
    expired = emulator.tasks[first].urls[1]
    link = call(emulator, "POST", DOWNLOAD_URL, {"url": expired})[1]["data"]
    assert fetch(link).status == 200 and Image.open(io.BytesIO(fetch(link).data)).format == "PNG"
    [url] = emulator.tasks[second].urls
    link = call(emulator, "POST", GPT4O_DOWNLOAD_URL, {"taskId": second, "url": url})[1]["data"]
    assert fetch(link).status == 200
    assert emulator.faults.fired("expire") == 4
    assert parse_fault("expire::3") == (FaultKind.EXPIRE, "any", 3)


def test_expire_fault_hits_flux_origin_too(emulator: Emulator) -> None:
    emulator.inject(FaultKind.EXPIRE)
    task_id = create(emulator, FLUX_CREATE, {"prompt": "cabin", "model": "flux-kontext-pro"})
    at(emulator, task_id, 1.0)
    response = status(emulator, FLUX_STATUS, task_id)["data"]["response"]
    assert fetch(response["resultImageUrl"]).status == 403 and fetch(response["originImageUrl"]).status == 403
    link = call(emulator, "POST", DOWNLOAD_URL, {"url": response["originImageUrl"]})[1]["data"]
    assert fetch(link).status == 200


# -- callbacks -------------------------------------------------------------------------------------


@attrs.frozen
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A tiny loopback HTTP server that records the POSTs it gets and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/kie/cb") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


HMAC_KEY = "whsec-test"


@pytest.fixture
def fast() -> Iterator[Emulator]:
    with Emulator(_registry(), task_seconds=0.2, webhook_hmac_key=HMAC_KEY) as running:
        yield running


def verify(headers: dict[str, str], body: bytes, key: str = HMAC_KEY) -> bool:
    """The docs' verification sample (kie-live-api.md 1.7), reading ``taskId`` or ``task_id``."""
    data = json.loads(body)["data"]
    task_id = data.get("taskId") or data.get("task_id")
    msg = f"{task_id}.{headers['X-Webhook-Timestamp']}".encode()
    expected = base64.b64encode(hmac.new(key.encode(), msg, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, headers["X-Webhook-Signature"])


def test_market_callback_success_is_signed(fast: Emulator, receiver: Receiver) -> None:
    body = {"model": "test/market", "callBackUrl": receiver.url(), "input": {"prompt": "fox", "num_images": "2"}}
    task_id = create(fast, MARKET_CREATE, body)
    started = time.monotonic()
    [delivery] = fast.wait_for_callbacks(1, timeout=5)
    assert time.monotonic() - started >= 0.1  # not before the task finished
    assert delivery.task_id == task_id and delivery.url == receiver.url()
    assert delivery.status == 200 and delivery.error is None and delivery.delivered
    [got] = receiver.received
    assert got.path == "/kie/cb" and got.body == delivery.body and got.headers["Content-Type"] == "application/json"
    assert verify(got.headers, got.body)
    assert abs(int(got.headers["X-Webhook-Timestamp"]) - time.time()) < 5
    assert not verify(got.headers, got.body, key="other-key")
    reply = got.json()
    assert reply["code"] == 200 and reply["msg"] == "Playground task completed successfully."
    data = reply["data"]
    assert data["taskId"] == task_id and data["state"] == "success" and data["model"] == "test/market"
    assert json.loads(data["resultJson"])["resultUrls"] == list(fast.tasks[task_id].urls)
    assert data["consumeCredits"] == 2 and data["remainedCredits"] == 998 and isinstance(data["costTime"], int)
    assert json.loads(data["param"]) == body and data["failCode"] == "" and data["completeTime"] >= data["createTime"]
    assert fast.pending_callbacks == 0
    time.sleep(0.1)
    status(fast, MARKET_STATUS, task_id)
    assert len(fast.callbacks) == 1 and len(receiver.received) == 1  # once only


def test_market_callback_failure(fast: Emulator, receiver: Receiver) -> None:
    fast.webhook_hmac_key = None
    fast.inject("fail_task", message="flagged", code=422)
    task_id = create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    [delivery] = fast.wait_for_callbacks(1)
    reply = delivery.json()
    assert reply["code"] == 501 and reply["msg"] == "Playground task failed."
    data = reply["data"]
    assert data["taskId"] == task_id and data["state"] == "fail" and data["failCode"] == "422"
    assert data["failMsg"] == "flagged" and data["consumeCredits"] == 0 and data["resultJson"] == ""
    assert "X-Webhook-Signature" not in delivery.headers and "X-Webhook-Timestamp" not in delivery.headers
    assert "X-Webhook-Signature" not in receiver.received[0].headers


def test_gpt4o_callbacks(fast: Emulator, receiver: Receiver) -> None:
    ok = create(fast, GPT4O_CREATE, {"prompt": "fox", "size": "1:1", "nVariants": 2, "callBackUrl": receiver.url()})
    fast.inject("fail_task", message="Your content was flagged")
    failed = create(fast, GPT4O_CREATE, {"prompt": "fox", "size": "1:1", "callBackUrl": receiver.url("/fail")})
    deliveries = {d.task_id: d for d in fast.wait_for_callbacks(2)}
    assert deliveries[ok].json() == {
        "code": 200,
        "msg": "success",
        "data": {"taskId": ok, "info": {"result_urls": list(fast.tasks[ok].urls)}},
    }
    assert deliveries[failed].json() == {
        "code": 400,
        "msg": "Your content was flagged",
        "data": {"taskId": failed, "info": None},
    }
    assert all(verify(d.headers, d.body) for d in deliveries.values())


def test_flux_callbacks(fast: Emulator, receiver: Receiver) -> None:
    ok = create(fast, FLUX_CREATE, {"prompt": "cabin", "model": "flux-kontext-pro", "callBackUrl": receiver.url()})
    fast.inject("fail_task", message="boom")
    fast.inject("fail_task", message="flagged", code=400)
    failed = create(fast, FLUX_CREATE, {"prompt": "c", "model": "flux-kontext-max", "callBackUrl": receiver.url()})
    flagged = create(fast, FLUX_CREATE, {"prompt": "c", "model": "flux-kontext-max", "callBackUrl": receiver.url()})
    deliveries = {d.task_id: d.json() for d in fast.wait_for_callbacks(3)}
    task = fast.tasks[ok]
    assert deliveries[ok] == {
        "code": 200,
        "msg": "BFL image generated successfully.",
        "data": {"taskId": ok, "info": {"originImageUrl": task.origin_url, "resultImageUrl": task.urls[0]}},
    }
    empty = {"originImageUrl": "", "resultImageUrl": ""}
    assert deliveries[failed] == {"code": 501, "msg": "boom", "data": {"taskId": failed, "info": empty}}
    assert deliveries[flagged]["code"] == 400 and deliveries[flagged]["data"]["info"] == empty
    assert status(fast, FLUX_STATUS, flagged)["data"]["errorCode"] == 400  # the same code in the status reply


def test_reference_profile_callbacks_take_the_live_shape(fast: Emulator, receiver: Receiver) -> None:
    flux = create(
        fast, FLUX_CREATE, {"prompt": "cabin", "model": "flux-kontext-pro", "callBackUrl": receiver.url()}, REF
    )
    market = create(fast, MARKET_CREATE, {"model": "test/market", "prompt": "x", "callBackUrl": receiver.url()}, REF)
    pro_body = {"model": "nano-banana-pro", "callbackUrl": receiver.url(), "input": {"input_prompt": "hero"}}
    pro = create(fast, PRO_CREATE, pro_body, REF)
    deliveries = {d.task_id: d.json() for d in fast.wait_for_callbacks(3)}
    assert deliveries[flux]["msg"] == "BFL image generated successfully."
    assert deliveries[flux]["data"]["info"]["resultImageUrl"] == fast.tasks[flux].urls[0]
    assert deliveries[market]["msg"] == "Playground task completed successfully."
    assert json.loads(deliveries[market]["data"]["resultJson"])["resultUrls"] == list(fast.tasks[market].urls)
    assert deliveries[pro]["msg"] == "Playground task completed successfully." and "message" not in deliveries[pro]


def test_callbacks_go_only_to_loopback_hosts(fast: Emulator) -> None:
    task_id = create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": "https://cb.example/kie"})
    [delivery] = fast.wait_for_callbacks(1)
    assert delivery.task_id == task_id and delivery.status is None and not delivery.delivered
    assert delivery.error is not None and "loopback" in delivery.error
    assert delivery.json()["data"]["state"] == "success"  # what would have been sent


def test_callback_receiver_errors_are_recorded(fast: Emulator, receiver: Receiver) -> None:
    receiver.status = 500
    create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": f"http://127.0.0.1:{port}/cb"})
    deliveries = sorted(fast.wait_for_callbacks(2), key=lambda d: d.status or 0)
    assert deliveries[0].status is None and deliveries[0].error
    assert deliveries[1].status == 500 and deliveries[1].error is None
    assert status(fast, MARKET_STATUS, deliveries[0].task_id)["code"] == 200  # the server carries on


def test_no_callback_without_a_callback_url(fast: Emulator) -> None:
    create(fast, MARKET_CREATE, market_body())
    time.sleep(0.3)
    assert fast.callbacks == [] and fast.pending_callbacks == 0


def test_a_longer_task_delivers_once_it_is_complete(fast: Emulator, receiver: Receiver) -> None:
    task_id = create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    fast.task_seconds = 0.6
    time.sleep(0.35)
    assert fast.callbacks == [] and fast.pending_callbacks == 1
    [delivery] = fast.wait_for_callbacks(1)
    assert delivery.task_id == task_id and delivery.json()["data"]["state"] == "success"
    assert fast.tasks[task_id].finished(fast.task_seconds)


def test_a_timer_that_fires_early_waits_for_the_task(fast: Emulator, receiver: Receiver) -> None:
    fast.task_seconds = 0.1
    task_id = create(fast, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    fast._task_seconds = 0.5  # behind the setter's back: the timer fires at 0.1 s and must wait again
    time.sleep(0.25)
    assert fast.callbacks == []
    [delivery] = fast.wait_for_callbacks(1)
    assert delivery.task_id == task_id


def test_a_finished_task_seen_by_a_status_query_delivers_at_once(emulator: Emulator, receiver: Receiver) -> None:
    task_id = create(emulator, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    assert emulator.pending_callbacks == 1  # task_seconds is 100 here
    at(emulator, task_id, 1.0)
    assert status(emulator, MARKET_STATUS, task_id)["data"]["state"] == "success"
    [delivery] = emulator.wait_for_callbacks(1)
    assert delivery.status == 200 and "X-Webhook-Signature" not in delivery.headers  # no key set


def test_stop_and_reset_cancel_pending_callbacks(receiver: Receiver) -> None:
    with Emulator(_registry(), task_seconds=0.3) as emulator:
        create(emulator, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
        assert emulator.pending_callbacks == 1
        emulator.reset()
        assert emulator.pending_callbacks == 0
        create(emulator, MARKET_CREATE, {**market_body(), "callBackUrl": receiver.url()})
    assert emulator.pending_callbacks == 0
    time.sleep(0.5)
    assert emulator.callbacks == [] and receiver.received == []


# -- rate limits ---------------------------------------------------------------------------------------


def test_limits_are_off_by_default(emulator: Emulator) -> None:
    for _ in range(25):
        create(emulator, MARKET_CREATE, market_body())
    assert all(call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")[0] == 200 for _ in range(15))
    assert emulator.limit_violations == 0


def test_create_limit_per_key(emulator: Emulator) -> None:
    emulator.enforce_limits = True
    for _ in range(20):
        create(emulator, MARKET_CREATE, market_body())
    status_code, reply, response = call(emulator, "POST", MARKET_CREATE, market_body())
    assert status_code == 429 and response.headers["Retry-After"] == "1"
    assert reply == {"code": 429, "msg": "Rate limit exceeded", "data": None}
    assert len(emulator.tasks) == 20 and emulator.limit_violations == 1
    create(emulator, MARKET_CREATE, market_body(), headers={"Authorization": "Bearer another-key"})
    ref_body = {"model": "test/market", "prompt": "x"}
    assert call(emulator, "POST", MARKET_CREATE, ref_body, headers=REF)[0] == 429  # the same key, by X-API-KEY
    assert emulator.limit_violations == 2 and len(emulator.tasks) == 21
    assert len([r for r in emulator.requests if r.path == MARKET_CREATE]) == 23
    emulator.reset()
    assert emulator.limit_violations == 0
    create(emulator, MARKET_CREATE, market_body())


def test_status_limit_per_key_over_every_status_path(emulator: Emulator) -> None:
    emulator.enforce_limits = True
    paths = [MARKET_STATUS, GPT4O_STATUS, FLUX_STATUS]
    answers = [call(emulator, "GET", f"{paths[i % 3]}?taskId=t{i}")[0] for i in range(11)]
    assert answers == [200] * 10 + [429] and emulator.limit_violations == 1
    assert call(emulator, "GET", f"{MARKET_STATUS}?taskId=x", headers={"Authorization": "Bearer other"})[0] == 200
    # unauthorised queries are refused before they count
    assert call(emulator, "GET", f"{MARKET_STATUS}?taskId=x", headers={})[1]["code"] == 401


def test_gpt4o_record_info_limit_per_task(emulator: Emulator) -> None:
    first = create(emulator, GPT4O_CREATE, {"prompt": "a", "size": "1:1"})
    second = create(emulator, GPT4O_CREATE, {"prompt": "b", "size": "1:1"})
    emulator.enforce_limits = True
    answers = [call(emulator, "GET", f"{GPT4O_STATUS}?taskId={first}")[0] for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    _, reply, response = call(emulator, "GET", f"{GPT4O_STATUS}?taskId={first}")
    assert reply["code"] == 429 and response.headers["Retry-After"] == "1"
    assert status(emulator, GPT4O_STATUS, second)["code"] == 200  # another task has its own window
    market = create(emulator, MARKET_CREATE, market_body())
    assert all(status(emulator, MARKET_STATUS, market)["code"] == 200 for _ in range(4))  # 4o only
    assert emulator.limit_violations == 2


def test_sliding_windows_and_custom_limits() -> None:
    with Emulator(_registry(), enforce_limits=True, status_limit=(2, 0.3), create_limit=(1, 0.3)) as emulator:
        assert [call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")[0] for _ in range(3)] == [200, 200, 429]
        create(emulator, MARKET_CREATE, market_body())
        assert call(emulator, "POST", MARKET_CREATE, market_body())[0] == 429
        time.sleep(0.35)
        assert call(emulator, "GET", f"{MARKET_STATUS}?taskId=x")[0] == 200
        create(emulator, MARKET_CREATE, market_body())
        assert emulator.limit_violations == 2
        emulator.enforce_limits = False
        assert call(emulator, "POST", MARKET_CREATE, market_body())[0] == 200


# -- credits ---------------------------------------------------------------------------------------


def test_credits() -> None:
    with Emulator(_registry(), task_seconds=100.0, credits=50) as emulator:
        status_code, reply, _ = call(emulator, "GET", CREDIT)
        assert status_code == 200 and reply == {"code": 200, "msg": "success", "data": 50}
        task_id = create(emulator, MARKET_CREATE, market_body(num_images="3"))
        assert call(emulator, "GET", CREDIT)[1]["data"] == 50  # charged when the images exist
        at(emulator, task_id, 1.0)
        assert call(emulator, "GET", CREDIT, headers=REF)[1]["data"] == 47 == emulator.credits
        emulator.inject("fail_task")
        failed = create(emulator, MARKET_CREATE, market_body())
        at(emulator, failed, 1.0)
        assert emulator.credits == 47  # failed tasks cost nothing
        assert call(emulator, "GET", CREDIT, headers={})[1]["code"] == 401
        emulator.credits = 2
        assert call(emulator, "GET", CREDIT)[1]["data"] == 2
        emulator.reset()
        assert emulator.credits == 50
