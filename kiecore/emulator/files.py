"""The file host: each task's result images, drawn on first request and cached, and the files uploaded to the
upload host (:mod:`kiecore.emulator.uploads`) at ``/uploads/<id>/<name>``.

A file answers 404 until its task has succeeded (and for names the task has not). An original result URL of a
task hit by an ``expire`` fault answers the S3-style 403 "Request has expired"; a fresh link answers the same
once stale, and 403 ``SignatureDoesNotMatch`` when its signature was not handed out for that very file.
Download faults apply here; the key is never needed.
"""

from __future__ import annotations

import time
from typing import Protocol
from urllib.parse import parse_qs

import attrs

from kiecore.emulator import images
from kiecore.emulator.faults import FaultPlan
from kiecore.emulator.http_replies import fault_reply
from kiecore.emulator.httpserver import Reply
from kiecore.emulator.links import FreshLinks
from kiecore.emulator.routes import FILE_PATH
from kiecore.emulator.tasks import TaskStore
from kiecore.emulator.uploads import UploadStore

#: The S3-style 403 body of an expired (or badly signed) file URL.
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
)
BAD_SIGNATURE_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the"
    b" signature you provided.</Message></Error>"
)

_NOT_FOUND = Reply(404, b"Not Found", content_type="text/plain")


class FileSettings(Protocol):
    """What the file host reads from the emulator at each request."""

    @property
    def task_seconds(self) -> float: ...

    @property
    def retry_after(self) -> float: ...


class FileHost:
    """Answers every request to the file server."""

    def __init__(
        self, tasks: TaskStore, faults: FaultPlan, links: FreshLinks, settings: FileSettings, uploads: UploadStore
    ) -> None:
        self._tasks = tasks
        self._faults = faults
        self._links = links
        self._settings = settings
        self._uploads = uploads
        self._images = images.ImageCache()

    def respond(self, method: str, path: str, query: str) -> Reply:
        fault = self._faults.take("download")
        delay, drip = self._faults.take_delay("download"), self._faults.take_drip("download")
        if fault is not None:
            return attrs.evolve(fault_reply(fault, "msg", self._settings.retry_after), delay=delay, drip=drip)
        return attrs.evolve(self._file(method, path, query), delay=delay, drip=drip)

    def clear(self) -> None:
        """Forget every drawn image."""
        self._images.clear()

    def fetch(self, path: str, query: str = "") -> Reply:
        """What a GET of ``path`` answers, without faults (the upload host reading its own file host)."""
        return self._file("GET", path, query)

    def _file(self, method: str, path: str, query: str) -> Reply:
        uploaded = self._uploads.find(path) if method == "GET" else None
        if uploaded is not None:
            return Reply(200, uploaded.data, content_type=uploaded.mime_type)
        match = FILE_PATH.match(path)
        task = self._tasks.get(match.group(1)) if match and method == "GET" else None
        if match is None or task is None:
            return _NOT_FOUND
        index = task.files.get(match.group(2))
        if index is None:
            return _NOT_FOUND
        fields = parse_qs(query)
        signed = fields.get("X-Amz-Signature") or fields.get("Signature")
        if signed:  # a fresh link: it must be one we handed out for this very file, and not stale
            link = self._links.find(signed[0])
            if link is None or (link.task_id, link.name) != (task.id, match.group(2)):
                return Reply(403, BAD_SIGNATURE_XML, content_type="application/xml")
            if time.time() >= link.expires:
                return Reply(403, EXPIRED_XML, content_type="application/xml")
        elif task.expired:
            if task.expire_fault is not None:
                self._faults.note_fired(task.expire_fault)
            return Reply(403, EXPIRED_XML, content_type="application/xml")
        if not task.succeeded(self._settings.task_seconds):
            return _NOT_FOUND
        data = self._images.get(
            (task.id, index), lambda: images.render(task.prompt, index, task.size, task.pillow_format)
        )
        extension = match.group(2).rsplit(".", 1)[-1]
        return Reply(200, data, content_type=images.CONTENT_TYPES[extension])
