"""The file host: formats, origins, and expired result URLs (files.py)."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from PIL import Image

from kiecore.emulator import Emulator, FaultKind, parse_fault
from tests.emulator.helpers import (
    DOWNLOAD_URL,
    EXPIRED_BODY,
    FLUX_CREATE,
    FLUX_STATUS,
    GPT4O_CREATE,
    GPT4O_DOWNLOAD_URL,
    KEY,
    MARKET_CREATE,
    at,
    call,
    create,
    fetch,
    market_body,
    status,
)

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
