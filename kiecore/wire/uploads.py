"""The file-upload API's wire format (docs/kie-api-notes.md §1.5): its paths, the stream upload's multipart
request, and its reply envelope, read in this one place.

The upload host answers ``{"success": true, "code": 200, "msg": ..., "data": {"fileName", "filePath",
"downloadUrl", "fileSize", "mimeType", "uploadedAt"}}``, and ``{"success": false, "code": 401, "msg": ...}`` when
it refuses (codes 400, 401, 405, 500). Everything here raises only :class:`~kiecore.errors.UploadError`, and
:class:`~kiecore.errors.AuthenticationError` for a refused key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override
from urllib3 import encode_multipart_formdata

from kiecore.errors import AuthenticationError, KieError, UploadError
from kiecore.localimages import is_http_url
from kiecore.wire.envelope import as_int, reply_code, reply_message, text
from kiecore.wire.request import WireRequest

STREAM_UPLOAD_PATH = "/api/file-stream-upload"
BASE64_UPLOAD_PATH = "/api/file-base64-upload"
URL_UPLOAD_PATH = "/api/file-url-upload"
#: Every upload endpoint; each takes POST only.
UPLOAD_PATHS = (STREAM_UPLOAD_PATH, BASE64_UPLOAD_PATH, URL_UPLOAD_PATH)

_MESSAGE_CHARS = 300


@attrs.frozen(kw_only=True)
class UploadedFile:
    """The ``data`` of a successful upload: where the file can be fetched (``download_url``, kept 3 days), and
    what the host says of it (any of which may be missing)."""

    download_url: str
    file_name: str | None = None
    file_path: str | None = None
    file_size: int | None = None
    mime_type: str | None = None
    uploaded_at: str | None = None


_converter = cattrs.Converter()
# The file's facts are for display: a value of an unexpected type reads as missing, never as an error.
_converter.register_structure_hook(str | None, lambda value, _type: text(value))
_converter.register_structure_hook(int | None, lambda value, _type: as_int(value))
_converter.register_structure_hook(
    UploadedFile,
    make_dict_structure_fn(
        UploadedFile,
        _converter,
        download_url=override(rename="downloadUrl"),
        file_name=override(rename="fileName"),
        file_path=override(rename="filePath"),
        file_size=override(rename="fileSize"),
        mime_type=override(rename="mimeType"),
        uploaded_at=override(rename="uploadedAt"),
    ),
)


def stream_upload_request(data: bytes, *, file_name: str, upload_path: str, mime_type: str) -> WireRequest:
    """``POST /api/file-stream-upload``: a multipart form of ``file`` (``data``, named ``file_name``),
    ``uploadPath`` and ``fileName``."""
    body, content_type = encode_multipart_formdata(
        [("file", (file_name, data, mime_type)), ("uploadPath", upload_path), ("fileName", file_name)]
    )
    return WireRequest("POST", STREAM_UPLOAD_PATH, data=body, content_type=content_type)


def parse_upload_reply(reply: Any, *, host: str, redact: Callable[[str], str] = str) -> UploadedFile:
    """The uploaded file of a reply with ``success`` true and code 200 (either may be missing, not both), whose
    ``data.downloadUrl`` is an http(s) URL; :func:`upload_error` of its code otherwise. ``redact`` masks the key
    in any server text quoted."""
    if not isinstance(reply, Mapping):
        raise UploadError(f"{host} sent an upload reply that is not a JSON object")
    code, success = reply_code(reply), reply.get("success")
    succeeded = (success is True and code in (None, 200)) or (success is None and code == 200)
    if not succeeded:
        message = redact(_clip(reply_message(reply)))
        if code is None or code == 200:  # a contradiction, or no answer at all: no code to go by
            said = f": {message}" if message else ""
            raise UploadError(f"{host} did not confirm the upload (success {success!r}, code {code}){said}")
        raise upload_error(code, message, host=host)
    data = reply.get("data")
    if not isinstance(data, Mapping):
        raise UploadError(f"{host} answered the upload without a data object")
    try:
        uploaded = _converter.structure(data, UploadedFile)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError):
        raise UploadError(f"{host} answered the upload without a downloadUrl") from None
    if not is_http_url(uploaded.download_url):
        raise UploadError(f"{host} answered the upload with a downloadUrl that is not an http(s) URL")
    return uploaded


def upload_error(code: int, message: str, *, host: str, http_status: int | None = None) -> KieError:
    """The typed error for an upload host's refusal ``code`` (body code, else HTTP status): 401 a refused key
    (:class:`AuthenticationError`), anything else an :class:`UploadError`. ``message`` is the host's, redacted."""
    detail = f"{code}: {message}" if message else str(code)
    if code == 401:
        return AuthenticationError(
            f"{host} refused the API key for the upload ({detail}); check KIE_API_KEY",
            http_status=http_status,
            code=code,
            kie_message=message,
        )
    if code == 400:
        line = f"{host} refused the upload ({detail}); check the file"
    elif code == 405:
        line = f"{host} does not take uploads this way ({detail}); check the upload URL (KIE_UPLOAD_URL)"
    elif code == 429:
        line = f"{host} rate limited the upload ({detail}); try again later"
    elif 500 <= code < 600:
        line = f"{host} had a server error during the upload ({detail}); try again later"
    else:
        line = f"{host} answered the upload with {detail}"
    return UploadError(line, code=code, kie_message=message)


def _clip(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= _MESSAGE_CHARS else line[: _MESSAGE_CHARS - 3] + "..."
