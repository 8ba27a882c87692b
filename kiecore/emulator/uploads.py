"""The upload host: Kie's three file-upload endpoints (docs/kie-api-notes.md §1.5), strictly, and the files they
keep, which the file host serves at the ``downloadUrl`` each reply gives.

- ``POST /api/file-stream-upload``: a ``multipart/form-data`` body of ``file`` and ``uploadPath`` (required)
  and ``fileName`` (optional);
- ``POST /api/file-base64-upload``: JSON ``{base64Data, uploadPath, fileName?}`` (``base64Data`` plain or a
  ``data:<type>;base64,`` URL);
- ``POST /api/file-url-upload``: JSON ``{fileUrl, uploadPath, fileName?}``; only this emulator's own file host
  is fetched from (read in-process: no connection is made), any other URL is refused.

Every answer is the upload envelope, ``{"success", "code", "msg", "data"?}``, at the HTTP status of its code:
200, 400 (a field missing, unknown or malformed, or a file over :data:`MAX_UPLOAD_BYTES`), 401 (no
``Authorization: Bearer <key>``, or another key than the emulator's), 405 (not a POST), 500 (a
``server_error`` fault, or an emulator bug); 404 for any other path. Faults ``on="upload"`` (or ``"any"``)
apply after the method check, before auth, as on the API host.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from email.message import Message
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import attrs

from kiecore.emulator.faults import FaultKind, FaultPlan
from kiecore.emulator.http_replies import fault_reply
from kiecore.emulator.httpserver import Reply
from kiecore.imagetypes import SNIFF_BYTES, sniff
from kiecore.localimages import MIME_TYPES
from kiecore.wire.uploads import BASE64_UPLOAD_PATH, STREAM_UPLOAD_PATH, UPLOAD_PATHS, URL_UPLOAD_PATH

#: The largest file the emulator keeps (the live docs recommend at most 100 MB for URL uploads).
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
#: Where an upload is served on the file host: ``/uploads/<upload id>/<file name>``.
UPLOAD_FILE_PREFIX = "/uploads/"

_NO_KEY = "Authentication failed: Invalid API Key"
_EXTENSIONS = {mime: extension for extension, mime in MIME_TYPES.items()}
_STREAM_FIELDS = frozenset({"file", "uploadPath", "fileName"})
_BASE64_FIELDS = frozenset({"base64Data", "uploadPath", "fileName"})
_URL_FIELDS = frozenset({"fileUrl", "uploadPath", "fileName"})


@attrs.frozen
class EmulatedUpload:
    """One uploaded file, as the upload host keeps it and the file host serves it."""

    id: str
    file_name: str
    file_path: str
    mime_type: str
    data: bytes = attrs.field(repr=False)
    download_url: str
    uploaded_at: str


class UploadStore:
    """The uploaded files, by id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uploads: dict[str, EmulatedUpload] = {}

    def add(self, upload: EmulatedUpload) -> None:
        with self._lock:
            self._uploads[upload.id] = upload

    def find(self, path: str) -> EmulatedUpload | None:
        """The upload a file-host path (``/uploads/<id>/<name>``) names, if any."""
        if not path.startswith(UPLOAD_FILE_PREFIX):
            return None
        upload_id, _, name = path[len(UPLOAD_FILE_PREFIX) :].partition("/")
        with self._lock:
            upload = self._uploads.get(upload_id)
        return upload if upload is not None and quote(upload.file_name) == name else None

    def snapshot(self) -> list[EmulatedUpload]:
        with self._lock:
            return list(self._uploads.values())

    def clear(self) -> None:
        with self._lock:
            self._uploads.clear()


class UploadSettings(Protocol):
    """What the upload host reads from the emulator at each request."""

    @property
    def api_key(self) -> str | None: ...

    @property
    def retry_after(self) -> float: ...

    @property
    def files_url(self) -> str: ...


#: ``fetch(url)``: the bytes this emulator's file host serves at ``url``, or ``None`` (not its URL, or no file).
Fetch = Callable[[str], bytes | None]


class _Refusal(Exception):
    """A request the upload host refuses with 400 (the message says why)."""


class UploadHost:
    """Answers every request to the upload server."""

    def __init__(self, store: UploadStore, faults: FaultPlan, settings: UploadSettings, fetch: Fetch) -> None:
        self._store = store
        self._faults = faults
        self._settings = settings
        self._fetch = fetch

    def respond(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """The reply to one request; ``headers`` have lower-case names."""
        if path not in UPLOAD_PATHS:
            return upload_reply(404, "Not Found")
        if method != "POST":
            return attrs.evolve(upload_reply(405, "Method Not Allowed"), headers=(("Allow", "POST"),))
        fault = self._faults.take("upload")
        delay, drip = self._faults.take_delay("upload"), self._faults.take_drip("upload")
        if fault is not None:
            reply = _fault_reply(fault, self._settings.retry_after)
        elif not self._authorised(headers):
            reply = upload_reply(401, _NO_KEY)
        else:
            try:
                reply = self._upload(path, headers.get("content-type", ""), body)
            except _Refusal as refusal:
                reply = upload_reply(400, str(refusal))
        return attrs.evolve(reply, delay=delay, drip=drip)

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        scheme, _, key = headers.get("authorization", "").strip().partition(" ")
        expected = self._settings.api_key
        return scheme.lower() == "bearer" and bool(key.strip()) and (expected is None or key.strip() == expected)

    def _upload(self, path: str, content_type: str, body: bytes) -> Reply:
        """What one upload request keeps, by its endpoint; :class:`_Refusal` for what the service refuses."""
        mime: str | None = None
        default_name: str | None = None
        if path == STREAM_UPLOAD_PATH:
            fields = _form(content_type, body)
            _only(fields, _STREAM_FIELDS)
            given: dict[str, Any] = {name: field.text() for name, field in fields.items() if name != "file"}
            upload_path = _upload_path(given.get("uploadPath"))
            file = fields.get("file")
            if file is None:
                raise _Refusal("file: is required")
            data, default_name, mime = file.data, file.file_name, file.content_type
        elif path == BASE64_UPLOAD_PATH:
            given = _json_object(content_type, body)
            _only(given, _BASE64_FIELDS)
            upload_path = _upload_path(given.get("uploadPath"))
            data, mime = _base64_data(given.get("base64Data"))
        else:
            assert path == URL_UPLOAD_PATH
            given = _json_object(content_type, body)
            _only(given, _URL_FIELDS)
            upload_path = _upload_path(given.get("uploadPath"))
            data = self._from_url(given.get("fileUrl"))
            default_name = unquote(urlsplit(given["fileUrl"]).path.rsplit("/", 1)[-1]) or None
        return json_upload(self._keep(data, upload_path, given.get("fileName"), default_name, mime))

    def _from_url(self, value: Any) -> bytes:
        if not isinstance(value, str) or not value:
            raise _Refusal("fileUrl: is required" if value is None else "fileUrl: must be an http(s) URL")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _Refusal("fileUrl: must be an http(s) URL")
        files = self._settings.files_url
        if not value.startswith(files + "/"):
            raise _Refusal(f"fileUrl: this emulator downloads only from its own file host ({files})")
        data = self._fetch(value)
        if data is None:
            raise _Refusal("fileUrl: the file could not be downloaded (HTTP 404)")
        return data

    def _keep(
        self, data: bytes, upload_path: str, file_name: Any, default_name: str | None, mime: str | None
    ) -> EmulatedUpload:
        """Keep ``data`` (named ``file_name`` as given, else ``default_name``, else by its id) and describe it."""
        if not data:
            raise _Refusal("file: is empty")
        if len(data) > MAX_UPLOAD_BYTES:
            raise _Refusal(f"file: larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        sniffed = sniff(data[:SNIFF_BYTES])
        mime_type = MIME_TYPES[sniffed] if sniffed is not None else (mime or "application/octet-stream")
        upload_id = secrets.token_hex(8)
        name = _file_name(file_name, default_name, upload_id, _EXTENSIONS.get(mime_type, "bin"))
        upload = EmulatedUpload(
            id=upload_id,
            file_name=name,
            file_path=f"{upload_path}/{name}",
            mime_type=mime_type,
            data=data,
            download_url=f"{self._settings.files_url}{UPLOAD_FILE_PREFIX}{upload_id}/{quote(name)}",
            uploaded_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        self._store.add(upload)
        return upload


def upload_reply(code: int, message: str, data: Any = None) -> Reply:
    """The upload envelope, at the HTTP status of its ``code`` (``data`` only on success)."""
    payload: dict[str, Any] = {"success": code == 200, "code": code, "msg": message}
    if data is not None:
        payload["data"] = data
    return Reply(code, json.dumps(payload, ensure_ascii=False).encode())


def json_upload(upload: EmulatedUpload) -> Reply:
    """The success reply for ``upload``."""
    data = {
        "fileName": upload.file_name,
        "filePath": upload.file_path,
        "downloadUrl": upload.download_url,
        "fileSize": len(upload.data),
        "mimeType": upload.mime_type,
        "uploadedAt": upload.uploaded_at,
    }
    return upload_reply(200, "File uploaded successfully", data)


def _fault_reply(fault: Any, retry_after: float) -> Reply:
    """A reply-shaping fault, in the upload envelope where it has a code."""
    kind = fault.kind
    if kind is FaultKind.SERVER_ERROR:
        return upload_reply(int(fault.options.get("status", 500)), "Server Error")
    if kind is FaultKind.AUTH:
        return upload_reply(401, _NO_KEY)
    if kind is FaultKind.RATE_LIMIT:
        seconds = float(fault.options.get("retry_after", retry_after))
        return attrs.evolve(upload_reply(429, "Rate limit exceeded"), headers=(("Retry-After", f"{seconds:g}"),))
    return fault_reply(fault, "msg", retry_after)  # drop, non_json, credits


@attrs.frozen
class _Field:
    data: bytes
    file_name: str | None = None
    content_type: str | None = None

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refusal("a text field is not UTF-8") from None


def _form(content_type: str, body: bytes) -> dict[str, _Field]:
    """The fields of a ``multipart/form-data`` body (RFC 7578); :class:`_Refusal` for anything else."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        raise _Refusal("Content-Type must be multipart/form-data with a boundary")
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    if len(chunks) < 2 or chunks[0] or not chunks[-1].startswith(b"--"):
        raise _Refusal("the multipart body is malformed")
    fields: dict[str, _Field] = {}
    for chunk in chunks[1:-1]:
        head, separator, data = chunk.partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"\r\n"):
            raise _Refusal("the multipart body is malformed")
        part = Message()
        for line in head[2:].decode("latin-1").split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                raise _Refusal("the multipart body is malformed")
            part[name.strip()] = value.strip()
        field = part.get_param("name", header="content-disposition")
        if part.get("content-disposition", "").split(";")[0].strip().lower() != "form-data" or not field:
            raise _Refusal("each part needs Content-Disposition: form-data with a name")
        name = str(field)
        if name in fields:
            raise _Refusal(f"{name}: given twice")
        file_name = part.get_param("filename", header="content-disposition")
        fields[name] = _Field(data, str(file_name) if file_name else None, part.get("content-type"))
    return fields


def _json_object(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise _Refusal("Content-Type must be application/json")
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Refusal("the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise _Refusal("the body must be a JSON object")
    return value


def _only(given: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in given:
        if name not in allowed:
            raise _Refusal(f"{name}: unknown field")


def _upload_path(value: Any) -> str:
    if value is None:
        raise _Refusal("uploadPath: is required")
    if not isinstance(value, str) or not value.strip("/ "):
        raise _Refusal("uploadPath: must be a non-empty string")
    path = value.strip().strip("/")
    if "\\" in path or any(segment in ("", ".", "..") for segment in path.split("/")):
        raise _Refusal("uploadPath: must be a relative folder path such as images/user-uploads")
    return path


def _file_name(given: Any, part_name: str | None, upload_id: str, extension: str) -> str:
    if given is None:
        name = part_name or f"{upload_id}.{extension}"
    elif not isinstance(given, str) or not given:
        raise _Refusal("fileName: must be a non-empty string")
    else:
        name = given
    if "/" in name or "\\" in name or name in (".", ".."):
        raise _Refusal("fileName: must be a plain file name")
    return name


def _base64_data(value: Any) -> tuple[bytes, str | None]:
    """The bytes of ``base64Data`` and the MIME type a data URL states, if any."""
    if value is None:
        raise _Refusal("base64Data: is required")
    if not isinstance(value, str) or not value:
        raise _Refusal("base64Data: must be a non-empty string")
    mime = None
    if value.startswith("data:"):
        head, comma, value = value.partition(",")
        if not comma or not head.endswith(";base64"):
            raise _Refusal("base64Data: a data URL must be data:<type>;base64,<data>")
        mime = head[len("data:") : -len(";base64")] or None
    try:
        return base64.b64decode(value, validate=True), mime
    except (binascii.Error, ValueError):
        raise _Refusal("base64Data: is not valid base64") from None
