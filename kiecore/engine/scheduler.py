"""The engine: one scheduler thread for every in-flight task of a client, and two small fixed pools of workers.

Jobs wait in a heap keyed by their next useful query time; the scheduler sleeps until the earliest one is due
(or a budget frees up, or work arrives) and wakes no one else. A due job needs an API worker and a slot of the
account's budgets (:mod:`kiecore.engine.budgets`): creates first, in the order they came, then queries, the
tasks most likely to be finished now first (:meth:`~kiecore.engine.plan.PollPlan.priority`). Uploading
local images and saving results run on the file workers, outside the budgets. What each step does is
:mod:`kiecore.engine.steps`.

A job whose future is cancelled is dropped at its next turn: nothing more is sent for it, and its task stays
in the journal, resumable. A verified callback (:meth:`Engine.poke`) makes its task's query due at once.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kiecore.engine.budgets import AccountBudgets, BudgetStoreError, Slot, Window
from kiecore.engine.jobs import Job, Phase
from kiecore.engine.steps import Steps
from kiecore.errors import KieError
from kiecore.events import reporting

#: API workers: enough for the status budget (10 per second) at a slow reply's round trip, plus creates.
API_WORKERS = 8
#: File workers: uploads of local images and downloads of result images, outside the API budgets.
FILE_WORKERS = 4

#: What one request held: the windows it took slots of, with the slots.
Held = tuple[tuple[Window, Slot], ...]


class EngineClosedError(KieError):
    """The client was closed while this job still waited; its task, if created, is in the journal."""


class Engine:
    """Runs jobs (:class:`~kiecore.engine.jobs.Job`) for one client; thread-safe. ``budgets`` gives the
    account's budgets (``None``: no client-side limits), asked at each dispatch so a client can build them
    lazily; when they raise :class:`BudgetStoreError`, ``budget_store_failed`` is told and the next dispatch
    asks again (the client then gives local budgets). The scheduler thread and the workers start with the first
    job. Should the scheduler itself fail (a bug), every waiting job ends with that error: none is left hanging."""

    def __init__(
        self,
        steps: Steps,
        budgets: Callable[[], AccountBudgets | None],
        *,
        api_workers: int = API_WORKERS,
        file_workers: int = FILE_WORKERS,
        clock: Callable[[], float] = time.monotonic,
        budget_store_failed: Callable[[BudgetStoreError], None] | None = None,
    ) -> None:
        self.steps = steps
        self._budgets = budgets
        self._budget_store_failed = budget_store_failed
        self._used_budgets: AccountBudgets | None = None  # as the last dispatch got them
        self._clock = clock
        self._api_workers = api_workers
        self._file_workers = file_workers
        self._cond = threading.Condition()
        self._creates: deque[Job] = deque()  # ready to send, oldest first
        self._heap: list[tuple[float, int, int, Job]] = []  # (due, job number, turn, job)
        self._due: dict[int, Job] = {}  # queries due now, waiting for a worker or a slot
        self._by_task: dict[str, Job] = {}
        self._busy = 0
        self._jobs = 0
        self._closed = False  # no job is taken any more (closing, or halted)
        self._closing = False  # close() was called
        self._halted: BaseException | None = None  # why the scheduler stopped on its own
        self._thread: threading.Thread | None = None
        self._api: ThreadPoolExecutor | None = None
        self._files: ThreadPoolExecutor | None = None

    # -- the API ----------------------------------------------------------------------------------------

    def run(self, job: Job, phase: Phase) -> Future[Any]:
        """Take ``job``, starting at ``phase`` (``UPLOAD``, ``CREATE``, ``POLL`` at ``job.due``, or ``SAVE``); its
        future.
        Raises :class:`EngineClosedError` once closed."""
        with self._cond:
            if self._halted is not None:
                raise EngineClosedError(f"the client's engine stopped ({self._halted}); open a new client")
            if self._closed:
                raise EngineClosedError("the client is closed; open a new one")
            self._start()
            self._jobs += 1
            job.future.add_done_callback(lambda _future: self._wake())
            self._place(job, phase)
            self._cond.notify()
        return job.future

    def poke(self, task_id: str) -> bool:
        """Query ``task_id`` now (a verified callback says it finished); ``False`` if no job waits on it."""
        with self._cond:
            job = self._by_task.get(task_id)
            if job is None or job.phase is not Phase.POLL or job.cancelled:
                return False
            job.poked = True  # a job in flight now is queried again as soon as it is back
            if job.number not in self._due and not job.running:
                self._schedule(job, self._clock())
            self._cond.notify()
            return True

    @property
    def in_flight(self) -> int:
        """How many jobs are not over."""
        with self._cond:
            return self._jobs

    @property
    def threads(self) -> int:
        """How many threads the engine runs now (the scheduler and its started workers)."""
        with self._cond:
            pools = [pool for pool in (self._api, self._files) if pool is not None]
            return (self._thread is not None) + sum(len(pool._threads) for pool in pools)

    def close(self) -> None:
        """Stop: waiting jobs end with :class:`EngineClosedError`; requests in flight finish first, so a create
        already sent is recorded. Safe to call twice."""
        with self._cond:
            if self._closing:
                return
            self._closing = self._closed = True
            waiting = [*self._creates, *self._due.values(), *(entry[3] for entry in self._heap)]
            self._creates.clear()
            self._due.clear()
            self._heap.clear()
            for job in waiting:
                self._end(job, closed=True)
            self._cond.notify_all()
            thread, api, files = self._thread, self._api, self._files
        if thread is not None:
            thread.join()
        for pool in (api, files):
            if pool is not None:
                pool.shutdown(wait=True)
        if self._used_budgets is not None:
            self._used_budgets.flush()  # releases of requests that finished after the scheduler stopped

    # -- the scheduler -----------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._api = ThreadPoolExecutor(self._api_workers, thread_name_prefix="kie-api")
            self._files = ThreadPoolExecutor(self._file_workers, thread_name_prefix="kie-files")
            self._thread = threading.Thread(target=self._loop, name="kie-scheduler", daemon=True)
            self._thread.start()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                try:
                    wait = self._dispatch()
                except BudgetStoreError as error:
                    if self._budget_store_failed is None:
                        self._halt(error)
                        return
                    self._budget_store_failed(error)
                    wait = 0.0
                except BaseException as error:
                    self._halt(error)
                    return
                self._cond.wait(wait)

    def _halt(self, error: BaseException) -> None:
        """The scheduler cannot go on: every waiting job ends with ``error``, and the engine is closed (under
        the lock). Jobs in flight end once their step returns."""
        self._closed, self._halted = True, error
        waiting = [*self._creates, *self._due.values(), *(entry[3] for entry in self._heap)]
        self._creates.clear()
        self._due.clear()
        self._heap.clear()
        for job in waiting:
            if not job.over and not job.future.done():
                with contextlib.suppress(Exception):
                    job.future.set_exception(error)
            self._end(job)
        self._cond.notify_all()

    def _dispatch(self) -> float | None:
        """Hand out every job that can go now; seconds until something else may be able to go (``None``: only
        new work or a finished request can change anything)."""
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            _due, _number, turn, job = heapq.heappop(self._heap)
            if turn != job.turn or job.over:
                continue  # stale: the job was queued again, or is running
            if job.cancelled:
                self._end(job)
            elif job.phase is Phase.CREATE:
                self._creates.appendleft(job)  # it was first in line before its 429
            else:
                self._due[job.number] = job
        budgets = self._used_budgets = self._budgets()
        waits = [self._heap[0][0] - now] if self._heap else []
        waits.append(self._dispatch_creates(budgets))
        waits.append(self._dispatch_polls(budgets, now))
        if budgets is not None:
            budgets.flush()  # the workers' releases that no take above has written with it
        soonest = min(waits)
        return None if math.isinf(soonest) else max(soonest, 0.0)

    def _dispatch_creates(self, budgets: AccountBudgets | None) -> float:
        while self._creates and self._busy < self._api_workers:
            job = self._creates[0]
            if job.cancelled:
                self._creates.popleft()
                self._end(job)
                continue
            held = self._take(budgets.creates if budgets is not None else None)
            if isinstance(held, float):
                return held
            self._creates.popleft()
            self._send(job, self.steps.create, held)
        return math.inf

    def _dispatch_polls(self, budgets: AccountBudgets | None, now: float) -> float:
        if not self._due or self._busy >= self._api_workers:
            return math.inf
        elapsed = time.time()
        ranked = sorted(self._due.values(), key=lambda job: self._priority(job, elapsed), reverse=True)
        for job in ranked:
            if self._busy >= self._api_workers:
                break
            del self._due[job.number]
            if job.cancelled:
                self._end(job)
                continue
            per_task = budgets.task_status(job.task_id or "") if budgets is not None and job.per_task_limited else None
            task_held = self._take(per_task)
            if isinstance(task_held, float):
                self._schedule(job, now + task_held)
                continue
            try:
                held = self._take(budgets.status if budgets is not None else None)
            except BaseException:  # a failing store: the job waits on, as it was
                for window, slot in task_held:
                    window.cancel(slot)
                self._due[job.number] = job
                raise
            if isinstance(held, float):
                for window, slot in task_held:
                    window.cancel(slot)
                self._due[job.number] = job
                return held
            self._send(job, self.steps.poll, held + task_held)
        return math.inf

    def _priority(self, job: Job, wall_now: float) -> float:
        if job.poked:
            return math.inf
        assert job.plan is not None and job.handle is not None
        return job.plan.priority(job.last_unfinished, wall_now - job.handle.submitted_at)

    @staticmethod
    def _take(window: Window | None) -> Held | float:
        """A slot of ``window`` (none needed without a window), or seconds to wait for one."""
        if window is None:
            return ()
        taken = window.take()
        if isinstance(taken, (int, float)):
            return float(taken)
        return ((window, taken),)

    def _send(self, job: Job, step: Callable[[Job], Phase], held: Held) -> None:
        """Run ``step`` for ``job`` on an API worker, holding ``held`` until its request is over."""
        assert self._api is not None
        self._busy += 1
        job.turn += 1
        job.running = True
        self._api.submit(self._work, job, step, held, True)

    def _work(self, job: Job, step: Callable[[Job], Phase], held: Held, api: bool) -> None:
        phase = Phase.DONE
        try:
            with reporting(job.on_retry):  # what retries during the step is told to the job's caller
                phase = step(job)
        except BaseException as error:  # a bug: end the job with it rather than leave it hanging
            with contextlib.suppress(Exception):
                job.future.set_exception(error)
        finally:
            for window, slot in held:
                window.release(slot, defer=True)  # written with the next take, or flushed by the dispatch
            with self._cond:
                if api:
                    self._busy -= 1
                self._place(job, phase)
                self._cond.notify()

    # -- the queues --------------------------------------------------------------------------------------

    def _place(self, job: Job, phase: Phase) -> None:
        """Queue ``job`` for ``phase`` (under the lock)."""
        job.phase = phase
        job.running = False
        if phase is Phase.DONE or self._closed or job.cancelled:
            self._end(job, closed=self._closed)
            return
        if job.task_id is not None:
            self._by_task[job.task_id] = job
        if phase is Phase.CREATE:
            if job.due > self._clock():
                self._schedule(job, job.due)
            else:
                self._creates.append(job)
        elif phase is Phase.POLL:
            self._schedule(job, min(job.due, self._clock()) if job.poked else job.due)
        else:  # uploading or saving: file work, outside the API budgets
            assert self._files is not None
            job.turn += 1
            job.running = True
            step = self.steps.upload if phase is Phase.UPLOAD else self.steps.save
            self._files.submit(self._work, job, step, (), False)

    def _schedule(self, job: Job, due: float) -> None:
        job.due = due
        job.turn += 1
        heapq.heappush(self._heap, (due, job.number, job.turn, job))

    def _end(self, job: Job, *, closed: bool = False) -> None:
        """The engine is done with ``job``; a future not settled yet ends with :class:`EngineClosedError`."""
        if job.over:
            return
        job.over = True
        job.phase = Phase.DONE
        if job.task_id is not None and self._by_task.get(job.task_id) is job:
            del self._by_task[job.task_id]
        self._jobs -= 1
        if closed and not job.future.done():
            with contextlib.suppress(Exception):
                job.future.set_exception(EngineClosedError("the client was closed before this task finished"))
