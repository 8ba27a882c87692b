"""The client: validate, submit, poll, download. All I/O happens here and in the transport and downloader;
plugins only map data."""

from __future__ import annotations

import ipaddress
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import attrs

from kiecore.download import DEFAULT_MAX_BYTES, Downloader, IfExists, existing_result, file_name, remove_partials
from kiecore.errors import (
    APIError,
    DeadlineExceededError,
    DownloadError,
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
    TaskBusyError,
    TaskFailedError,
    TransportError,
    UsageError,
    WrongKeyError,
)
from kiecore.journal import Journal, JournalEntry, JournalState
from kiecore.model import GenerationRequest, GenerationResult, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.polling import DEFAULT_INTERVAL, default_timeout, poll_delay
from kiecore.ratelimit import PUBLISHED_LIMITS, AccountLimiter, RateLimits, account_fingerprint, account_limiter
from kiecore.recorder import Recorder
from kiecore.redaction import clean_api_key
from kiecore.registry import ModelEntry, Registry
from kiecore.retry import RetryPolicy
from kiecore.transport import DEFAULT_BASE_URL, Sender, Transport, is_loopback
from kiecore.validation import resolve_params
from kiecore.wire.envelope import task_id_of
from kiecore.wire.links import parse_link_reply
from kiecore.wire.request import WireRequest

#: More result URLs than this for one task is not a reply to trust.
MAX_RESULT_URLS = 64
#: Errors while polling that say nothing about the task: keep polling until the deadline.
_TRANSIENT = (RateLimitedError, ServerError, ServiceUnavailableError, TransportError)

StatusCallback = Callable[[TaskStatus], None]


@attrs.frozen
class PreparedRequest:
    """A validated create request, ready to send: what ``submit`` would send, without sending it."""

    model: ModelEntry
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
    it can be resumed after a crash (:meth:`resume`); a journal that fails once a create was answered never
    loses the task (see :mod:`kiecore.recorder`); the one line a person must then see goes to ``notices``
    (default: standard error). The key is stripped of surrounding white space; one with a control character in
    it is refused (:class:`UsageError`) before anything is recorded or sent. ``transport`` replaces the HTTP
    transport (its ``base_url`` is then the client's), e.g. with a test's
    :class:`~kiecore.testing.scripted.ScriptedTransport`.
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
        notices: TextIO | None = None,
        transport: Sender | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("KIE_API_KEY")
        self.api_key = key.strip() or None if key is not None else None
        configured = base_url or os.environ.get("KIE_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = transport.base_url if transport is not None else configured
        self.profile = Profile(profile)
        self.retry = retry or RetryPolicy()
        self.poll_interval = _positive(poll_interval, "the poll interval")
        self.visibility_grace = _positive(visibility_grace, "the visibility grace", zero=True)
        self.max_download_bytes = max_download_bytes
        self.rate_limits = rate_limits
        self.journal = journal
        self._recorder = Recorder(journal, stream=notices, sleep=sleep, clock=clock)
        self._registry = registry
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._transport: Sender | None = transport
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
    def transport(self) -> Sender:
        """The transport to the API host (built on first use: no key, no transport)."""
        with self._lock:
            if self._transport is None:
                if not self.api_key:
                    raise MissingAPIKeyError()
                self._transport = Transport(
                    self.base_url, clean_api_key(self.api_key), retry=self.retry, sleep=self._sleep, clock=self._clock
                )
            if self._limiter is None and self.rate_limits is not None and self.api_key:
                self._limiter = account_limiter(self._transport.base_url, self.api_key, self.rate_limits)
            return self._transport

    @property
    def downloader(self) -> Downloader:
        with self._lock:
            if self._downloader is None:
                # Result files on private addresses are refused, unless the API itself lives on one (an emulator).
                api_host = urlsplit(self.base_url).hostname or ""
                self._downloader = Downloader(
                    max_bytes=self.max_download_bytes,
                    retry=self.retry,
                    sleep=self._sleep,
                    clock=self._clock,
                    allow_private_hosts=is_loopback(api_host) or _is_private(api_host),
                )
            return self._downloader

    @property
    def key_fingerprint(self) -> str | None:
        """Which key at which host this client speaks with, without the key (what the journal records)."""
        return account_fingerprint(self.transport.base_url, self.api_key) if self.api_key else None

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
        served = self.model(model)
        chosen = self.profile if profile is None else Profile(profile)
        request = attrs.evolve(request, **params) if request is not None else GenerationRequest(**params)
        wire_params = resolve_params(served.spec, chosen, request)
        wire = self.registry.build_request(served, chosen, wire_params, request)
        return PreparedRequest(served, chosen, request, wire_params, wire)

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
        fingerprint = self.key_fingerprint
        if self._limiter is not None:
            self._limiter.creates.acquire()
        ticket = self._recorder.begin(  # a journal that cannot record this: nothing is sent
            model=prepared.model.spec.id,
            profile=prepared.profile,
            base_url=transport.base_url,
            request=prepared.request,
            output_dir=output_dir,
            key_fingerprint=fingerprint,
        )
        try:
            handle = self._create(transport, prepared)
        except SubmitUncertainError as error:
            self._recorder.uncertain(ticket, str(error))
            raise
        except KieError as error:  # refused before anything was created
            self._recorder.refused(ticket, str(error))
            raise
        except BaseException:  # interrupted mid-request: the outcome is unknown
            self._recorder.uncertain(ticket, "interrupted while submitting")
            raise
        self._recorder.submitted(ticket, handle)
        return handle

    def _create(self, transport: Sender, prepared: PreparedRequest) -> TaskHandle:
        submitted_at = time.time()
        reply = transport.send(prepared.wire, profile=prepared.profile, idempotent=False)
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

    def status(self, handle: TaskHandle, *, deadline: float | None = None) -> TaskStatus:
        """Query a task once. Shortly after a submit, "not visible yet" comes back as ``QUEUED``."""
        served = self.model(handle.model)
        dialect = self.registry.dialect_of(served, handle.profile)
        request = dialect.status_request(served.spec.wire(handle.profile).status_path, handle.task_id)
        transport = self.transport
        if self._limiter is not None:
            self._limiter.status.acquire()
            if dialect.status_limited_per_task:
                self._limiter.task_status(handle.task_id).acquire()
        try:
            reply = transport.send(request, profile=handle.profile, idempotent=True, deadline=deadline)
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
            status = attrs.evolve(status, fail_message=transport.redact(status.fail_message))
        if status.state is TaskState.SUCCEEDED:
            urls = self.registry.extract_urls(served, handle.profile, reply)
            if len(urls) > MAX_RESULT_URLS:
                raise ParseError(
                    f"the reply for task {handle.task_id} lists {len(urls)} result URLs; too many to trust"
                )
            status = attrs.evolve(status, urls=urls)
        return status

    def _not_visible_yet(self, handle: TaskHandle) -> bool:
        return time.time() - handle.submitted_at < self.visibility_grace

    def wait(
        self, handle: TaskHandle, *, timeout: float | None = None, on_status: StatusCallback | None = None
    ) -> TaskStatus:
        """Poll until the task succeeds (returned), fails (:class:`TaskFailedError`) or ``timeout`` seconds pass
        (:class:`DeadlineExceededError`; default from the model's typical duration)."""
        timeout = self._timeout(handle.model, timeout)
        return self._wait(handle, self._clock() + timeout, timeout, on_status)

    def _timeout(self, model: str, timeout: float | None) -> float:
        """``timeout`` checked, or the model's default deadline."""
        if timeout is None:
            return default_timeout(self.model(model).spec.typical_seconds)
        return _positive(timeout, "the timeout")

    def _wait(
        self, handle: TaskHandle, deadline: float, timeout: float, on_status: StatusCallback | None
    ) -> TaskStatus:
        typical = self.model(handle.model).spec.typical_seconds
        base_url = self.transport.base_url
        last: TaskStatus | None = None
        since_submit = time.time() - handle.submitted_at
        if since_submit < self.poll_interval:
            self._sleep(max(0.0, min(self.poll_interval - since_submit, deadline - self._clock())))
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
                self._recorder.observed(base_url, handle, status)
                if status.state is TaskState.SUCCEEDED:
                    return status
                if status.state is TaskState.FAILED:
                    raise TaskFailedError(handle, status)
            remaining = deadline - self._clock()
            if remaining <= 0:
                timed_out = DeadlineExceededError(handle, timeout, last)
                self._recorder.note_error(base_url, handle, str(timed_out))
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
        deadline: float | None = None,
    ) -> tuple[Path, ...]:
        """Save every result of a succeeded task into ``output_dir`` as ``<task id>[_<n>].<ext>``.

        A result URL the file host refuses (expired) is exchanged for a fresh link from Kie once. Every result
        is tried even when one fails; the first failure is raised after the others were tried.
        ``if_exists``: ``"error"`` (never overwrite), ``"overwrite"``, or ``"keep"`` an existing file.
        ``deadline`` (a ``clock()`` value) bounds every download.
        """
        return self._download(handle, status, Path(output_dir), if_exists, deadline, present={})

    def _download(
        self,
        handle: TaskHandle,
        status: TaskStatus,
        directory: Path,
        if_exists: IfExists,
        deadline: float | None,
        present: dict[int, Path],
    ) -> tuple[Path, ...]:
        base_url = self.transport.base_url
        count = len(status.urls)
        files: dict[int, Path] = dict(present)
        failures: list[KieError] = []
        for index, url in enumerate(status.urls):
            if index in files:
                continue
            name = _namer(handle.task_id, index, count)
            try:
                try:
                    path = self.downloader.fetch(url, directory, name, if_exists=if_exists, deadline=deadline)
                except LinkExpiredError as expired:
                    try:
                        fresh = self.fresh_link(handle, url)
                    except KieError as error:
                        raise DownloadError(f"{expired}, and Kie gave no fresh link ({error})") from None
                    path = self.downloader.fetch(fresh, directory, name, if_exists=if_exists, deadline=deadline)
            except KieError as error:
                failures.append(error)
                continue
            files[index] = path
            self._recorder.saved(base_url, handle, path)
        if failures:
            if len(failures) > 1:
                raise DownloadError(f"{len(failures)} of {count} results could not be saved; the first: {failures[0]}")
            raise failures[0]
        ordered = tuple(files[index] for index in range(count))
        self._recorder.downloaded(base_url, handle, ordered)
        return ordered

    def fresh_link(self, handle: TaskHandle, url: str) -> str:
        """A new download link (valid about 20 minutes) for ``url``, a result of ``handle``'s task."""
        dialect = self.registry.dialect_of(self.model(handle.model), handle.profile)
        request = dialect.link_request(handle.task_id, url)
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
        ``timeout`` bounds the whole generation, downloads included. Everything that can be checked locally
        (parameters, the timeout, an output folder that can be created and written) is checked before anything
        is sent.
        """
        request = prompt if isinstance(prompt, GenerationRequest) else None
        if isinstance(prompt, str):
            params["prompt"] = prompt
        prepared = self.prepare(model, request, profile=profile, **params)
        timeout = self._timeout(model, timeout)
        directory = check_output_dir(output_dir) if download else None
        handle = self._submit(prepared, output_dir=str(directory) if directory is not None else None)
        deadline = self._clock() + timeout
        if on_submit is not None:
            on_submit(handle)
        status = self._wait(handle, deadline, timeout, on_status)
        if directory is not None:
            files = self._download(handle, status, directory, "error", deadline, present={})
        else:  # the URLs were all that was asked for: nothing is left to resume
            files = ()
            self._recorder.downloaded(self.transport.base_url, handle, [])
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
        missing (files already saved, by the journal's record or on disk, are not fetched again). ``task`` is a
        journal entry or a stored handle (its journal entry, if any, is kept up to date). ``output_dir``
        defaults to the one the task was started with.

        A journal record is claimed first: :class:`TaskBusyError` if another live process is handling it,
        :class:`WrongKeyError` if it was created with another key or at another host than this client's.
        """
        if isinstance(task, TaskHandle):
            record = self.journal.find(self.transport.base_url, task.task_id) if self.journal is not None else None
            if record is None:
                timeout = self._timeout(task.model, timeout)
                deadline = self._clock() + timeout
                status = self._wait(task, deadline, timeout, on_status)
                files = self._download_missing(task, status, Path(output_dir or "."), recorded=(), deadline=deadline)
                return GenerationResult(handle=task, status=status, files=files)
            task = record
        handle = task.handle
        if handle is None or task.state not in (JournalState.SUBMITTED, JournalState.SUCCEEDED):
            raise UsageError(f"journal entry {task.id} ({task.state.value}) cannot be resumed")
        self._claim(task)
        timeout = self._timeout(handle.model, timeout)
        deadline = self._clock() + timeout
        if task.state is JournalState.SUCCEEDED:
            status = TaskStatus(state=TaskState.SUCCEEDED, urls=task.urls)
        else:
            status = self._wait(handle, deadline, timeout, on_status)
        directory = Path(output_dir if output_dir is not None else task.output_dir or ".")
        files = self._download_missing(handle, status, directory, recorded=task.files, deadline=deadline)
        return GenerationResult(handle=handle, status=status, files=files)

    def _claim(self, record: JournalEntry) -> None:
        if record.key_fingerprint is not None and record.key_fingerprint != self.key_fingerprint:
            raise WrongKeyError(
                f"task {record.task_id} was created with another API key or at another host than {record.base_url};"
                " set the key it was created with to resume it"
            )
        if self.journal is not None and not self.journal.claim(record.id):
            raise TaskBusyError(f"task {record.task_id} is being handled by another running process")
        self._recorder.adopt(record)

    def abandon(self, task: JournalEntry | TaskHandle) -> None:
        """Give up on an unfinished task: it is no longer waited on, resumed or announced. Needs a journal."""
        if self.journal is None:
            raise UsageError("abandoning a task needs a journal")
        record = task if isinstance(task, JournalEntry) else self.journal.find(self.transport.base_url, task.task_id)
        if record is None:
            raise UsageError(f"task {task.task_id} is not in the journal")
        self.journal.abandon(record.id)

    def _download_missing(
        self,
        handle: TaskHandle,
        status: TaskStatus,
        directory: Path,
        *,
        recorded: tuple[str, ...],
        deadline: float | None = None,
    ) -> tuple[Path, ...]:
        """Download only the results that are neither recorded as saved nor already on disk."""
        count = len(status.urls)
        present: dict[int, Path] = {}
        for index in range(count):
            stem = file_name(handle.task_id, index, count, "x").removesuffix(".x")
            kept = [Path(file) for file in recorded if Path(file).stem == stem and Path(file).is_file()]
            found = kept[0] if kept else existing_result(directory, handle.task_id, index, count)
            if found is not None:
                present[index] = found
        if len(present) < count and directory.is_dir():
            remove_partials(directory, handle.task_id)  # left by a download that was killed
        return self._download(handle, status, directory, "keep", deadline, present=present)


def check_output_dir(output_dir: str | os.PathLike[str]) -> Path:
    """The output folder, resolved, created if needed and proved writable; :class:`UsageError` otherwise, so a
    generation never pays for images it could not save."""
    directory = Path(output_dir).expanduser().resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UsageError(f"cannot save images in {directory}: {reason}; choose another folder with -o") from None
    return directory


def _positive(value: float, what: str, *, zero: bool = False) -> float:
    """``value`` if it is a finite number above 0 (or 0, with ``zero``); :class:`UsageError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{what} must be a number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise UsageError(f"{what} must be more than 0 seconds, not {value:g}")
    return float(value)


def _is_private(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_private
    except ValueError:
        return False


def _namer(task_id: str, index: int, count: int) -> Callable[[str], str]:
    return lambda extension: file_name(task_id, index, count, extension)
