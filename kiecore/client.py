"""The client: validate, submit, poll, download. All I/O happens here and in the transport and downloader;
plugins only map data."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from kiecore.declarations import Dialect
from kiecore.download import DEFAULT_MAX_BYTES, Downloader, IfExists, file_name, remove_partials
from kiecore.errors import (
    APIError,
    DeadlineExceededError,
    InvalidRequestError,
    KieError,
    LinkExpiredError,
    MissingAPIKeyError,
    NotFoundError,
    ParseError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    SubmitUncertainError,
    TaskFailedError,
    TransportError,
    UsageError,
)
from kiecore.journal import Journal, JournalEntry, JournalState
from kiecore.model import GenerationRequest, GenerationResult, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.polling import DEFAULT_INTERVAL, default_timeout, poll_delay
from kiecore.ratelimit import PUBLISHED_LIMITS, AccountLimiter, RateLimits, account_limiter
from kiecore.registry import ModelEntry, Registry
from kiecore.retry import RetryPolicy
from kiecore.transport import DEFAULT_BASE_URL, Transport
from kiecore.validation import resolve_params
from kiecore.wire.body import build_status_request
from kiecore.wire.links import build_link_request, parse_link_reply
from kiecore.wire.request import WireRequest

#: Body codes of a status reply that mean the task itself failed (408: no result for 10 minutes).
_TASK_FAILURE_CODES = (408, 501)
#: Errors while polling that say nothing about the task: keep polling until the deadline.
_TRANSIENT = (RateLimitedError, ServerError, ServiceUnavailableError, TransportError)

StatusCallback = Callable[[TaskStatus], None]


@attrs.frozen
class PreparedRequest:
    """A validated create request, ready to send: what ``submit`` would send, without sending it."""

    entry: ModelEntry
    profile: Profile
    request: GenerationRequest
    params: dict[str, Any]
    wire: WireRequest


class Client:
    """A Kie client. Thread-safe; use one per process and close it (or use it as a context manager).

    ``api_key`` defaults to ``$KIE_API_KEY`` and ``base_url`` to ``$KIE_BASE_URL`` or https://api.kie.ai.
    ``poll_interval`` is the first phase's wait between status queries (see :mod:`kiecore.polling`).
    ``visibility_grace`` is how long after a submit "recordInfo is null" means "not visible yet".
    ``rate_limits`` are kept client-side, shared by every client of the process using the same key and host
    (``None`` turns them off). With a ``journal``, every task is recorded durably before it is waited on, so
    it can be resumed after a crash (:meth:`resume`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        profile: Profile | str = Profile.LIVE,
        registry: Registry | None = None,
        retry: RetryPolicy | None = None,
        poll_interval: float = DEFAULT_INTERVAL,
        visibility_grace: float = 30.0,
        max_download_bytes: int = DEFAULT_MAX_BYTES,
        rate_limits: RateLimits | None = PUBLISHED_LIMITS,
        journal: Journal | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_key = api_key if api_key is not None else os.environ.get("KIE_API_KEY") or None
        self.base_url = base_url or os.environ.get("KIE_BASE_URL") or DEFAULT_BASE_URL
        self.profile = Profile(profile)
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.visibility_grace = visibility_grace
        self.max_download_bytes = max_download_bytes
        self.rate_limits = rate_limits
        self.journal = journal
        self._registry = registry
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._transport: Transport | None = None
        self._limiter: AccountLimiter | None = None
        self._downloader: Downloader | None = None

    # -- plumbing ------------------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """The installed plugins (loaded on first use unless one was given)."""
        with self._lock:
            if self._registry is None:
                from kiecore.loading import load_registry

                self._registry = load_registry()
            return self._registry

    @property
    def transport(self) -> Transport:
        with self._lock:
            if self._transport is None:
                if not self.api_key:
                    raise MissingAPIKeyError()
                self._transport = Transport(
                    self.base_url, self.api_key, retry=self.retry, sleep=self._sleep, clock=self._clock
                )
                if self.rate_limits is not None:
                    self._limiter = account_limiter(self._transport.base_url, self.api_key, self.rate_limits)
            return self._transport

    @property
    def downloader(self) -> Downloader:
        with self._lock:
            if self._downloader is None:
                self._downloader = Downloader(max_bytes=self.max_download_bytes, retry=self.retry, sleep=self._sleep)
            return self._downloader

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
            if self._downloader is not None:
                self._downloader.close()
            self._transport = self._downloader = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the API -------------------------------------------------------------------------------------

    def model(self, name: str) -> ModelEntry:
        """The installed model called ``name`` (id or alias)."""
        return self.registry.resolve(name)

    def prepare(
        self,
        model: str,
        request: GenerationRequest | None = None,
        /,
        *,
        profile: Profile | str | None = None,
        **params: Any,
    ) -> PreparedRequest:
        """Validate a request and build what would be sent, without sending anything.

        ``params`` are GenerationRequest fields (``prompt=``, ``aspect_ratio=``, ``extra={...}``); with
        ``request`` they override its fields.
        """
        entry = self.model(model)
        chosen = self.profile if profile is None else Profile(profile)
        request = attrs.evolve(request, **params) if request is not None else GenerationRequest(**params)
        wire_params = resolve_params(entry.spec, chosen, request)
        wire = self.registry.build_request(entry, chosen, wire_params, request)
        return PreparedRequest(entry, chosen, request, wire_params, wire)

    def submit(
        self,
        model: str,
        request: GenerationRequest | None = None,
        /,
        *,
        profile: Profile | str | None = None,
        **params: Any,
    ) -> TaskHandle:
        """Create a task; returns its handle. Nothing is sent if a parameter is invalid.

        With a journal, the task is recorded before the request is sent. Raises :class:`SubmitUncertainError`
        if the answer was lost after sending (the task may exist; it is never resubmitted).
        """
        return self._submit(self.prepare(model, request, profile=profile, **params), output_dir=None)

    def _submit(self, prepared: PreparedRequest, output_dir: str | None) -> TaskHandle:
        transport = self.transport  # no key, no journal entry
        if self._limiter is not None:
            self._limiter.creates.acquire()
        entry_id = None
        if self.journal is not None:
            entry_id = self.journal.begin_submit(
                model=prepared.entry.spec.id,
                profile=prepared.profile,
                base_url=transport.base_url,
                request=prepared.request,
                output_dir=output_dir,
            )
        try:
            handle = self._create(transport, prepared)
        except SubmitUncertainError as error:
            uncertain = str(error)
            self._record(entry_id, lambda journal, entry: journal.uncertain(entry, uncertain))
            raise
        except KieError as error:  # refused before anything was created
            refusal = str(error)
            self._record(entry_id, lambda journal, entry: journal.refused(entry, refusal))
            raise
        except BaseException:  # interrupted mid-request: the outcome is unknown
            self._record(entry_id, lambda journal, entry: journal.uncertain(entry, "interrupted while submitting"))
            raise
        self._record(entry_id, lambda journal, entry: journal.submitted(entry, handle))
        return handle

    def _create(self, transport: Transport, prepared: PreparedRequest) -> TaskHandle:
        submitted_at = time.time()
        reply = transport.send(prepared.wire, profile=prepared.profile, idempotent=False)
        try:
            task_id = self.registry.parse_submit(prepared.entry, prepared.profile, reply)
        except ParseError as error:
            raise SubmitUncertainError(
                f"the create reply could not be read ({error}); the task may have been created: "
                "check your Kie task history before submitting again"
            ) from error
        return TaskHandle(
            model=prepared.entry.spec.id, task_id=task_id, profile=prepared.profile, submitted_at=submitted_at
        )

    def _record(self, entry_id: int | None, action: Callable[[Journal, int], None]) -> None:
        """Apply ``action`` to the journal entry ``entry_id``, if there is a journal and an entry."""
        if self.journal is not None and entry_id is not None:
            action(self.journal, entry_id)

    def _entry_id(self, handle: TaskHandle) -> int | None:
        """The journal entry of ``handle``'s task, if it was journalled."""
        if self.journal is None:
            return None
        entry = self.journal.find(self.transport.base_url, handle.task_id)
        return None if entry is None else entry.id

    def status(self, handle: TaskHandle, *, deadline: float | None = None) -> TaskStatus:
        """Query a task once. Shortly after a submit, "not visible yet" comes back as ``QUEUED``."""
        entry = self.model(handle.model)
        request = build_status_request(entry.spec, handle.profile, handle.task_id)
        transport = self.transport
        if self._limiter is not None:
            self._limiter.status.acquire()
            if entry.spec.wire(handle.profile).dialect is Dialect.GPT4O:
                self._limiter.task_status(handle.task_id).acquire()
        try:
            reply = transport.send(request, profile=handle.profile, idempotent=True, deadline=deadline)
        except (InvalidRequestError, NotFoundError) as error:
            if time.time() - handle.submitted_at < self.visibility_grace:
                return TaskStatus(state=TaskState.QUEUED, raw=None)
            raise error
        except APIError as error:
            if error.code in _TASK_FAILURE_CODES:
                return TaskStatus(
                    state=TaskState.FAILED, fail_code=str(error.code), fail_message=error.kie_message or None
                )
            raise
        status = self.registry.parse_status(entry, handle.profile, reply)
        if status.state is TaskState.SUCCEEDED:
            status = attrs.evolve(status, urls=self.registry.extract_urls(entry, handle.profile, reply))
        return status

    def wait(
        self, handle: TaskHandle, *, timeout: float | None = None, on_status: StatusCallback | None = None
    ) -> TaskStatus:
        """Poll until the task succeeds (returned), fails (:class:`TaskFailedError`) or ``timeout`` seconds pass
        (:class:`DeadlineExceededError`; default from the model's typical duration)."""
        typical = self.model(handle.model).spec.typical_seconds
        timeout = default_timeout(typical) if timeout is None else timeout
        deadline = self._clock() + timeout
        last: TaskStatus | None = None
        since_submit = time.time() - handle.submitted_at
        if since_submit < self.poll_interval:
            self._sleep(min(self.poll_interval - since_submit, timeout))
        while True:
            try:
                status = self.status(handle, deadline=deadline)
            except _TRANSIENT:  # a status query is never a submit, so never SubmitUncertainError
                status = None
            if status is not None:
                last = status
                if on_status is not None:
                    on_status(status)
                if status.state is TaskState.SUCCEEDED and not status.urls:
                    raise ParseError(f"task {handle.task_id} succeeded but the reply lists no result URLs")
                if status.state.terminal:
                    self._record(self._entry_id(handle), functools.partial(Journal.observed, status=status))
                if status.state is TaskState.SUCCEEDED:
                    return status
                if status.state is TaskState.FAILED:
                    raise TaskFailedError(handle, status)
            remaining = deadline - self._clock()
            if remaining <= 0:
                timed_out = DeadlineExceededError(handle, timeout, last)
                self._record(self._entry_id(handle), functools.partial(Journal.note_error, error=str(timed_out)))
                raise timed_out
            elapsed = time.time() - handle.submitted_at
            self._sleep(min(poll_delay(elapsed, typical_seconds=typical, interval=self.poll_interval), remaining))

    def download(
        self,
        handle: TaskHandle,
        status: TaskStatus,
        output_dir: str | os.PathLike[str] = ".",
        *,
        if_exists: IfExists = "error",
    ) -> tuple[Path, ...]:
        """Save every result of a succeeded task into ``output_dir`` as ``<task id>[_<n>].<ext>``.

        A result URL the file host refuses (expired) is exchanged for a fresh link from Kie once.
        ``if_exists``: ``"error"`` (never overwrite), ``"overwrite"``, or ``"keep"`` an existing file.
        """
        directory = Path(output_dir)
        count = len(status.urls)
        files = []
        for index, url in enumerate(status.urls):
            name = _namer(handle.task_id, index, count)
            try:
                path = self.downloader.fetch(url, directory, name, if_exists=if_exists)
            except LinkExpiredError:
                path = self.downloader.fetch(self.fresh_link(handle, url), directory, name, if_exists=if_exists)
            files.append(path)
        self._record(self._entry_id(handle), functools.partial(Journal.downloaded, files=files))
        return tuple(files)

    def fresh_link(self, handle: TaskHandle, url: str) -> str:
        """A new download link (valid about 20 minutes) for ``url``, a result of ``handle``'s task."""
        dialect = self.model(handle.model).spec.wire(handle.profile).dialect
        request = build_link_request(dialect, handle.task_id, url)
        return parse_link_reply(self.transport.send(request, profile=handle.profile, idempotent=True))

    def generate(
        self,
        model: str,
        prompt: str | GenerationRequest | None = None,
        *,
        output_dir: str | os.PathLike[str] = ".",
        timeout: float | None = None,
        download: bool = True,
        profile: Profile | str | None = None,
        on_submit: Callable[[TaskHandle], None] | None = None,
        on_status: StatusCallback | None = None,
        **params: Any,
    ) -> GenerationResult:
        """Submit, wait, and (unless ``download=False``) save every result: the whole journey in one call.

        ``prompt`` is the prompt text or a whole :class:`GenerationRequest`; ``params`` set or override fields.
        """
        request = prompt if isinstance(prompt, GenerationRequest) else None
        if isinstance(prompt, str):
            params["prompt"] = prompt
        prepared = self.prepare(model, request, profile=profile, **params)
        handle = self._submit(prepared, output_dir=str(Path(output_dir).resolve()) if download else None)
        if on_submit is not None:
            on_submit(handle)
        status = self.wait(handle, timeout=timeout, on_status=on_status)
        if download:
            files = self.download(handle, status, output_dir)
        else:  # the URLs were all that was asked for: nothing is left to resume
            files = ()
            self._record(self._entry_id(handle), functools.partial(Journal.downloaded, files=[]))
        return GenerationResult(handle=handle, status=status, files=files)

    def resume(
        self,
        task: JournalEntry | TaskHandle,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        on_status: StatusCallback | None = None,
    ) -> GenerationResult:
        """Finish a task without submitting anything: wait if it is still running, then download what is
        missing (files already saved are kept). ``task`` is a journal entry or a stored handle (its journal
        entry, if any, is kept up to date). ``output_dir`` defaults to the one the task was started with."""
        if isinstance(task, TaskHandle):
            entry = self.journal.find(self.transport.base_url, task.task_id) if self.journal is not None else None
            if entry is None:
                status = self.wait(task, timeout=timeout, on_status=on_status)
                files = self._download_missing(task, status, output_dir or ".")
                return GenerationResult(handle=task, status=status, files=files)
            task = entry
        handle = task.handle
        if handle is None or task.state not in (JournalState.SUBMITTED, JournalState.SUCCEEDED):
            raise UsageError(f"journal entry {task.id} ({task.state.value}) cannot be resumed")
        if task.state is JournalState.SUCCEEDED:
            status = TaskStatus(state=TaskState.SUCCEEDED, urls=task.urls)
        else:
            status = self.wait(handle, timeout=timeout, on_status=on_status)
        files = self._download_missing(handle, status, output_dir if output_dir is not None else task.output_dir)
        return GenerationResult(handle=handle, status=status, files=files)

    def _download_missing(
        self, handle: TaskHandle, status: TaskStatus, output_dir: str | os.PathLike[str] | None
    ) -> tuple[Path, ...]:
        directory = Path(output_dir or ".")
        if directory.is_dir():
            remove_partials(directory, handle.task_id)  # left by a download that was killed
        return self.download(handle, status, directory, if_exists="keep")


def _namer(task_id: str, index: int, count: int) -> Callable[[str], str]:
    return lambda extension: file_name(task_id, index, count, extension)
