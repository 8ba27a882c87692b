"""Engine benchmark: kiecore's scheduler against the reference's fixed 2 s poller, scenario by scenario (a-f),
each figure measured side by side with its baseline in the same run. Prints one Markdown table per scenario
(kiecore figure, baseline figure, target); docs/performance.md records a run and says how each is measured.

Usage: python bench/engine.py [--quick] [--json FILE] [SCENARIO ...]   (`make engine-bench` runs all of them)

  a  one task at a time, run time known from history (fixed) or spread (CV 0.3): added latency, status queries
  b  N generations at the live limits: makespan / lower bound, 429s, duplicates; 200 of 30 s: added latency
  c  client CPU per generation with a journal, against a raw urllib3 loop making the same calls
  d  10,000 generations in flight in one process: peak RSS, threads, CPU while waiting
  e  twenty `kie generate` processes sharing one key (and one journal folder): failures and 429s
  f  callbacks: added latency and status queries, against engine polling and the fixed poller

Times are emulated at a scale (a 30 s task runs 3 s at scale 0.1, and so do the rate limits' periods and the
poll interval); every time printed is converted back to live seconds, so HTTP overheads are magnified by
1/scale. "Added latency" is the time from a task finishing at the emulator (its creation time plus its drawn run
time, wall clock) to the arrival of the first file-host request for its result, both stamped by the emulator.
Machines are noisy: read ratios and medians; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_baseline import FixedPoller, PollerResult, run_threads
from engine_harness import (
    API_KEY,
    HERE,
    MODEL,
    PYTHON,
    Arrival,
    ServerProcess,
    Table,
    TaskFigures,
    TimedEmulator,
    as_jsonable,
    create_body,
    draws,
    emulator_for,
    fmt,
    kiecore_client,
    machine,
    mean,
    median,
    quantile,
    seed_history,
    task_figures,
)

import kiecore.sidecar
from kiecore.callback_receiver import CallbackReceiver, CallbackServer
from kiecore.client import Client
from kiecore.emulator.runtimes import RunTimes
from kiecore.journal import Journal
from kiecore.model import GenerationRequest, Profile, TaskHandle, TaskState, TaskStatus

SEED = 20261201
CREATE_LIMIT = 20  # creates per window (the window is 10 s live)
CREATE_PERIOD = 10.0


def log(message: str) -> None:
    print(f"[engine-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def running(emulator: TimedEmulator) -> Iterator[TimedEmulator]:
    try:
        yield emulator
    finally:
        emulator.stop()


_PREPARER: Client | None = None


def body(prompt: str, **params: Any) -> dict[str, Any]:
    """kiecore's create body for ``prompt`` (from ``Client.prepare``; nothing is sent)."""
    global _PREPARER
    if _PREPARER is None:
        _PREPARER = Client(API_KEY, base_url="http://127.0.0.1:9")
    if params:
        wire = _PREPARER.prepare(MODEL, prompt=prompt, **params).wire
        assert wire.body is not None
        return dict(wire.body)
    return create_body(_PREPARER, prompt)


def history(scale: float, typical: float, spread: float, seed: int) -> list[float]:
    """What the journal is pre-seeded with: 20 samples of the fixed run time, or 50 earlier draws."""
    if spread == 0:
        return [typical * scale] * 20
    return draws(scale, typical, spread, seed + 1000, 50)


@dataclass
class Run:
    """One run of many generations: the emulator's view of it, and the clients' outcomes."""

    figures: list[TaskFigures]
    arrivals: list[Arrival]
    asked: int
    failed: int
    violations: int
    wall: float
    errors: list[str] = field(default_factory=list)

    def latencies(self, scale: float) -> list[float]:
        return [value for figure in self.figures if (value := figure.latency(scale)) is not None]

    def findings(self, scale: float) -> list[float]:
        return [value for figure in self.figures if (value := figure.finding(scale)) is not None]

    def reactions(self) -> list[float]:
        return [value for figure in self.figures if (value := figure.reaction()) is not None]

    def split(self, scale: float) -> str:
        """The latency's two parts: finish to the query that found it (live s), then to the download (real ms)."""
        return (
            f"finish → finding query {fmt(median(self.findings(scale)))} s live, → download "
            f"{fmt(median(self.reactions()) * 1000, 1)} ms real"
        )

    def queries(self) -> list[float]:
        return [float(figure.queries) for figure in self.figures]

    @property
    def created(self) -> int:
        return len(self.figures)

    @property
    def duplicates(self) -> int:
        prompts: dict[str, int] = {}
        for figure in self.figures:
            prompts[figure.prompt] = prompts.get(figure.prompt, 0) + 1
        return sum(count - 1 for count in prompts.values())

    def makespan(self, scale: float) -> float | None:
        """First create's arrival to the last task's first download, in live seconds (``None`` if one was never
        downloaded)."""
        creates = [arrival.at for arrival in self.arrivals if arrival.server == "api" and arrival.method == "POST"]
        downloads = [figure.first_download for figure in self.figures]
        if not creates or not downloads or any(value is None for value in downloads) or self.created < self.asked:
            return None
        return (max(value for value in downloads if value is not None) - min(creates)) / scale

    def lower_bound(self, scale: float, limit: int = CREATE_LIMIT, period: float = CREATE_PERIOD) -> float:
        """max over the k-th created task (k from 0) of floor(k / limit) * period + its run time, in live seconds:
        no client within the create limit has every task finished before it."""
        tasks = self.figures[: self.asked]
        return max(((k // limit) * period * scale + task.seconds) / scale for k, task in enumerate(tasks))


def outcome_errors(futures: Sequence[concurrent.futures.Future[Any]]) -> list[str]:
    errors = []
    for future in futures:
        try:
            future.result()
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
    return errors


def kiecore_run(
    emulator: TimedEmulator,
    scale: float,
    prompts: Sequence[str],
    work: Path,
    *,
    seed_samples: Sequence[float] = (),
    one_at_a_time: bool = False,
    receiver: Callable[[Client], contextlib.AbstractContextManager[str]] | None = None,
) -> Run:
    """Generations of ``prompts`` through one kiecore client (journal in ``work``), all at once unless
    ``one_at_a_time``; with ``receiver`` (a callback server for the client, yielding its URL), each asks Kie for
    a callback there."""
    emulator.clear_arrivals()
    journal_dir, out = work / "journal", work / "out"
    out.mkdir(parents=True, exist_ok=True)
    client = kiecore_client(emulator.base_url, scale, journal_dir)
    seed_history(client.journal, emulator.base_url, seed_samples)
    listening = receiver(client) if receiver is not None else contextlib.nullcontext(None)
    since = time.time()
    errors: list[str] = []
    with listening as callback_url:
        start = time.monotonic()
        if one_at_a_time:
            for prompt in prompts:
                errors += outcome_errors([client.start(MODEL, prompt, output_dir=out, callback_url=callback_url)])
        else:
            futures = [client.start(MODEL, prompt, output_dir=out, callback_url=callback_url) for prompt in prompts]
            errors = outcome_errors(futures)
        wall = time.monotonic() - start
    client.close()
    if client.journal is not None:
        client.journal.close()
    arrivals = emulator.arrivals
    figures = task_figures(emulator, arrivals, since=since)
    return Run(figures, arrivals, len(prompts), len(errors), emulator.limit_violations, wall, errors[:5])


def baseline_run(
    emulator: TimedEmulator,
    scale: float,
    bodies: Sequence[dict[str, Any]],
    work: Path,
    *,
    one_at_a_time: bool = False,
) -> Run:
    """The fixed poller: a thread per generation (or one after another), poll every 2 s x scale."""
    emulator.clear_arrivals()
    out = work / "baseline-out"
    out.mkdir(parents=True, exist_ok=True)
    poller = FixedPoller(emulator.base_url, API_KEY, interval=2.0 * scale, retry_after_scale=scale, output_dir=out)
    since = time.time()
    start = time.monotonic()
    if one_at_a_time:
        results: list[PollerResult] = [poller.generate(item) for item in bodies]
    else:
        results = run_threads(poller, list(bodies))
    wall = time.monotonic() - start
    poller.close()
    arrivals = emulator.arrivals
    figures = task_figures(emulator, arrivals, since=since)
    errors = [result.error or "" for result in results if not result.ok]
    return Run(figures, arrivals, len(bodies), len(errors), emulator.limit_violations, wall, errors[:5])


def wire_check(ours: Run, theirs: Run) -> str:
    """Whether the first create and the first status query of both runs are the same on the wire."""

    def first(run: Run, method: str) -> Arrival | None:
        return next((a for a in run.arrivals if a.server == "api" and a.method == method), None)

    def shape(arrival: Arrival | None, task_id: str) -> tuple[Any, ...]:
        if arrival is None:
            return ()
        skip = {"host", "content-length"}
        headers = sorted((name.lower(), value) for name, value in arrival.headers if name.lower() not in skip)
        return (arrival.method, arrival.path, arrival.query.replace(task_id, "ID"), arrival.body, tuple(headers))

    ours_id = ours.figures[0].task_id if ours.figures else ""
    theirs_id = theirs.figures[0].task_id if theirs.figures else ""
    same_create = shape(first(ours, "POST"), ours_id) == shape(first(theirs, "POST"), theirs_id)
    same_query = shape(first(ours, "GET"), ours_id) == shape(first(theirs, "GET"), theirs_id)
    if same_create and same_query:
        return "identical (method, path, query, JSON body, headers)"
    return f"DIFFERENT (create same: {same_create}, status query same: {same_query})"


# -- a: one task at a time ----------------------------------------------------------------------------------------


def scenario_a(quick: bool) -> Table:
    scale, count = 0.2, (3 if quick else 20)
    table = Table(
        f"(a) one task at a time (scale {scale:g}, {count} tasks per row, journal pre-seeded)", "fixed 2 s poller"
    )
    checked = ""
    for typical in (3.0, 12.0):
        for spread in (0.0, 0.3):
            label = f"T = {typical:g} s, " + ("run time known from history" if spread == 0 else "spread CV 0.3")
            log(f"(a) {label}")
            prompts = [f"a {typical:g} {spread:g} {index}" for index in range(count)]
            seed = SEED + int(typical * 10 + spread * 100)
            with tempfile.TemporaryDirectory() as tmp:
                with running(emulator_for(scale, typical=typical, spread=spread, seed=seed)) as emulator:
                    ours = kiecore_run(
                        emulator,
                        scale,
                        prompts,
                        Path(tmp),
                        seed_samples=history(scale, typical, spread, seed),
                        one_at_a_time=True,
                    )
                with running(emulator_for(scale, typical=typical, spread=spread, seed=seed)) as emulator:
                    theirs = baseline_run(emulator, scale, [body(p) for p in prompts], Path(tmp), one_at_a_time=True)
            checked = checked or wire_check(ours, theirs)
            target_latency = "≤ 0.25 s" if spread == 0 else "≤ 0.35 s"
            table.row(
                f"{label}: added latency median (p90)",
                f"{fmt(median(ours.latencies(scale)))} s ({fmt(quantile(ours.latencies(scale), 0.9))})",
                f"{fmt(median(theirs.latencies(scale)))} s ({fmt(quantile(theirs.latencies(scale), 0.9))})",
                target_latency,
            )
            table.row(
                f"{label}: status queries per task (mean)",
                fmt(mean(ours.queries()), 1),
                fmt(mean(theirs.queries()), 1),
                "≤ 3" if spread == 0 else "—",
            )
            table.data[label] = {
                "kiecore_latencies": ours.latencies(scale),
                "baseline_latencies": theirs.latencies(scale),
                "kiecore_queries": ours.queries(),
                "baseline_queries": theirs.queries(),
                "failed": [ours.failed, theirs.failed],
                "errors": [ours.errors, theirs.errors],
            }
            table.notes.append(f"{label}: kiecore {ours.split(scale)}; poller {theirs.split(scale)}")
            for run, who in ((ours, "kiecore"), (theirs, "baseline")):
                if run.failed:
                    table.notes.append(f"{label}: {who} failed {run.failed} of {count}: {run.errors[:2]}")
    table.notes.append(f"wire check, kiecore vs the baseline's first create and status query: {checked}")
    table.notes.append(
        "history: the journal holds 20 samples of the fixed run time, or 50 earlier draws of the same lognormal "
        "(another random stream); both sides see the same run times (same emulator seed)"
    )
    return table


# -- b: many generations at the live limits -----------------------------------------------------------------------


def batch(
    scale: float, count: int, seed: int, work: Path, *, typical: float = 30.0, spread: float = 0.3
) -> tuple[Run, Run]:
    prompts = [f"b {count} {index}" for index in range(count)]
    log(f"(b) {count} generations, kiecore")
    with running(emulator_for(scale, typical=typical, spread=spread, seed=seed, limits=True)) as emulator:
        ours = kiecore_run(
            emulator, scale, prompts, work / "kiecore", seed_samples=history(scale, typical, spread, seed)
        )
    log(f"(b) {count} generations, fixed poller")
    with running(emulator_for(scale, typical=typical, spread=spread, seed=seed, limits=True)) as emulator:
        theirs = baseline_run(emulator, scale, [body(p) for p in prompts], work / "baseline")
    return ours, theirs


def ratio(run: Run, scale: float) -> str:
    makespan = run.makespan(scale)
    if makespan is None:
        return f"n/a ({run.asked - run.failed} of {run.asked} delivered)"
    bound = run.lower_bound(scale)
    return f"{makespan / bound:.3f} ({makespan:.1f} s / {bound:.1f} s)"


def scenario_b(quick: bool) -> Table:
    scale = 0.1
    big, small = (100, 100) if quick else (1000, 200)
    table = Table(f"(b) generations at the live limits (scale {scale:g}, 30 s tasks, CV 0.3)", "fixed 2 s poller")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {big: batch(scale, big, SEED + 2, Path(tmp) / "big")}
        if small != big:
            runs[small] = batch(scale, small, SEED + 3, Path(tmp) / "small")
    for count in sorted(runs, reverse=True):
        ours, theirs = runs[count]
        table.row(f"N = {count}: makespan / lower bound", ratio(ours, scale), ratio(theirs, scale), "≤ 1.03")
        table.row(f"N = {count}: 429s received", str(ours.violations), str(theirs.violations), "0")
        table.row(
            f"N = {count}: tasks created / duplicates",
            f"{ours.created} / {ours.duplicates}",
            f"{theirs.created} / {theirs.duplicates}",
            f"{count} / 0",
        )
        table.row(f"N = {count}: failed generations", str(ours.failed), str(theirs.failed), "0")
        table.row(
            f"N = {count}: status queries per task (mean)",
            fmt(mean(ours.queries()), 1),
            fmt(mean(theirs.queries()), 1),
            "—",
        )
        table.data[str(count)] = {
            "kiecore": summary(ours, scale),
            "baseline": summary(theirs, scale),
        }
        for run, who in ((ours, "kiecore"), (theirs, "baseline")):
            if run.errors:
                table.notes.append(f"N = {count}, {who}: first errors: {run.errors[:2]}")
    ours, theirs = runs[small]
    table.row(
        f"N = {small}: added latency median / p90",
        f"{fmt(median(ours.latencies(scale)))} s / {fmt(quantile(ours.latencies(scale), 0.9))} s",
        f"{fmt(median(theirs.latencies(scale)))} s / {fmt(quantile(theirs.latencies(scale), 0.9))} s"
        f" (of {len(theirs.latencies(scale))} delivered)",
        "≤ 1.0 s / ≤ 3 s",
    )
    table.notes.append(f"N = {small}: kiecore {ours.split(scale)}; poller {theirs.split(scale)}")
    table.notes.append(
        "limits: the emulator enforces 20 creates / 10 s and 10 status queries / 1 s (periods x scale); the client "
        "keeps the same, scaled; the poller waits each 429's Retry-After (1 s live, x scale) and retries 5 times"
    )
    table.notes.append(
        "makespan: first create's arrival to the last task's first download arrival; lower bound: max over the "
        "k-th created task of floor(k/20) x 10 s + its run time (docs/performance.md)"
    )
    return table


def summary(run: Run, scale: float) -> dict[str, Any]:
    return {
        "asked": run.asked,
        "created": run.created,
        "failed": run.failed,
        "violations": run.violations,
        "duplicates": run.duplicates,
        "makespan": run.makespan(scale),
        "lower_bound": run.lower_bound(scale) if run.figures else None,
        "latency_median": median(run.latencies(scale)),
        "latency_p90": quantile(run.latencies(scale), 0.9),
        "queries_mean": mean(run.queries()),
        "wall_seconds": run.wall,
        "errors": run.errors,
    }


# -- c: client CPU per generation --------------------------------------------------------------------------------


@dataclass
class Cpu:
    """CPU seconds (user, system) per generation of one round, and the requests per generation."""

    user: float
    system: float
    requests: float

    @property
    def total(self) -> float:
        return self.user + self.system


def cpu_round(server: ServerProcess, count: int, run: Callable[[], int]) -> tuple[Cpu, int]:
    """Run ``run`` (which returns its failures) and measure this process's CPU over it, per generation."""
    before = server.ask("stats")["requests"]
    start = os.times()
    failed = run()
    end = os.times()
    requests = (server.ask("stats")["requests"] - before) / count
    return Cpu((end.user - start.user) / count, (end.system - start.system) / count, requests), failed


def guarantees_off() -> contextlib.ExitStack:
    """An ablation, not a mode kiecore offers: while it is open, results are written without ``fsync`` and no
    sidecar is written."""
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(os, "fsync", lambda _fd: None))
    stack.enter_context(mock.patch.object(kiecore.sidecar, "write", lambda *_args, **_options: None))
    return stack


def journal_writes(journal_dir: Path, count: int) -> float:
    """CPU seconds per generation of the journal writes alone (no HTTP, no engine): the five transactions one
    generation makes (the intent and the task id, both durable; its success; its run time; its saved file)."""
    journal = Journal(journal_dir / "journal.sqlite3")
    request = GenerationRequest(prompt="a fox in the snow")

    def one(n: int) -> None:
        entry = journal.begin_submit(
            model=MODEL, profile=Profile.LIVE, base_url="http://127.0.0.1:9", request=request, output_dir="out"
        )
        journal.submitted(entry, TaskHandle(model=MODEL, task_id=f"journal-{n}", submitted_at=time.time()))
        journal.observed(entry, TaskStatus(state=TaskState.SUCCEEDED, urls=(f"http://127.0.0.1:9/{n}.png",)))
        journal.record_runtime("http://127.0.0.1:9", MODEL, 1.0)
        journal.downloaded(entry, [Path(f"out/{n}.png")])

    try:
        for n in range(5):
            one(-1 - n)
        start = os.times()
        for n in range(count):
            one(n)
        end = os.times()
    finally:
        journal.close()
    return (end.user - start.user + end.system - start.system) / count


def scenario_c(quick: bool) -> Table:
    scale, count, rounds = 0.01, (60 if quick else 200), (2 if quick else 3)
    table = Table(
        f"(c) client CPU per generation ({count} generations of 0 s tasks at once, {rounds} rounds, emulator in a"
        " child process)",
        "raw urllib3 loop",
    )
    measured: dict[str, list[Cpu]] = {"journal": [], "no journal": [], "bare": [], "raw": []}
    journal_alone: list[float] = []
    with ServerProcess(scale=scale, typical=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        for index in range(rounds):
            for variant in ("journal", "no journal", "bare"):
                log(f"(c) round {index + 1}: kiecore, {variant}")
                work = Path(tmp) / f"round{index}-{variant}"
                out = work / "out"
                out.mkdir(parents=True)
                journal_dir = work / "journal" if variant == "journal" else None
                client = kiecore_client(server.base_url, scale, journal_dir, limits=variant != "bare")
                with guarantees_off() if variant == "bare" else contextlib.nullcontext():
                    for warm in range(5):
                        client.generate(MODEL, f"c warm {index} {warm}", output_dir=out)

                    prompts = [f"c {index} {variant} {n}" for n in range(count)]

                    def ours(client: Client = client, out: Path = out, prompts: list[str] = prompts) -> int:
                        futures = [client.start(MODEL, prompt, output_dir=out) for prompt in prompts]
                        return len(outcome_errors(futures))

                    cpu, failed = cpu_round(server, count, ours)
                measured[variant].append(cpu)
                client.close()
                if client.journal is not None:
                    client.journal.close()
                if failed:
                    table.notes.append(f"round {index + 1}: kiecore ({variant}) failed {failed}")
            log(f"(c) round {index + 1}: raw urllib3")
            out = Path(tmp) / f"round{index}-raw"
            out.mkdir(parents=True)
            poller = FixedPoller(server.base_url, API_KEY, interval=2.0 * scale, output_dir=out)
            for warm in range(5):
                poller.generate(body(f"c raw warm {index} {warm}"))
            bodies = [body(f"c raw {index} {n}") for n in range(count)]

            def theirs(poller: FixedPoller = poller, bodies: list[dict[str, Any]] = bodies) -> int:
                return sum(not result.ok for result in run_threads(poller, bodies))

            cpu, failed = cpu_round(server, count, theirs)
            measured["raw"].append(cpu)
            poller.close()
            if failed:
                table.notes.append(f"round {index + 1}: the raw loop failed {failed}")
            log(f"(c) round {index + 1}: the journal's writes alone")
            journal_alone.append(journal_writes(Path(tmp) / f"round{index}-writes", count))
    raw = median([cpu.total for cpu in measured["raw"]])
    labels = (("journal", "journal on"), ("no journal", "no journal"), ("bare", "nothing kept, an ablation"))
    for variant, label in labels:
        ours_total = median([cpu.total for cpu in measured[variant]])
        table.row(
            f"CPU per generation, {label} (median of rounds)",
            f"{ours_total * 1000:.2f} ms",
            f"{raw * 1000:.2f} ms",
            "—",
        )
        target = "≤ 1.3x" if variant == "journal" else "—"
        table.row(f"ratio kiecore ({label}) / raw", f"{ours_total / raw:.2f}x", "1.00x", target)
    writes = median(journal_alone)
    table.row(
        "the journal's writes alone, per generation (no HTTP)",
        f"{writes * 1000:.2f} ms ({writes / raw:.2f}x raw)",
        f"{raw * 1000:.2f} ms",
        "—",
    )
    table.row(
        "requests per generation",
        fmt(mean([cpu.requests for cpu in measured["journal"]]), 2),
        fmt(mean([cpu.requests for cpu in measured["raw"]]), 2),
        "the same",
    )
    for variant, cpus in measured.items():
        table.notes.append(
            f"{variant}: user/system ms per generation by round: "
            + ", ".join(f"{cpu.user * 1000:.2f}/{cpu.system * 1000:.2f}" for cpu in cpus)
        )
    table.notes.append(
        "CPU is os.times() user + system of the bench process (every thread), the emulator running in another "
        "process; kiecore: the live limits (x 0.01) kept (through the shared budget store beside the journal, when "
        "there is one), results saved by its downloader; raw: a thread per generation, create, one query, "
        "download, write the file; 5 warm-up generations before each measured round"
    )
    table.notes.append(
        "nothing kept: no journal, no client-side limits, and (patched out for this row only) no fsync of results "
        "and no sidecar: what the engine itself costs; the journal's writes alone: the five transactions of one "
        "generation, made in a loop on the same disk"
    )
    table.data = {variant: [cpu.__dict__ for cpu in cpus] for variant, cpus in measured.items()}
    table.data["journal writes alone"] = journal_alone
    return table


# -- d: 10,000 in flight -------------------------------------------------------------------------------------------


def hold(who: str, count: int, seconds: float, work: Path, window: float, max_wait: float) -> dict[str, Any]:
    log(f"(d) {count} in flight: {who}")
    with ServerProcess(scale=1.0, typical=seconds) as server:
        options = {
            "who": who,
            "base_url": server.base_url,
            "count": count,
            "body": body("hold"),
            "journal_dir": str(work / who),
            "seconds": seconds,
            "window": window,
            "max_wait": max_wait,
        }
        done = subprocess.run(
            [PYTHON, str(HERE / "engine_procs.py"), "hold", json.dumps(options)],
            capture_output=True,
            text=True,
            timeout=max_wait + 120,
        )
        stats = server.ask("stats")
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the {who} hold process failed ({done.returncode}): {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["emulator"] = stats
    return figures


def scenario_d(quick: bool) -> Table:
    count, seconds, window = (1000 if quick else 10000), 600.0, 5.0
    table = Table(f"(d) {count:,} generations in flight in one process ({seconds:g} s tasks, scale 1)", "thread each")
    with tempfile.TemporaryDirectory() as tmp:
        ours = hold("kiecore", count, seconds, Path(tmp), window, 300.0)
        theirs = hold("baseline", count, seconds, Path(tmp), window, 300.0)
    table.row(
        "peak RSS (VmHWM)",
        f"{ours['peak_rss_kb'] / 1024:.0f} MB",
        f"{theirs['peak_rss_kb'] / 1024:.0f} MB",
        "≤ 150 MB",
    )
    table.row(
        "threads (OS; Python)",
        f"{ours['os_threads']}; {ours['python_threads']}",
        f"{theirs['os_threads']}; {theirs['python_threads']}",
        "≤ 16",
    )
    table.row(
        f"CPU while waiting ({window:g} s window)",
        f"{ours['cpu_percent']:.1f} % of a core",
        f"{theirs['cpu_percent']:.1f} % of a core",
        "≤ 5 %",
    )
    table.row(
        "tasks submitted before the window / time to submit them",
        f"{ours['submitted']} / {ours['create_seconds']:.1f} s",
        f"{theirs['submitted']} / {theirs['create_seconds']:.1f} s",
        f"{count}",
    )
    table.notes.append(
        "each side runs in its own process (peak RSS is that process's high-water mark, creation included) against "
        "an emulator in a third; kiecore: journal on, no client-side rate limits, history says 600 s so the first "
        "query is ~590 s away; baseline: one thread per generation, each polling every 2 s (12 pooled connections)"
    )
    table.notes.append(
        f"resident before any generation: kiecore {ours['before'].get('VmRSS', 0) / 1024:.0f} MB (imports done), "
        f"baseline {theirs['before'].get('VmRSS', 0) / 1024:.0f} MB; status queries the emulator saw: kiecore "
        f"{ours['emulator']['queries']}, baseline {theirs['emulator']['queries']}"
    )
    table.data = {"kiecore": ours, "baseline": theirs}
    return table


# -- e: twenty `kie generate` processes -------------------------------------------------------------------------


def kie_processes(emulator: TimedEmulator, slots: int, per_slot: int, work: Path, shared: bool) -> dict[str, Any]:
    kie = shutil.which("kie", path=str(Path(PYTHON).parent)) or "kie"
    codes: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def slot(index: int) -> None:
        folder = work / ("shared" if shared else f"slot{index}")
        env = {**os.environ, "KIE_API_KEY": API_KEY, "KIECORE_JOURNAL": str(folder / "journal.sqlite3")}
        for n in range(per_slot):
            command = [
                kie,
                "generate",
                MODEL,
                f"e {shared} {index} {n}",
                "--base-url",
                emulator.base_url,
                "--no-download",
                "--poll-interval",
                "0.1",
            ]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            with lock:
                codes.append(done.returncode)
                if done.returncode != 0:
                    failures.append(f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")

    emulator.clear_arrivals()
    since = time.time()
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(slots) as pool:
        list(pool.map(slot, range(slots)))
    wall = time.monotonic() - start
    figures = task_figures(emulator, emulator.arrivals, since=since)
    run = Run(
        figures,
        emulator.arrivals,
        slots * per_slot,
        sum(code != 0 for code in codes),
        emulator.limit_violations,
        wall,
        failures[:5],
    )
    return {"run": run, "wall": wall}


def scenario_e(quick: bool) -> Table:
    slots, per_slot = 20, (2 if quick else 10)
    table = Table(
        f"(e) {slots} `kie generate` processes at a time, one key, {slots * per_slot} generations (live limits)",
        "one journal folder each",
    )
    results: dict[bool, Run] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for shared in (True, False):
            log(f"(e) {slots * per_slot} generations, {'one shared journal folder' if shared else 'a folder each'}")
            emulator = TimedEmulator(run_times=RunTimes(scale=0.05, seed=SEED + 5), enforce_limits=True)
            emulator.start()
            with running(emulator):
                results[shared] = kie_processes(emulator, slots, per_slot, Path(tmp) / str(shared), shared)["run"]
    ours, theirs = results[True], results[False]
    table.row("failed generations (exit code not 0)", str(ours.failed), str(theirs.failed), "0")
    table.row("429s received", str(ours.violations), str(theirs.violations), "0")
    table.row(
        "tasks created / duplicates",
        f"{ours.created} / {ours.duplicates}",
        f"{theirs.created} / {theirs.duplicates}",
        f"{ours.asked} / 0",
    )
    table.row(
        "wall time",
        f"{ours.wall:.0f} s",
        f"{theirs.wall:.0f} s",
        f"— (lower bound {(math.ceil(ours.asked / 20) - 1) * 10:.0f} s: the create limit)",
    )
    table.row("status queries per task (mean)", fmt(mean(ours.queries()), 1), fmt(mean(theirs.queries()), 1), "—")
    for run, who in ((ours, "shared"), (theirs, "separate")):
        if run.errors:
            table.notes.append(f"{who}: first failures: {run.errors[:3]}")
    table.notes.append(
        f"{slots} worker slots each run `kie generate {MODEL} PROMPT --base-url URL --no-download --poll-interval 0.1`"
        f" {per_slot} times in a row (KIE_API_KEY set, KIECORE_JOURNAL one path for all, or one folder per slot); the "
        "emulator enforces the published limits unscaled (20 creates / 10 s, 10 queries / s); tasks run 2 s (40 s x "
        "0.05), and --poll-interval 0.1 scales the plan to match"
    )
    table.data = {"shared": summary(ours, 1.0), "separate": summary(theirs, 1.0)}
    return table


# -- f: callbacks ------------------------------------------------------------------------------------------------


HMAC_KEY = "bench-webhook-key"


@contextlib.contextmanager
def callback_server(client: Client) -> Iterator[str]:
    """A verified-callback server on loopback routing to ``client``; yields its URL."""
    server = CallbackServer(CallbackReceiver(client, hmac_key=HMAC_KEY)).start()
    host, port = server.address
    try:
        yield f"http://{host}:{port}/kie-callback"
    finally:
        server.stop()


def scenario_f(quick: bool) -> Table:
    scale, typical, spread, count = 0.25, 12.0, 0.3, (10 if quick else 20)
    table = Table(
        f"(f) callbacks ({count} tasks at once, {typical:g} s CV {spread:g}, scale {scale:g}, journal pre-seeded)",
        "engine polling / fixed poller",
    )
    seed = SEED + 6
    prompts = [f"f {index}" for index in range(count)]
    samples = history(scale, typical, spread, seed)
    delivered: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        log("(f) kiecore with callbacks")
        with running(emulator_for(scale, typical=typical, spread=spread, seed=seed, hmac_key=HMAC_KEY)) as emulator:
            callback = kiecore_run(
                emulator, scale, prompts, Path(tmp) / "cb", seed_samples=samples, receiver=callback_server
            )
            delivered = [str(delivery.status) for delivery in emulator.callbacks]
        log("(f) kiecore polling")
        with running(emulator_for(scale, typical=typical, spread=spread, seed=seed)) as emulator:
            polling = kiecore_run(emulator, scale, prompts, Path(tmp) / "poll", seed_samples=samples)
        log("(f) fixed poller")
        with running(emulator_for(scale, typical=typical, spread=spread, seed=seed)) as emulator:
            fixed = baseline_run(emulator, scale, [body(p) for p in prompts], Path(tmp) / "fixed")
    table.row(
        "added latency median (p90)",
        f"{fmt(median(callback.latencies(scale)))} s ({fmt(quantile(callback.latencies(scale), 0.9))})",
        f"{fmt(median(polling.latencies(scale)))} s ({fmt(quantile(polling.latencies(scale), 0.9))}) / "
        f"{fmt(median(fixed.latencies(scale)))} s ({fmt(quantile(fixed.latencies(scale), 0.9))})",
        "≤ 0.1 s",
    )
    table.row(
        "status queries per task (mean)",
        fmt(mean(callback.queries()), 2),
        f"{fmt(mean(polling.queries()), 2)} / {fmt(mean(fixed.queries()), 2)}",
        "≤ 1",
    )
    table.row("failed", str(callback.failed), f"{polling.failed} / {fixed.failed}", "0")
    table.notes.append(
        f"callbacks: {callback.split(scale)}; engine polling: {polling.split(scale)}; poller: {fixed.split(scale)}"
    )
    statuses = {status: delivered.count(status) for status in sorted(set(delivered))}
    table.notes.append(
        f"callbacks: emulator signs with an HMAC key; a CallbackServer(CallbackReceiver(client)) on loopback routes "
        f"them to client.notify; deliveries by receiver status: {statuses}"
    )
    table.notes.append(f"at scale {scale:g} each real millisecond of HTTP overhead reads as {1 / scale:g} ms live")
    table.data = {
        "callback": summary(callback, scale),
        "polling": summary(polling, scale),
        "fixed": summary(fixed, scale),
        "deliveries": statuses,
    }
    return table


SCENARIOS: dict[str, Callable[[bool], Table]] = {
    "a": scenario_a,
    "b": scenario_b,
    "c": scenario_c,
    "d": scenario_d,
    "e": scenario_e,
    "f": scenario_f,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole run in about two minutes")
    parser.add_argument("--json", metavar="FILE", help="also write every figure measured as JSON")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="any of a b c d e f (default: all)")
    args = parser.parse_args(argv)
    chosen = args.scenarios or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {' '.join(unknown)}; choose from {' '.join(SCENARIOS)}")
    print(f"kiecore engine bench ({'quick' if args.quick else 'full'} sizes), {machine()}\n", flush=True)
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    started = time.monotonic()
    for name in chosen:
        began = time.monotonic()
        table = SCENARIOS[name](args.quick)
        table.notes.append(f"scenario took {time.monotonic() - began:.0f} s")
        print(table.render(), flush=True)
        results[name] = {"rows": table.rows, "notes": table.notes, "data": table.data}
    print(f"total {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(as_jsonable(results), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
