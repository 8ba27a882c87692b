"""One request each: create a task, query it once, ask for a fresh link, save its results; and before a create,
the upload of its local images. Blocking, no scheduling and no journal: the engine decides when each runs
(:mod:`kiecore.engine.scheduler`) and records what each found (:mod:`kiecore.engine.steps`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from kiecore.download import Downloader, IfExists
from kiecore.errors import (
    APIError,
    DownloadError,
    InvalidRequestError,
    KieError,
    LinkExpiredError,
    NotFoundError,
    ParseError,
    SubmitUncertainError,
    UsageError,
)
from kiecore.localimages import MAX_IMAGE_BYTES, file_url, local_files, local_path, map_images
from kiecore.model import GenerationRequest, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.registry import ModelEntry, Registry
from kiecore.transport import Sender
from kiecore.uploads import Uploader
from kiecore.validation import resolve_params
from kiecore.wire.envelope import task_id_of
from kiecore.wire.links import parse_link_reply
from kiecore.wire.request import WireRequest

#: More result URLs than this for one task is not a reply to trust.
MAX_RESULT_URLS = 64


@attrs.frozen
class PreparedRequest:
    """A validated create request, ready to send: what ``submit`` would send, without sending it.

    A local image stands in ``request``, ``params`` and ``wire`` as its ``file:`` URL until it is uploaded
    (:meth:`Calls.upload_images`); :attr:`uploads` lists them.
    """

    model: ModelEntry
    profile: Profile
    request: GenerationRequest
    params: dict[str, Any]
    wire: WireRequest

    @property
    def uploads(self) -> tuple[str, ...]:
        """The ``file:`` URLs of the local images to upload before the create is sent (usually none)."""
        found = local_files(self.model.spec.wire(self.profile), self.request)
        return tuple(dict.fromkeys(value for _spec, value in found))


def prepare_request(
    registry: Registry, model: ModelEntry, profile: Profile, request: GenerationRequest
) -> PreparedRequest:
    """``request`` validated against ``model`` in ``profile`` and its create request built (nothing is sent);
    local images are checked and written as their ``file:`` URLs."""
    params = resolve_params(model.spec, profile, request)
    request = map_images(model.spec.wire(profile), request, file_url)
    return PreparedRequest(model, profile, request, params, registry.build_request(model, profile, params, request))


class Calls:
    """The requests of one client: ``registry`` reads replies, ``transport`` reaches the API host,
    ``downloader`` the file hosts and ``uploader`` (``None``: none configured) the upload host;
    ``visibility_grace`` gives how long after a submit "no such task" means "not visible yet" (read at each
    query). Thread-safe."""

    def __init__(
        self,
        registry: Registry,
        transport: Sender,
        downloader: Callable[[], Downloader],
        *,
        visibility_grace: Callable[[], float],
        uploader: Callable[[], Uploader] | None = None,
    ) -> None:
        self.registry = registry
        self.transport = transport
        self._downloader = downloader
        self._uploader = uploader
        self.visibility_grace = visibility_grace

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def upload_images(self, prepared: PreparedRequest, *, deadline: float | None = None) -> PreparedRequest:
        """``prepared`` with each local image uploaded (or found uploaded already) and its URL in place of its
        ``file:`` URL, the create request built again from that; ``prepared`` itself when it has none. Raises
        :class:`UploadError` (or :class:`AuthenticationError`) when an upload fails: then nothing is created."""
        wire = prepared.model.spec.wire(prepared.profile)
        limits: dict[str, int] = {}
        for spec, value in local_files(wire, prepared.request):
            limit = spec.max_file_bytes or MAX_IMAGE_BYTES
            limits[value] = min(limits.get(value, limit), limit)
        if not limits:
            return prepared
        if self._uploader is None:
            raise UsageError("local images need an upload host: set KIE_UPLOAD_URL (or Client(upload_url=...))")
        uploader = self._uploader()
        urls: dict[str, str] = {}
        for value, limit in limits.items():
            path = local_path(value)
            assert path is not None  # a file: URL names a file
            urls[value] = uploader.upload(path, max_bytes=limit, deadline=deadline)
        request = map_images(wire, prepared.request, lambda value: urls.get(value, value))
        return prepare_request(self.registry, prepared.model, prepared.profile, request)

    def create(self, prepared: PreparedRequest, *, once: bool = False) -> TaskHandle:
        """Send the create; the new task's handle. With ``once``, a 429 or a connection that could not be made
        raises at once (nothing was created); a reply that cannot be read is :class:`SubmitUncertainError`."""
        submitted_at = time.time()
        reply = self.transport.send(prepared.wire, profile=prepared.profile, idempotent=False, once=once)
        try:
            task_id = self.registry.parse_submit(prepared.model, prepared.profile, reply)
        except ParseError as error:
            raise SubmitUncertainError(
                f"the create reply could not be read ({error}); the task may have been created: "
                "check your Kie task history before submitting again"
            ) from error
        return TaskHandle(
            model=prepared.model.spec.id, task_id=task_id, profile=prepared.profile, submitted_at=submitted_at
        )

    def query(self, handle: TaskHandle, *, deadline: float | None = None, once: bool = False) -> TaskStatus:
        """Ask once how the task is doing. Shortly after a submit, "not visible yet" comes back as ``QUEUED``;
        a body code the dialect reserves for failed tasks is a ``FAILED`` status."""
        served = self.registry.resolve(handle.model)
        dialect = self.registry.dialect_of(served, handle.profile)
        request = dialect.status_request(served.spec.wire(handle.profile).status_path, handle.task_id)
        try:
            reply = self.transport.send(request, profile=handle.profile, idempotent=True, deadline=deadline, once=once)
        except (InvalidRequestError, NotFoundError) as error:
            if self._not_visible_yet(handle):
                return TaskStatus(state=TaskState.QUEUED, raw=None)
            raise error
        except APIError as error:
            if error.code in dialect.task_failure_codes:
                return TaskStatus(
                    state=TaskState.FAILED, fail_code=str(error.code), fail_message=error.kie_message or None
                )
            raise
        if isinstance(reply, Mapping) and reply.get("data") is None:  # seen live while a task is processing
            if self._not_visible_yet(handle):
                return TaskStatus(state=TaskState.QUEUED, raw=reply)
            raise NotFoundError(
                f"Kie holds no record of task {handle.task_id} (the status reply has no data); check the task id",
                http_status=200,
                code=reply.get("code") if isinstance(reply.get("code"), int) else None,
            )
        about = task_id_of(reply["data"]) if isinstance(reply.get("data"), Mapping) else None
        if about is not None and about != handle.task_id:
            raise ParseError(f"the status reply for task {handle.task_id} is about another task")
        status = self.registry.parse_status(served, handle.profile, reply)
        if status.fail_message:
            status = attrs.evolve(status, fail_message=self.transport.redact(status.fail_message))
        if status.state is TaskState.SUCCEEDED:
            urls = self.registry.extract_urls(served, handle.profile, reply)
            if len(urls) > MAX_RESULT_URLS:
                raise ParseError(
                    f"the reply for task {handle.task_id} lists {len(urls)} result URLs; too many to trust"
                )
            status = attrs.evolve(status, urls=urls)
        return status

    def _not_visible_yet(self, handle: TaskHandle) -> bool:
        return time.time() - handle.submitted_at < self.visibility_grace()

    def fresh_link(self, handle: TaskHandle, url: str) -> str:
        """A new download link (valid about 20 minutes) for ``url``, a result of ``handle``'s task."""
        dialect = self.registry.dialect_of(self.registry.resolve(handle.model), handle.profile)
        request = dialect.link_request(handle.task_id, url)
        return parse_link_reply(self.transport.send(request, profile=handle.profile, idempotent=True))

    def save(
        self,
        handle: TaskHandle,
        urls: tuple[str, ...],
        index: int,
        directory: Path,
        name: Callable[[str], str],
        *,
        if_exists: IfExists,
        deadline: float | None,
    ) -> Path:
        """Save result ``index`` of ``urls`` into ``directory`` as ``name(extension)``
        (:meth:`kiecore.naming.TaskNames.namer`); an expired link is exchanged for a fresh one once."""
        downloader = self._downloader()
        try:
            return downloader.fetch(urls[index], directory, name, if_exists=if_exists, deadline=deadline)
        except LinkExpiredError as expired:
            try:
                fresh = self.fresh_link(handle, urls[index])
            except KieError as error:
                raise DownloadError(f"{expired}, and Kie gave no fresh link ({error})") from None
            return downloader.fetch(fresh, directory, name, if_exists=if_exists, deadline=deadline)
