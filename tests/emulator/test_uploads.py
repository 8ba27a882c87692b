"""The upload host (uploads.py): Kie's three upload endpoints, strictly, and the files served back."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
import urllib3
from PIL import Image

from kiecore.emulator import Emulator
from tests.emulator.helpers import HTTP, KEY, LIVE, fetch
from tests.emulator.models import emulated_registry

STREAM = "/api/file-stream-upload"
BASE64 = "/api/file-base64-upload"
URL = "/api/file-url-upload"


def picture() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = picture()


def send(
    emulator: Emulator,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    sent = {**(LIVE if headers is None else headers), **({"Content-Type": content_type} if content_type else {})}
    response = HTTP.request(method, emulator.upload_url + path, body=body, headers=sent)
    return response.status, json.loads(response.data)


def stream(emulator: Emulator, fields: list[Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    body, content_type = urllib3.encode_multipart_formdata(fields)
    return send(emulator, "POST", STREAM, body=body, content_type=content_type, headers=headers)


def post_json(emulator: Emulator, path: str, payload: Any) -> tuple[int, Any]:
    return send(emulator, "POST", path, body=json.dumps(payload).encode())


def test_the_upload_host_is_its_own_origin(emulator: Emulator) -> None:
    assert emulator.upload_url not in (emulator.base_url, emulator.files_url)
    assert emulator.upload_url.startswith("http://127.0.0.1:")


def test_a_stream_upload_is_kept_and_served_back(emulator: Emulator) -> None:
    status, reply = stream(
        emulator,
        [("file", ("cat.png", PNG, "image/png")), ("uploadPath", "images/user-uploads"), ("fileName", "c.png")],
    )
    assert status == 200 and reply["success"] is True and reply["code"] == 200
    assert reply["msg"] == "File uploaded successfully"
    data = reply["data"]
    assert set(data) == {"fileName", "filePath", "downloadUrl", "fileSize", "mimeType", "uploadedAt"}
    assert data["fileName"] == "c.png" and data["filePath"] == "images/user-uploads/c.png"
    assert data["fileSize"] == len(PNG) and data["mimeType"] == "image/png" and data["uploadedAt"].endswith("Z")
    assert data["downloadUrl"].startswith(emulator.files_url + "/uploads/")
    served = fetch(data["downloadUrl"])  # no key needed, as on the live file host
    assert served.status == 200 and served.data == PNG and served.headers["Content-Type"] == "image/png"
    (kept,) = emulator.uploads
    assert kept.download_url == data["downloadUrl"] and kept.data == PNG


def test_the_file_name_defaults_to_the_parts_own(emulator: Emulator) -> None:
    status, reply = stream(emulator, [("file", ("cat.png", PNG, "image/png")), ("uploadPath", "x")])
    assert status == 200 and reply["data"]["fileName"] == "cat.png"


def test_a_base64_upload_plain_or_as_a_data_url(emulator: Emulator) -> None:
    plain = base64.b64encode(PNG).decode()
    status, reply = post_json(emulator, BASE64, {"base64Data": plain, "uploadPath": "b64"})
    assert status == 200 and reply["data"]["mimeType"] == "image/png"
    assert reply["data"]["fileName"].endswith(".png")
    status, reply = post_json(
        emulator, BASE64, {"base64Data": f"data:image/png;base64,{plain}", "uploadPath": "b64", "fileName": "d.png"}
    )
    assert status == 200 and fetch(reply["data"]["downloadUrl"]).data == PNG


def test_a_url_upload_of_its_own_file_host(emulator: Emulator) -> None:
    _, first = stream(emulator, [("file", ("a.png", PNG, "image/png")), ("uploadPath", "one")])
    status, reply = post_json(emulator, URL, {"fileUrl": first["data"]["downloadUrl"], "uploadPath": "two"})
    assert status == 200 and reply["data"]["filePath"] == "two/a.png"
    assert fetch(reply["data"]["downloadUrl"]).data == PNG
    assert [r.server for r in emulator.requests] == ["uploads", "uploads", "files"]  # read in-process, not fetched


def test_a_url_upload_of_another_host_is_refused_without_a_connection(emulator: Emulator) -> None:
    status, reply = post_json(emulator, URL, {"fileUrl": "https://example.com/a.png", "uploadPath": "x"})
    assert status == 400 and reply == {
        "success": False,
        "code": 400,
        "msg": f"fileUrl: this emulator downloads only from its own file host ({emulator.files_url})",
    }
    status, reply = post_json(emulator, URL, {"fileUrl": emulator.files_url + "/uploads/none/a.png", "uploadPath": "x"})
    assert status == 400 and "could not be downloaded" in reply["msg"]


@pytest.mark.parametrize(
    ("path", "payload", "fragment"),
    [
        (BASE64, {"uploadPath": "x"}, "base64Data: is required"),
        (BASE64, {"base64Data": "QUJD"}, "uploadPath: is required"),
        (BASE64, {"base64Data": "not base64!", "uploadPath": "x"}, "base64Data: is not valid base64"),
        (BASE64, {"base64Data": "QUJD", "uploadPath": "x", "extra": 1}, "extra: unknown field"),
        (BASE64, {"base64Data": "QUJD", "uploadPath": "../up"}, "uploadPath: must be a relative folder path"),
        (BASE64, {"base64Data": "QUJD", "uploadPath": "x", "fileName": "a/b.png"}, "fileName: must be a plain"),
        (BASE64, {"base64Data": "", "uploadPath": "x"}, "base64Data: must be a non-empty string"),
        (URL, {"uploadPath": "x"}, "fileUrl: is required"),
        (URL, {"fileUrl": "ftp://a/b", "uploadPath": "x"}, "fileUrl: must be an http(s) URL"),
        (URL, {"fileUrl": "https://a/b"}, "uploadPath: is required"),
        (BASE64, ["a list"], "the body must be a JSON object"),
    ],
)
def test_json_uploads_are_strict(emulator: Emulator, path: str, payload: Any, fragment: str) -> None:
    status, reply = post_json(emulator, path, payload)
    assert (status, reply["success"], reply["code"]) == (400, False, 400)
    assert fragment in reply["msg"] and "data" not in reply
    assert emulator.uploads == []


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ([("uploadPath", "x")], "file: is required"),
        ([("file", ("a.png", PNG, "image/png"))], "uploadPath: is required"),
        ([("file", ("a.png", PNG, "image/png")), ("uploadPath", "x"), ("other", "1")], "other: unknown field"),
        ([("file", ("a.png", b"", "image/png")), ("uploadPath", "x")], "file: is empty"),
        ([("file", ("a.png", PNG, "image/png")), ("file", ("b.png", PNG, "image/png"))], "file: given twice"),
    ],
)
def test_stream_uploads_are_strict(emulator: Emulator, fields: list[Any], fragment: str) -> None:
    status, reply = stream(emulator, fields)
    assert status == 400 and reply["code"] == 400 and fragment in reply["msg"]


def test_a_stream_upload_must_be_multipart(emulator: Emulator) -> None:
    status, reply = send(emulator, "POST", STREAM, body=PNG, content_type="image/png")
    assert status == 400 and "multipart/form-data" in reply["msg"]
    status, reply = send(emulator, "POST", STREAM, body=b"garbage", content_type="multipart/form-data; boundary=xx")
    assert status == 400 and "malformed" in reply["msg"]
    status, reply = send(emulator, "POST", BASE64, body=b"{}", content_type="text/plain")
    assert status == 400 and "application/json" in reply["msg"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": f"Basic {KEY}"}, {"X-API-KEY": KEY}],
    ids=["none", "empty", "not-bearer", "reference-header"],
)
def test_uploads_need_a_bearer_key(emulator: Emulator, headers: dict[str, str]) -> None:
    status, reply = stream(emulator, [("file", ("a.png", PNG, "image/png")), ("uploadPath", "x")], headers=headers)
    assert status == 401 and reply == {"success": False, "code": 401, "msg": "Authentication failed: Invalid API Key"}
    assert emulator.uploads == []


def test_only_the_emulators_key_when_it_has_one(emulator: Emulator) -> None:
    emulator.api_key = "the-one"
    try:
        assert stream(emulator, [("file", ("a.png", PNG, "image/png")), ("uploadPath", "x")])[0] == 401
        good = {"Authorization": "Bearer the-one"}
        assert stream(emulator, [("file", ("a.png", PNG, "image/png")), ("uploadPath", "x")], headers=good)[0] == 200
    finally:
        emulator.api_key = None


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("path", [STREAM, BASE64, URL])
def test_another_method_is_405(emulator: Emulator, method: str, path: str) -> None:
    response = HTTP.request(method, emulator.upload_url + path, headers=LIVE)
    assert response.status == 405 and response.headers["Allow"] == "POST"
    assert json.loads(response.data) == {"success": False, "code": 405, "msg": "Method Not Allowed"}


def test_another_path_is_404_and_the_api_is_not_served_here(emulator: Emulator) -> None:
    status, reply = send(emulator, "POST", "/api/v1/jobs/createTask", body=b"{}")
    assert status == 404 and reply["success"] is False
    response = HTTP.request("POST", emulator.base_url + STREAM, headers=LIVE)  # nor uploads on the API host
    assert response.status == 404


def test_faults_on_uploads(emulator: Emulator) -> None:
    fields = [("file", ("a.png", PNG, "image/png")), ("uploadPath", "x")]
    emulator.inject("server_error", on="upload")
    assert stream(emulator, fields) == (500, {"success": False, "code": 500, "msg": "Server Error"})
    emulator.inject("auth", on="upload")
    assert stream(emulator, fields)[0] == 401
    emulator.inject("server_error", on="submit")  # another phase's fault leaves uploads alone
    assert stream(emulator, fields)[0] == 200
    assert emulator.faults.fired("server_error") == 1


def test_reset_forgets_uploads(emulator: Emulator) -> None:
    _, reply = stream(emulator, [("file", ("a.png", PNG, "image/png")), ("uploadPath", "x")])
    emulator.reset()
    assert emulator.uploads == [] and fetch(reply["data"]["downloadUrl"]).status == 404


def test_the_upload_server_starts_and_stops_with_the_emulator() -> None:
    emulator = Emulator(emulated_registry())
    with pytest.raises(RuntimeError):
        _ = emulator.upload_url
    with emulator:
        url = emulator.upload_url
        assert HTTP.request("GET", url + STREAM, headers=LIVE).status == 405
    with pytest.raises(urllib3.exceptions.HTTPError):
        HTTP.request("GET", url + STREAM, headers=LIVE)
