"""What each step of a job does with its one request's answer, and the one place a task's record is kept.

A step runs on a worker thread, sends one request (:mod:`kiecore.engine.calls`), records any change of the
task's state with the :class:`~kiecore.recorder.Recorder`, settles the job's future when the job is over, and
returns the job's next phase. The scheduler (:mod:`kiecore.engine.scheduler`) decides when steps run.

Records, by the step that makes them: ``begin`` before a create is sent; ``submitted``, ``refused`` or
``uncertain`` once it is answered; ``observed`` when a query finds the task finished; ``saved`` per file and
``downloaded`` once every result is on disk; ``note_error`` when the job ends on an error with the task
still unfinished (it stays resumable).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import InvalidStateError
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiecore import sidecar
from kiecore.download import remove_partials, result_stem
from kiecore.engine.calls import Calls
from kiecore.engine.jobs import Goal, Job, Phase
from kiecore.engine.plan import PollPlan
from kiecore.engine.runtimes import RunTimeBook, observed_seconds
from kiecore.errors import (
    DeadlineExceededError,
    DownloadError,
    KieError,
    ParseError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    SubmitUncertainError,
    TaskFailedError,
    TransportError,
)
from kiecore.events import report, retry_event
from kiecore.imagetypes import EXTENSIONS, SNIFF_BYTES, sniff
from kiecore.model import GenerationResult, TaskHandle, TaskState, TaskStatus
from kiecore.naming import TaskNames
from kiecore.ratelimit import account_fingerprint
from kiecore.recorder import Recorder
from kiecore.retry import RetryPolicy

#: Errors of a status query that say nothing about the task: query again later, until the deadline.
TRANSIENT = (ServerError, ServiceUnavailableError, TransportError)
#: With a callback URL the callback triggers the query; polling only covers a callback that never comes.
CALLBACK_FIRST_QUANTILE = 0.98
CALLBACK_GAP = 15.0


class Steps:
    """The steps of every job of one client. ``scale`` is the client's time scale (1.0 for the live service),
    ``key`` the API key (only its fingerprint is recorded)."""

    def __init__(
        self,
        calls: Calls,
        recorder: Recorder,
        runtimes: RunTimeBook,
        *,
        key: str | None,
        retry: RetryPolicy,
        scale: float,
        clock: Callable[[], float],
    ) -> None:
        self.calls = calls
        self.recorder = recorder
        self.runtimes = runtimes
        self._fingerprint = account_fingerprint(calls.base_url, key) if key else None
        self._retry = retry
        self.scale = scale
        self._clock = clock

    # -- create ---------------------------------------------------------------------------------------

    def upload(self, job: Job) -> Phase:
        """Upload the request's local images, so that what is journalled and sent holds their URLs; then the
        create. A failed upload ends the job: nothing was created. The upload's own time counts towards the
        job's timeout."""
        assert job.prepared is not None
        if job.cancelled:
            return self._settle(job, None)
        try:
            job.prepared = self.calls.upload_images(job.prepared, deadline=self._clock() + job.timeout)
        except KieError as error:
            return self._fail(job, error)
        return self._settle(job, None) if job.cancelled else Phase.CREATE

    def create(self, job: Job) -> Phase:
        """Send the create. A 429 created nothing: the job goes back to the create queue until its deadline."""
        prepared = job.prepared
        assert prepared is not None
        if job.cancelled:
            return self._settle(job, None)
        if job.ticket is None:
            job.deadline = self._clock() + job.timeout  # time spent queued behind other creates is not the job's
            try:  # a journal that cannot record this: nothing is sent
                job.ticket = self.recorder.begin(
                    model=prepared.model.spec.id,
                    profile=prepared.profile,
                    base_url=self.calls.base_url,
                    request=prepared.request,
                    output_dir=str(job.directory) if job.directory is not None else None,
                    key_fingerprint=self._fingerprint,
                    item_key=job.item_key,
                    naming=job.naming,
                )
            except KieError as error:
                return self._fail(job, error)
        ticket = job.ticket
        try:
            handle = self.calls.create(prepared, once=True)
        except SubmitUncertainError as error:
            self.recorder.uncertain(ticket, str(error))
            return self._fail(job, error)
        except (RateLimitedError, TransportError) as error:  # nothing was created: wait, then the queue again
            job.rate_limited += 1
            delay = self._retry.delay(job.rate_limited, getattr(error, "retry_after", None))
            # a 429 waits until the deadline; a host that cannot be reached, as many tries as the policy allows
            tries_left = isinstance(error, RateLimitedError) or job.rate_limited < self._retry.attempts
            if tries_left and self._clock() + delay < job.deadline and not job.cancelled:
                job.due = self._clock() + delay
                self._retrying(job, "create", error, attempt=job.rate_limited + 1)
                return Phase.CREATE
            self.recorder.refused(ticket, str(error))
            return self._fail(job, error)
        except KieError as error:  # refused before anything was created
            self.recorder.refused(ticket, str(error))
            return self._fail(job, error)
        except BaseException as error:  # the outcome is unknown
            self.recorder.uncertain(ticket, f"the create failed in the client ({type(error).__name__})")
            return self._fail(job, error)
        try:
            self.recorder.submitted(ticket, handle)
        except SubmitUncertainError as error:
            return self._fail(job, error)
        job.handle = handle
        return self.created(job)

    def created(self, job: Job) -> Phase:
        """The job has a task: tell the caller, then plan its first query (or settle a submit-only job)."""
        handle = job.handle
        assert handle is not None
        if job.cancelled:  # interrupted while its create was in flight: it is recorded, and that is all
            return self._settle(job, None)
        if job.on_submit is not None and not self._call(job, job.on_submit, handle):
            return Phase.DONE
        if job.goal is Goal.SUBMIT:
            return self._settle(job, handle)
        entry = self.calls.registry.resolve(handle.model)
        job.per_task_limited = self.calls.registry.dialect_of(entry, handle.profile).status_limited_per_task
        runtime = self.runtimes.model_for(self.calls.base_url, handle.model, entry.spec.typical_seconds * self.scale)
        job.plan = PollPlan(runtime, scale=self.scale)
        first = job.plan.first()
        if job.callback:
            first = max(first, runtime.quantile(CALLBACK_FIRST_QUANTILE))
        job.due = self._at(handle, min(first, self._plan_deadline(job)))
        return Phase.POLL

    # -- poll -----------------------------------------------------------------------------------------

    def poll(self, job: Job) -> Phase:
        """Query the task once; settle the job if it is over, else plan the next query."""
        handle, plan = job.handle, job.plan
        assert handle is not None and plan is not None
        if job.cancelled:
            return self._settle(job, None)
        job.poked = False
        asked = self._elapsed(handle)
        trouble: KieError | None = None  # why this query failed, when it is tried again
        try:
            status: TaskStatus | None = self.calls.query(handle, deadline=job.deadline, once=True)
        except RateLimitedError as error:  # another client of the key: wait as told, then go on
            job.rate_limited += 1
            status = None
            delay = self._retry.delay(job.rate_limited, error.retry_after)
            if self._clock() + delay < job.deadline:
                job.due = self._clock() + delay
                job.failed_queries += 1
                self._retrying(job, "query", error, attempt=job.failed_queries + 1)
                return Phase.POLL
            trouble = error
        except TRANSIENT as error:
            status, trouble = None, error
        except ParseError as error:  # one garbled reply is not the task's fault; the same one over and over is
            job.unreadable += 1
            if job.unreadable >= self._retry.attempts:
                return self._unfinished(job, error)
            status, trouble = None, error
        except KieError as error:
            return self._unfinished(job, error)
        else:
            job.unreadable = job.failed_queries = 0
        if status is not None:
            finished = self._observe(job, status, asked)
            if finished is not None:
                return finished
        if self._clock() >= job.deadline:
            late = DeadlineExceededError(handle, job.timeout, job.status, base_url=self.calls.base_url)
            return self._unfinished(job, late)
        later = plan.next(asked, self._plan_deadline(job))
        if job.callback:
            later = min(max(later, asked + CALLBACK_GAP * self.scale), self._plan_deadline(job))
        job.due = self._at(handle, later)
        if trouble is not None:
            job.failed_queries += 1
            self._retrying(job, "query", trouble, attempt=job.failed_queries + 1)
        return Phase.POLL

    def _observe(self, job: Job, status: TaskStatus, asked: float) -> Phase | None:
        """Take in one status: the job's next phase if the task is over, ``None`` while it runs."""
        handle = job.handle
        assert handle is not None
        job.status = status
        if job.on_status is not None and not self._call(job, job.on_status, status):
            return Phase.DONE
        if status.state is TaskState.SUCCEEDED and not status.urls:
            return self._unfinished(
                job, ParseError(f"task {handle.task_id} succeeded but the reply lists no result URLs")
            )
        if not status.state.terminal:
            job.last_unfinished = asked
            return None
        job.finished_at = time.time()
        self.recorder.observed(self.calls.base_url, handle, status)
        if status.state is TaskState.FAILED:
            return self._fail(job, TaskFailedError(handle, status))
        self._learn(job, status, asked)
        if job.goal is Goal.WAIT:
            return self._settle(job, status)
        if job.directory is None:  # the URLs were all that was asked for: nothing is left to resume
            self.recorder.downloaded(self.calls.base_url, handle, [])
            return self._settle(job, GenerationResult(handle=handle, status=status, files=()))
        return Phase.SAVE

    def _learn(self, job: Job, status: TaskStatus, asked: float) -> None:
        """Add the task's run time to its model's history (:func:`~kiecore.engine.runtimes.observed_seconds`)."""
        handle = job.handle
        assert handle is not None
        seconds = observed_seconds(
            service_seconds=status.run_seconds, last_unfinished=job.last_unfinished, finished_seen=asked
        )
        if seconds is not None:
            self.runtimes.add(self.calls.base_url, handle.model, seconds)

    # -- save -----------------------------------------------------------------------------------------

    def save(self, job: Job) -> Phase:
        """Save every result not already present (every one is tried, the first failure is raised), then the
        task's sidecar beside them (:mod:`kiecore.sidecar`)."""
        handle, status, directory = job.handle, job.status, job.directory
        assert handle is not None and status is not None and directory is not None
        if job.cancelled:
            return self._settle(job, None)
        count = len(status.urls)
        names = self._names(job, count)
        if job.recorded is not None:  # resuming: what an earlier run saved is not fetched again
            job.present.update(saved_results(names, directory, job.recorded))
            if len(job.present) < count and directory.is_dir():  # left by a download that was killed
                remove_partials(directory, [*(result_stem(names.namer(i)) for i in range(count)), names.sidecar()])
        failures: list[KieError] = []
        missing = [index for index in range(count) if index not in job.present]
        for index in missing:
            try:
                path = self.calls.save(
                    handle,
                    status.urls,
                    index,
                    directory,
                    names.namer(index),
                    if_exists=job.if_exists,
                    deadline=job.deadline,
                )
            except KieError as error:
                failures.append(error)
                continue
            job.present[index] = path
            self._check_type(names, index, path)
            if index != missing[-1] or failures:  # the last one is recorded with the rest, by ``downloaded``
                self.recorder.saved(self.calls.base_url, handle, path)
        if failures:
            if len(failures) > 1:
                first = failures[0]
                return self._fail(
                    job, DownloadError(f"{len(failures)} of {count} results could not be saved; the first: {first}")
                )
            return self._fail(job, failures[0])
        files = tuple(job.present[index] for index in range(count))
        written = self._write_sidecar(job, directory / names.sidecar(), files)
        self.recorder.downloaded(self.calls.base_url, handle, files)
        return self._settle(job, GenerationResult(handle=handle, status=status, files=files, sidecar=written))

    def _names(self, job: Job, count: int) -> TaskNames:
        """The names of the job's ``count`` results, by the naming it was started with."""
        handle = job.handle
        assert handle is not None
        return job.naming.for_task(
            model=handle.model,
            task_id=handle.task_id,
            prompt=_prompt(job),
            submitted_at=handle.submitted_at,
            count=count,
        )

    def _check_type(self, names: TaskNames, index: int, path: Path) -> None:
        """An exact file name whose extension is not the image's type keeps the name it was given: say so."""
        claimed = names.claimed_type(index)
        if claimed is None:
            return
        try:
            with open(path, "rb") as file:
                actual = sniff(file.read(SNIFF_BYTES))
        except OSError:
            return
        if actual is not None and actual != claimed:
            self.recorder.notice(
                f"kiecore: {path} holds a {_TYPE_NAMES.get(actual, actual)} image, not {claimed}; it keeps the name"
                f" you gave (rename it to {path.stem}.{actual} if something needs the extension to match)"
            )

    def _write_sidecar(self, job: Job, path: Path, files: tuple[Path, ...]) -> Path | None:
        """The task's sidecar, written once its results are saved; a failure to write it is said, and ends
        nothing (the images are what was paid for)."""
        handle, status = job.handle, job.status
        assert handle is not None and status is not None
        record = sidecar.describe(
            handle=handle,
            status=status,
            prompt=_prompt(job),
            prepared=job.prepared,
            files=files,
            folder=path.parent,
            finished_at=job.finished_at,
            saved_at=time.time(),
        )
        try:
            return sidecar.write(path, record, redact=self.calls.transport.redact)
        except KieError as error:
            self.recorder.notice(f"kiecore: task {handle.task_id}'s images are saved, but not its sidecar: {error}")
            return None

    # -- endings --------------------------------------------------------------------------------------

    def _unfinished(self, job: Job, error: BaseException) -> Phase:
        """The job ends on ``error`` while the task may still run: say so in its record (it stays resumable)."""
        if job.handle is not None:
            self.recorder.note_error(self.calls.base_url, job.handle, str(error))
        return self._fail(job, error)

    def _fail(self, job: Job, error: BaseException) -> Phase:
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
            job.future.set_exception(error)
        return Phase.DONE

    def _settle(self, job: Job, result: Any) -> Phase:
        if result is None:  # cancelled: the future is already settled
            return Phase.DONE
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
            job.future.set_result(result)
        return Phase.DONE

    def _call(self, job: Job, callback: Callable[[Any], object], value: Any) -> bool:
        """Run a caller's callback; one that raises ends the job with its exception (the task stays resumable)."""
        try:
            callback(value)
        except BaseException as error:
            self._fail(job, error)
            return False
        return True

    def _retrying(self, job: Job, what: str, error: KieError, *, attempt: int) -> None:
        """Report that ``what`` is tried again at ``job.due``, as attempt ``attempt`` (:mod:`kiecore.events`)."""
        host = urlsplit(self.calls.base_url).netloc
        delay = job.due - self._clock()
        report(retry_event(what, host, error, attempt=attempt, delay=delay, redact=self.calls.transport.redact))

    # -- time -----------------------------------------------------------------------------------------

    def _elapsed(self, handle: TaskHandle) -> float:
        return time.time() - handle.submitted_at

    def _at(self, handle: TaskHandle, seconds_after_submit: float) -> float:
        """The engine clock value ``seconds_after_submit`` after the task's submit."""
        return self._clock() + (seconds_after_submit - self._elapsed(handle))

    def _plan_deadline(self, job: Job) -> float:
        """The job's deadline in seconds after the submit."""
        assert job.handle is not None
        return self._elapsed(job.handle) + (job.deadline - self._clock())

    def start_from(self, job: Job) -> Phase:
        """The first phase of a job that starts from a known task (``wait``, ``resume``): saving, if its results
        are already known, else its first query."""
        if job.status is not None and job.status.state is TaskState.SUCCEEDED:
            return Phase.SAVE
        return self.created(job)


def saved_results(names: TaskNames, directory: Path, recorded: tuple[str, ...]) -> dict[int, Path]:
    """The results already on disk, by index: recorded in the journal, or found in ``directory``, under the
    names ``names`` gives them (the naming the task was started with)."""
    present: dict[int, Path] = {}
    for index in range(names.count):
        wanted = {names.name(index, extension) for extension in EXTENSIONS}
        kept = [Path(file) for file in recorded if Path(file).name in wanted and Path(file).is_file()]
        found = kept[0] if kept else names.existing(directory, index)
        if found is not None:
            present[index] = found
    return present


def _prompt(job: Job) -> str | None:
    """The prompt of the job's task, when known: as sent, else as journalled."""
    request = job.prepared.request if job.prepared is not None else job.request
    return request.prompt if request is not None else None


_TYPE_NAMES = {"png": "PNG", "jpg": "JPEG", "webp": "WebP", "gif": "GIF"}
