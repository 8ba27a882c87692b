"""Reply shapes and state sequences per dialect and profile (replies.py), spoken to with raw HTTP."""

from __future__ import annotations

import io
import json
import time

from PIL import Image

from kiecore.emulator import Emulator, FaultKind
from tests.emulator.helpers import (
    FLUX_CREATE,
    FLUX_STATUS,
    GPT4O_CREATE,
    GPT4O_STATUS,
    MARKET_CREATE,
    MARKET_STATUS,
    PRO_CREATE,
    REF,
    at,
    call,
    create,
    fetch,
    market_body,
    status,
)

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
