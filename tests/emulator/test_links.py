"""Fresh download links: both download-url endpoints and the links they hand out (links.py)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from kiecore.emulator import Emulator
from tests.emulator.helpers import (
    DOWNLOAD_URL,
    EXPIRED_BODY,
    GPT4O_CREATE,
    GPT4O_DOWNLOAD_URL,
    MARKET_CREATE,
    REF,
    at,
    call,
    create,
    fetch,
    market_body,
)


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
