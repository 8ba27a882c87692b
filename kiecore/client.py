"""The client: validate, submit, poll, download. All I/O happens here and in the transport and downloader;
plugins only map data."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ipaddress
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import attrs

from kiecore.download import DEFAULT_MAX_BYTES, Downloader, IfExists
from kiecore.engine.budgets import (
    AccountBudgets,
    BudgetStoreError,
    Slot,
    Window,
    account_budgets,
    default_path_beside,
    wait_for_slot,
)
from kiecore.engine.calls import Calls, PreparedRequest, prepare_request
from kiecore.engine.jobs import Goal, Job, Phase, StatusCallback
from kiecore.engine.runtimes import RunTimeBook
from kiecore.engine.scheduler import Engine
from kiecore.engine.steps import Steps
from kiecore.errors import KieError, MissingAPIKeyError, TaskBusyError, UsageError, WrongKeyError, prefixed
from kiecore.events import RetryCallback
from kiecore.journal import Journal, JournalEntry, JournalState
from kiecore.localimages import check_image, local_path
from kiecore.model import GenerationRequest, GenerationResult, Profile, TaskHandle, TaskState, TaskStatus
from kiecore.naming import Naming
from kiecore.polling import DEFAULT_INTERVAL, default_timeout
from kiecore.pricing import image_count
from kiecore.ratelimit import PUBLISHED_LIMITS, RateLimits, account_fingerprint
from kiecore.recorder import Recorder
from kiecore.redaction import clean_api_key
from kiecore.registry import ModelEntry, Registry
from kiecore.retry import RetryPolicy
from kiecore.splitting import split_request
from kiecore.transport import DEFAULT_BASE_URL, Sender, Transport, check_base_url, is_loopback
from kiecore.uploads import DEFAULT_UPLOAD_URL, UPLOAD_TIMEOUT_SECONDS, Uploader
from kiecore.wire.credits import credit_request, parse_credit_reply

__all__ = ["Client", "PreparedRequest", "RetryCallback", "StatusCallback", "check_output_dir", "naming_for"]

#: How long a folder proved writable stays proved for this client's next generations into it.
FOLDER_CHECK_SECONDS = 10.0


class Client:
    """A Kie client. Thread-safe; use one per process and close it (or use it as a context manager).

    Every task runs on the client's one engine (:mod:`kiecore.engine`: a scheduler thread and a few workers,
    however many tasks are in flight). ``api_key`` defaults to ``$KIE_API_KEY`` and ``base_url`` to
    ``$KIE_BASE_URL`` or https://api.kie.ai. ``poll_interval`` sets the time scale of the poll schedule
    (2.0, the default, is live pacing; see :mod:`kiecore.engine.plan`).
    ``visibility_grace`` is how long after a submit "recordInfo is null" means "not visible yet".
    ``rate_limits`` are kept client-side, exactly (:mod:`kiecore.engine.budgets`), shared by every client of
    the process using the same key and host, and with a ``journal`` by every process on the host too (``None``
    turns them off). With a ``journal``, every task is recorded durably before it is waited on, so
    it can be resumed after a crash (:meth:`resume`); a journal that fails once a create was answered never
    loses the task (see :mod:`kiecore.recorder`); the one line a person must then see goes to ``notices``
    (default: standard error). The key is stripped of surrounding white space; one with a control character in
    it is refused (:class:`UsageError`) before anything is recorded or sent. ``transport`` replaces the HTTP
    transport (its ``base_url`` is then the client's), e.g. with a test's
    :class:`~kiecore.testing.scripted.ScriptedTransport`.

    Local image files given where a model takes image URLs are uploaded before their create is sent
    (:mod:`kiecore.uploads`), to ``upload_url``, else ``$KIE_UPLOAD_URL``, else, for the live API host only,
    https://kieai.redpandaai.co; with another API host and none configured, a local image is refused. The key
    goes to the API host and the upload host, and nowhere else.
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
        upload_url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("KIE_API_KEY")
        self.api_key = key.strip() or None if key is not None else None
        configured = base_url or os.environ.get("KIE_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = transport.base_url if transport is not None else configured
        live = self.base_url.rstrip("/") == DEFAULT_BASE_URL
        #: Where local images are uploaded (``None``: nowhere configured; a local image is then refused).
        self.upload_url = upload_url or os.environ.get("KIE_UPLOAD_URL") or (DEFAULT_UPLOAD_URL if live else None)
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
        self._downloader: Downloader | None = None
        self._upload_transport: Sender | None = None
        self._uploader: Uploader | None = None
        self._calls: Calls | None = None
        self._engine: Engine | None = None
        self._budgets: AccountBudgets | None = None
        self._budgets_local = False  # the shared budget store failed: keep the limits in this process
        self._runtimes = RunTimeBook(store=journal)
        self._folders: dict[tuple[str, str], tuple[Path, float]] = {}  # (folder as given, cwd) -> (path, proved at)

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
        """Stop the engine (a create already sent is answered and recorded first), then close the connections;
        tasks still running stay in the journal, resumable."""
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()
        with self._lock:
            self._calls = None
            if self._transport is not None:
                self._transport.close()
            if self._downloader is not None:
                self._downloader.close()
            if self._upload_transport is not None:
                self._upload_transport.close()
            self._transport = self._downloader = self._upload_transport = None
            self._uploader = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the engine ----------------------------------------------------------------------------------

    @property
    def calls(self) -> Calls:
        """The client's single requests (create, query, fresh link, save), without scheduling."""
        registry, transport = self.registry, self.transport
        with self._lock:
            if self._calls is None:
                self._calls = Calls(
                    registry,
                    transport,
                    lambda: self.downloader,
                    visibility_grace=lambda: self.visibility_grace,
                    uploader=(lambda: self.uploader) if self.upload_url else None,
                )
            return self._calls

    @property
    def uploader(self) -> Uploader:
        """What uploads this client's local images (built on first use: no key or no upload host, no
        uploader)."""
        upload_url = self._checked_upload_url()
        if not self.api_key:
            raise MissingAPIKeyError()
        key = clean_api_key(self.api_key)
        with self._lock:
            if self._uploader is None:
                self._uploader = Uploader(
                    self._upload_sender,
                    upload_url=upload_url,
                    key_fingerprint=account_fingerprint(upload_url, key),
                    journal=self.journal,
                )
            return self._uploader

    def _upload_sender(self) -> Sender:
        """The transport to the upload host: the only other host the key is sent to."""
        upload_url = self._checked_upload_url()
        with self._lock:
            if self._upload_transport is None:
                if not self.api_key:
                    raise MissingAPIKeyError()
                self._upload_transport = Transport(
                    upload_url, clean_api_key(self.api_key), retry=self.retry, sleep=self._sleep, clock=self._clock
                )
            return self._upload_transport

    def _checked_upload_url(self) -> str:
        """The upload host's URL, normalised; :class:`UsageError` when none is configured or it is not https
        (http only to a loopback host)."""
        if not self.upload_url:
            raise UsageError(
                f"local images are uploaded first, and no upload host is configured for {self.base_url}:"
                " set KIE_UPLOAD_URL (or Client(upload_url=...)), or give an http(s) URL"
            )
        return check_base_url(self.upload_url, what="upload URL")

    @property
    def engine(self) -> Engine:
        """The scheduler holding every in-flight task of this client (started with the first one)."""
        calls = self.calls
        with self._lock:
            if self._engine is None:
                steps = Steps(
                    calls,
                    self._recorder,
                    self._runtimes,
                    key=self.api_key,
                    retry=self.retry,
                    scale=self.poll_interval / DEFAULT_INTERVAL,
                    clock=self._clock,
                )
                self._engine = Engine(
                    steps, self._account_budgets, clock=self._clock, budget_store_failed=self._budget_store_failed
                )
            return self._engine

    def _account_budgets(self) -> AccountBudgets | None:
        """The account's budgets, shared with the host's other processes through the store beside the journal.
        A store that cannot be used, on opening or later (:meth:`_budget_store_failed`), leaves this process
        keeping the limits on its own: the generations go on."""
        if self.rate_limits is None or not self.api_key:
            return None
        if self._budgets is None:
            shared = self.journal is not None and not self._budgets_local
            store = default_path_beside(self.journal.path) if self.journal is not None and shared else None
            try:
                self._budgets = account_budgets(self.transport.base_url, self.api_key, self.rate_limits, store)
            except BudgetStoreError as error:
                self._budget_store_failed(error)
                self._budgets = account_budgets(self.transport.base_url, self.api_key, self.rate_limits, None)
        return self._budgets

    def _budget_store_failed(self, error: BudgetStoreError) -> None:
        """The shared budget store failed: say so once, and keep the limits in this process from now on."""
        self._budgets, self._budgets_local = None, True
        self._recorder.notice(
            f"kiecore: {error}; this process keeps Kie's rate limits on its own (other processes using the key"
            " may meet 429 answers, which are retried)"
        )

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
        prepared = prepare_request(self.registry, served, chosen, request)
        if prepared.uploads:
            self._checked_upload_url()  # a local image with nowhere (or nowhere safe) to upload it to
        return prepared

    def task_requests(
        self,
        model: str,
        prompt: str | GenerationRequest | None = None,
        *,
        profile: Profile | str | None = None,
        **params: Any,
    ) -> tuple[GenerationRequest, ...]:
        """The requests of the tasks that make ``num_images`` images with ``model``: one when a task makes them
        all, else one per task (:func:`kiecore.splitting.split_request`). Hand them to :meth:`generate_many`
        (``{"model": model, "prompt": request}``) to run them at once. Nothing is validated or sent here."""
        request = prompt if isinstance(prompt, GenerationRequest) else GenerationRequest()
        if isinstance(prompt, str):
            params["prompt"] = prompt
        request = attrs.evolve(request, **params)
        chosen = self.profile if profile is None else Profile(profile)
        return split_request(self.model(model).spec, chosen, request)

    def upload(self, path: str | os.PathLike[str], *, timeout: float | None = None) -> str:
        """Upload the local image at ``path`` (PNG, JPEG, WebP or GIF, at most
        :data:`~kiecore.localimages.MAX_IMAGE_BYTES`) to the upload host and return its URL, which Kie keeps 3
        days; the same bytes uploaded within :data:`~kiecore.uploads.CACHE_SECONDS` give the same URL without a
        new upload. Raises :class:`InvalidParameterError` for a file that is not such an image, and
        :class:`UploadError` (:class:`AuthenticationError` for a refused key) when the upload fails; ``timeout``
        (seconds, default :data:`~kiecore.uploads.UPLOAD_TIMEOUT_SECONDS`) bounds it."""
        seconds = UPLOAD_TIMEOUT_SECONDS if timeout is None else _positive(timeout, "the timeout")
        checked = local_path(check_image("path", os.fspath(path)))
        if checked is None:
            raise UsageError(f"{os.fspath(path)!r} is already a URL; upload() takes the path of a local image")
        return self.uploader.upload(checked, deadline=self._clock() + seconds)

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
        if the answer was lost after sending (the task may exist; it is never resubmitted). A 429 (nothing was
        created) is retried through the rate limits within the model's default deadline.
        """
        handle: TaskHandle = _outcome(self.start_submit(self.prepare(model, request, profile=profile, **params)))
        return handle

    def start_submit(self, prepared: PreparedRequest) -> Future[TaskHandle]:
        """:meth:`submit` of a prepared request, without waiting: the future of its handle."""
        timeout = self.timeout_for(prepared.model.spec.id, None)
        job = Job(Goal.SUBMIT, self._clock() + timeout, timeout, prepared=prepared)
        return self.engine.run(job, Phase.UPLOAD if prepared.uploads else Phase.CREATE)

    def status(self, handle: TaskHandle, *, deadline: float | None = None) -> TaskStatus:
        """Query a task once (within the rate limits). Shortly after a submit, "not visible yet" comes back as
        ``QUEUED``."""
        calls = self.calls
        budgets = self._account_budgets()
        held: list[tuple[Window, Slot]] = []
        try:
            if budgets is not None:
                limited = self.registry.dialect_of(self.model(handle.model), handle.profile).status_limited_per_task
                windows = [budgets.status, *([budgets.task_status(handle.task_id)] if limited else [])]
                try:
                    for window in windows:
                        held.append((window, wait_for_slot(window, self._sleep)))
                except BudgetStoreError as error:
                    _give_back(held)
                    held = []
                    self._budget_store_failed(error)
                    return self.status(handle, deadline=deadline)
            return calls.query(handle, deadline=deadline)
        finally:
            _give_back(held)

    def credits(self, *, deadline: float | None = None) -> Decimal:
        """The account's remaining credits (``GET /api/v1/chat/credit``), exactly as the service states them:
        ``Decimal("60.62")``, ``Decimal("100")``. One query, retried like :meth:`status` on connection errors,
        429 and 5xx, never past ``deadline`` (a ``clock()`` value). A refused key is
        :class:`AuthenticationError`; a reply without a number is :class:`ParseError`."""
        reply = self.transport.send(credit_request(), profile=self.profile, idempotent=True, deadline=deadline)
        return parse_credit_reply(reply)

    def wait(
        self,
        handle: TaskHandle,
        *,
        timeout: float | None = None,
        on_status: StatusCallback | None = None,
        on_retry: RetryCallback | None = None,
    ) -> TaskStatus:
        """Poll until the task succeeds (returned), fails (:class:`TaskFailedError`) or ``timeout`` seconds pass
        (:class:`DeadlineExceededError`; default from the model's typical duration). ``on_retry`` as in
        :meth:`generate`."""
        status: TaskStatus = _outcome(self.start_wait(handle, timeout, on_status, on_retry=on_retry))
        return status

    def start_wait(
        self,
        handle: TaskHandle,
        timeout: float | None,
        on_status: StatusCallback | None,
        *,
        on_retry: RetryCallback | None = None,
    ) -> Future[TaskStatus]:
        """:meth:`wait` without waiting: the future of the final status (``cancel()`` stops the polling)."""
        timeout = self.timeout_for(handle.model, timeout)
        job = Job(Goal.WAIT, self._clock() + timeout, timeout, handle=handle, on_status=on_status, on_retry=on_retry)
        return self._run_known(job)

    def _output_folder(self, output_dir: str | os.PathLike[str]) -> Path:
        """:func:`check_output_dir`, proved at most :data:`FOLDER_CHECK_SECONDS` ago (a batch into one folder
        proves it once, not once per image)."""
        key = (os.fspath(output_dir), os.getcwd())
        now = self._clock()
        proved = self._folders.get(key)
        if proved is not None and now - proved[1] < FOLDER_CHECK_SECONDS:
            return proved[0]
        directory = check_output_dir(output_dir)
        self._folders[key] = (directory, now)
        return directory

    @property
    def clock(self) -> Callable[[], float]:
        """The clock every ``deadline=`` argument is a value of: the ``clock`` given, else :func:`time.monotonic`."""
        return self._clock

    def timeout_for(self, model: str, timeout: float | None = None) -> float:
        """The seconds a generation of ``model`` may take: ``timeout`` if it is a positive number of seconds
        (:class:`UsageError` otherwise), else the model's default deadline (:func:`default_timeout`). What
        ``generate``, ``start``, ``wait`` and ``resume`` check their ``timeout`` by, before anything is sent."""
        if timeout is None:
            return default_timeout(self.model(model).spec.typical_seconds)
        return _positive(timeout, "the timeout")

    def _run_known(self, job: Job) -> Future[Any]:
        """Start a job on an existing task: its first query is planned (or its saving starts) at once."""
        engine = self.engine
        return engine.run(job, engine.steps.start_from(job))

    def download(
        self,
        handle: TaskHandle,
        status: TaskStatus,
        output_dir: str | os.PathLike[str] = ".",
        *,
        output_file: str | os.PathLike[str] | None = None,
        name: str | Naming | None = None,
        request: GenerationRequest | None = None,
        if_exists: IfExists = "error",
        deadline: float | None = None,
    ) -> tuple[Path, ...]:
        """Save every result of a succeeded task into ``output_dir``, named as :meth:`generate` names them
        (default ``<task id>[_<n>].<ext>``), or its one result as ``output_file``, then its sidecar, in the calling
        thread. ``request`` (if known) gives ``{prompt_slug}`` and the sidecar's prompt.

        A result URL the file host refuses (expired) is exchanged for a fresh link from Kie once. Every result
        is tried even when one fails; the first failure is raised after the others were tried.
        ``if_exists``: ``"error"`` (never overwrite), ``"overwrite"``, or ``"keep"`` an existing file.
        ``deadline`` (a ``clock()`` value) bounds every download.
        """
        end = deadline if deadline is not None else math.inf
        directory, naming = self._destination(
            output_dir,
            output_file,
            name,
            count=len(status.urls),
            what=f"task {handle.task_id}",
            check_free=if_exists == "error",
        )
        job = Job(
            Goal.GENERATE,
            end,
            math.inf,
            prepared=self._as_sent(handle, request),
            handle=handle,
            directory=directory,
            naming=naming,
            request=request,
            if_exists=if_exists,
        )
        job.status = status
        self.engine.steps.save(job)
        result: GenerationResult = _outcome(job.future)
        return result.files

    def fresh_link(self, handle: TaskHandle, url: str) -> str:
        """A new download link (valid about 20 minutes) for ``url``, a result of ``handle``'s task."""
        return self.calls.fresh_link(handle, url)

    def generate(
        self,
        model: str,
        prompt: str | GenerationRequest | None = None,
        *,
        output_dir: str | os.PathLike[str] = ".",
        output_file: str | os.PathLike[str] | None = None,
        name: str | Naming | None = None,
        timeout: float | None = None,
        download: bool = True,
        profile: Profile | str | None = None,
        on_submit: Callable[[TaskHandle], None] | None = None,
        on_status: StatusCallback | None = None,
        on_retry: RetryCallback | None = None,
        **params: Any,
    ) -> GenerationResult:
        """Submit, wait, and (unless ``download=False``) save every result: the whole journey in one call.

        ``prompt`` is the prompt text or a whole :class:`GenerationRequest`; ``params`` set or override fields.
        ``timeout`` bounds the whole generation from its first create request (time queued behind other creates
        of the client does not count), a create retried after a 429 and downloads included.
        Everything that can be checked locally (parameters, the timeout, an output folder that can be created
        and written, the naming) is checked before anything is sent. Results are saved in ``output_dir`` named
        by ``name`` (a template of ``{model}``, ``{task}``, ``{index}``, ``{prompt_slug}``, ``{date}``,
        ``{time}``, or a :class:`~kiecore.naming.Naming`; default ``{task}``: ``<task id>[_<n>].<ext>``), or,
        for a request that makes one image, as ``output_file`` exactly (its image extension added when it has
        none); a sidecar JSON (:mod:`kiecore.sidecar`) is written beside them. Interrupting the call (Ctrl-C)
        stops the waiting; the task stays in the journal, resumable. ``on_submit`` and ``on_status`` are called
        from the engine's threads. So is ``on_retry``, with a :class:`~kiecore.events.RetryEvent` before each
        retry of the generation's requests (a create after a 429 or an unreachable host, a failed status query,
        an upload); unlike the others, an ``on_retry`` that raises is logged and ignored.
        """
        future = self.start(
            model,
            prompt,
            output_dir=output_dir,
            output_file=output_file,
            name=name,
            timeout=timeout,
            download=download,
            profile=profile,
            on_submit=on_submit,
            on_status=on_status,
            on_retry=on_retry,
            **params,
        )
        result: GenerationResult = _outcome(future)
        return result

    def start(
        self,
        model: str,
        prompt: str | GenerationRequest | None = None,
        *,
        output_dir: str | os.PathLike[str] = ".",
        output_file: str | os.PathLike[str] | None = None,
        name: str | Naming | None = None,
        timeout: float | None = None,
        download: bool = True,
        profile: Profile | str | None = None,
        on_submit: Callable[[TaskHandle], None] | None = None,
        on_status: StatusCallback | None = None,
        on_retry: RetryCallback | None = None,
        callback_url: str | None = None,
        item_key: str | None = None,
        **params: Any,
    ) -> Future[GenerationResult]:
        """:meth:`generate` without waiting: validates everything at once (raising as ``generate`` would), then
        returns a :class:`~concurrent.futures.Future` of the :class:`GenerationResult`. Start as many as you
        like: every one runs on the client's engine within the rate limits. ``future.cancel()`` stops waiting
        for that task (it stays in the journal, resumable). With ``callback_url``, Kie is asked to post there
        when the task ends, and polling slows down: route verified callbacks to :meth:`notify`. ``item_key`` is
        kept in the task's journal entry (:meth:`Journal.find_item <kiecore.journal.Journal.find_item>`), so a
        batch run again knows what it already submitted.
        """
        request = prompt if isinstance(prompt, GenerationRequest) else None
        if isinstance(prompt, str):
            params["prompt"] = prompt
        if callback_url is not None:
            params["callback_url"] = callback_url
        prepared = self.prepare(model, request, profile=profile, **params)
        timeout = self.timeout_for(model, timeout)
        directory, naming = None, Naming.of(name)
        if download:
            count = image_count(prepared.model.spec, prepared.profile, prepared.params)
            directory, naming = self._destination(output_dir, output_file, name, count=count)
        elif output_file is not None:
            raise UsageError("-O (output_file) saves a file, and nothing is downloaded (--no-download)")
        job = Job(
            Goal.GENERATE,
            self._clock() + timeout,
            timeout,
            prepared=prepared,
            directory=directory,
            naming=naming,
            callback=prepared.request.callback_url is not None,
            item_key=item_key,
            on_submit=on_submit,
            on_status=on_status,
            on_retry=on_retry,
        )
        return self.engine.run(job, Phase.UPLOAD if prepared.uploads else Phase.CREATE)

    def generate_many(
        self, requests: Iterable[Mapping[str, Any]], *, ordered: bool = False
    ) -> Iterator[tuple[int, GenerationResult | BaseException]]:
        """Run many generations at once and yield ``(index, result or error)`` as each finishes (in the order
        given, with ``ordered``). Each item holds :meth:`generate`'s arguments (``{"model": ..., "prompt": ...,
        ...}``). Every item is validated before anything is sent: a bad one raises with its index, and nothing
        runs. Closing the iterator early cancels what is still waiting (those tasks stay resumable)."""
        items = list(requests)
        for index, item in enumerate(items):
            try:
                self.prepare(item["model"], **_request_fields(item))
            except KieError as error:
                raise prefixed(error, f"item {index}: ") from None
        futures: dict[Future[GenerationResult], int] = {}
        try:
            for index, item in enumerate(items):
                options = dict(item)
                futures[self.start(options.pop("model"), **options)] = index
            done = (future for future in futures) if ordered else concurrent.futures.as_completed(futures)
            for future in done:
                try:
                    yield futures[future], _outcome(future)
                except Exception as error:
                    yield futures[future], error
        finally:
            for future in futures:
                future.cancel()

    def notify(self, task_id: str) -> bool:
        """A verified callback says ``task_id`` finished: query it now. ``False`` if this client is not waiting
        for it. The callback's body is never trusted: the results come from the status reply."""
        return self.engine.poke(task_id)

    def resume(
        self,
        task: JournalEntry | TaskHandle,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        on_status: StatusCallback | None = None,
        on_retry: RetryCallback | None = None,
        name: str | Naming | None = None,
        request: GenerationRequest | None = None,
    ) -> GenerationResult:
        """Finish a task without submitting anything: wait if it is still running, then download what is
        missing (files already saved, by the journal's record or on disk, are not fetched again), named as
        they were when the task was started, then write its sidecar. ``task`` is a journal entry or a stored
        handle (its journal entry, if any, is kept up to date). ``output_dir`` defaults to the one the task was
        started with; another one becomes the entry's folder (:meth:`Journal.move_output
        <kiecore.journal.Journal.move_output>`), where this and later resumes save what is missing.
        ``on_retry`` as in :meth:`generate`. ``name`` and ``request`` are for a handle the journal does not
        hold: how its results are named and what was asked (for ``{prompt_slug}`` and the sidecar); a journal
        entry's own always win.

        A journal record is claimed first: :class:`TaskBusyError` if another live process is handling it,
        :class:`WrongKeyError` if it was created with another key or at another host than this client's.
        """
        future = self.start_resume(task, output_dir, timeout, on_status, on_retry=on_retry, name=name, request=request)
        result: GenerationResult = _outcome(future)
        return result

    def start_resume(
        self,
        task: JournalEntry | TaskHandle,
        output_dir: str | os.PathLike[str] | None,
        timeout: float | None,
        on_status: StatusCallback | None,
        *,
        on_retry: RetryCallback | None = None,
        name: str | Naming | None = None,
        request: GenerationRequest | None = None,
    ) -> Future[GenerationResult]:
        """:meth:`resume` without waiting: the claim is made (and refused) at once, the rest through the
        future."""
        known: TaskStatus | None = None
        recorded: tuple[str, ...] = ()
        naming = Naming.of(name)
        directory = check_output_dir(output_dir) if output_dir is not None else None
        if isinstance(task, TaskHandle):
            record = self.journal.find(self.transport.base_url, task.task_id) if self.journal is not None else None
            if record is not None:
                task = record
        if isinstance(task, JournalEntry):
            handle = task.handle
            if handle is None or task.state not in (JournalState.SUBMITTED, JournalState.SUCCEEDED):
                raise UsageError(f"journal entry {task.id} ({task.state.value}) cannot be resumed")
            if directory is None:  # the folder the task was started with, proved before the claim
                directory = check_output_dir(task.output_dir or ".")
            self._claim(task)
            if task.state is JournalState.SUCCEEDED:
                known = TaskStatus(state=TaskState.SUCCEEDED, urls=task.urls)
            recorded = task.files
            naming, request = task.naming, task.request
            if output_dir is not None and str(directory) != task.output_dir:
                self._recorder.moved(task.base_url, handle, directory)
        else:
            handle = task
            if directory is None:
                directory = check_output_dir(".")
        timeout = self.timeout_for(handle.model, timeout)
        job = Job(
            Goal.GENERATE,
            self._clock() + timeout,
            timeout,
            prepared=self._as_sent(handle, request),
            handle=handle,
            directory=directory,
            naming=naming,
            request=request,
            if_exists="keep",
            on_status=on_status,
            on_retry=on_retry,
        )
        job.status = known
        job.recorded = recorded
        return self._run_known(job)

    def _as_sent(self, handle: TaskHandle, request: GenerationRequest | None) -> PreparedRequest | None:
        """The create request of a known task, built again from its journalled ``request`` (for its sidecar);
        ``None`` when there is none, or it no longer builds (a plugin changed or is gone)."""
        if request is None:
            return None
        try:
            return prepare_request(self.registry, self.model(handle.model), handle.profile, request)
        except KieError:
            return None

    def _destination(
        self,
        output_dir: str | os.PathLike[str],
        output_file: str | os.PathLike[str] | None,
        name: str | Naming | None,
        *,
        count: int | None,
        what: str = "this request",
        check_free: bool = True,
    ) -> tuple[Path, Naming]:
        """The folder (created and proved writable) and the naming of a task's results (:func:`naming_for`),
        refused (:class:`UsageError`) before anything is sent when they cannot work; with ``check_free``, an
        exact file name already taken is refused too."""
        folder, naming = naming_for(output_dir, output_file, name, count=count, what=what)
        directory = self._output_folder(folder)
        taken = naming.occupied(directory) if check_free else None
        if taken is not None:
            raise UsageError(f"{taken} already exists; not overwriting it (choose another -O file)")
        return directory, naming

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


def _give_back(held: Sequence[tuple[Window, Slot]]) -> None:
    """Release the slots; one a failing budget store cannot record counts until it expires, which is safe."""
    for window, slot in held:
        with contextlib.suppress(BudgetStoreError):
            window.release(slot)


def _outcome(future: Future[Any]) -> Any:
    """The future's result, waited for; interrupting the wait (Ctrl-C) cancels the job."""
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


def _request_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields of a :meth:`Client.generate_many` item (its other options left out)."""
    fields = {key: value for key, value in item.items() if key not in _GENERATE_OPTIONS}
    prompt = fields.pop("prompt", None)
    if isinstance(prompt, GenerationRequest):
        return {**attrs.asdict(prompt, recurse=False), **fields}
    return {**fields, **({"prompt": prompt} if prompt is not None else {})}


_GENERATE_OPTIONS = frozenset(
    {
        "model",
        "output_dir",
        "output_file",
        "name",
        "timeout",
        "download",
        "profile",
        "on_submit",
        "on_status",
        "on_retry",
        "item_key",
    }
)


def naming_for(
    output_dir: str | os.PathLike[str],
    output_file: str | os.PathLike[str] | None,
    name: str | Naming | None,
    *,
    count: int | None,
    what: str = "this request",
) -> tuple[str | os.PathLike[str], Naming]:
    """The folder and the naming ``output_dir``, ``output_file`` and ``name`` ask for, checked writing nothing: an
    ``output_file`` gives the folder and an exact file name, without ``name``, naming no folder, for a task that
    makes one image (``count``; ``None``: unknown). :class:`UsageError` otherwise."""
    naming = Naming.of(name)
    if output_file is not None:
        given = os.fspath(output_file)
        if name is not None:
            raise UsageError("give -O (output_file) or --name (name), not both: -O names the one file")
        path = Path(given).expanduser()
        if given.endswith(("/", os.sep)) or path.is_dir():
            raise UsageError(f"-O (output_file) {given} is a folder; save into a folder with -o (output_dir)")
        naming, output_dir = Naming(file=path.name), path.parent
    naming.check_count(count, what=what)
    return output_dir, naming


def check_output_dir(output_dir: str | os.PathLike[str]) -> Path:
    """The output folder, resolved, created if needed and proved writable; :class:`UsageError` otherwise, so a
    generation never pays for images it could not save."""
    if "\x00" in os.fspath(output_dir):  # no file system takes it (os.stat raises ValueError)
        raise UsageError(f"cannot save images in {os.fspath(output_dir)!r}: a folder name cannot hold a NUL")
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
