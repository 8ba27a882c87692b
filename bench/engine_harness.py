"""What bench/engine.py measures with: an emulator that timestamps every request it receives, the figures of each
task drawn from its log, the kiecore client and emulator set up at a time scale, an emulator in a child process,
and the tables printed."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.emulator.httpserver import Reply
from kiecore.emulator.runtimes import RunTimes
from kiecore.journal import Journal
from kiecore.ratelimit import PUBLISHED_LIMITS, RateLimits

MODEL = "nano-banana-pro"  # a market-dialect model (POST /api/v1/jobs/createTask, GET /api/v1/jobs/recordInfo)
API_KEY = "bench-key"
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


# -- the emulator, timed ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One request as the emulator's handler received it (``at``: wall clock, once the request was read)."""

    at: float
    server: str  # "api" or "files"
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class TimedEmulator(Emulator):
    """The emulator, with the moment each request arrived: its own request log has no timestamps. The stamp is
    taken when the handler has read the request (for a GET, microseconds after its first byte)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._arrivals: list[Arrival] = []
        self._arrivals_lock = threading.Lock()

    def _respond(self, role: str, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        arrival = Arrival(time.time(), role, method, parts.path, parts.query, tuple(headers.items()), body)
        with self._arrivals_lock:
            self._arrivals.append(arrival)
        return super()._respond(role, method, target, headers, body)

    @property
    def arrivals(self) -> list[Arrival]:
        with self._arrivals_lock:
            return list(self._arrivals)

    def clear_arrivals(self) -> None:
        with self._arrivals_lock:
            self._arrivals.clear()


@dataclass
class TaskFigures:
    """One emulated task: when it finished at "Kie", when its first download arrived, how often it was queried."""

    task_id: str
    prompt: str
    created: float
    seconds: float
    finished: float
    first_download: float | None = None
    queries: int = 0
    found: float | None = None  # the first status query arriving after the task finished

    def latency(self, scale: float) -> float | None:
        """Finish to first download, in live seconds."""
        return None if self.first_download is None else (self.first_download - self.finished) / scale

    def finding(self, scale: float) -> float | None:
        """Finish to the query that found it done, in live seconds (the poll schedule's share of the latency)."""
        return None if self.found is None else (self.found - self.finished) / scale

    def reaction(self) -> float | None:
        """That query's arrival to the first download's, in real seconds (the client's mechanics: the reply, the
        journal, a file worker, the download request)."""
        if self.found is None or self.first_download is None or self.first_download < self.found:
            return None
        return self.first_download - self.found


def task_figures(emulator: Emulator, arrivals: Sequence[Arrival], *, since: float = 0.0) -> list[TaskFigures]:
    """Every task created at or after ``since`` (wall clock), oldest first, with its queries and first download."""
    figures: dict[str, TaskFigures] = {}
    for task in emulator.tasks.values():
        if task.created < since:
            continue
        seconds = task.duration(emulator.task_seconds)
        figures[task.id] = TaskFigures(task.id, task.prompt, task.created, seconds, task.created + seconds)
    for arrival in arrivals:
        if arrival.server == "files":
            parts = arrival.path.split("/")  # /files/<task id>/<name>
            found = figures.get(parts[2]) if len(parts) > 3 else None
            if found is not None and (found.first_download is None or arrival.at < found.first_download):
                found.first_download = arrival.at
        elif arrival.method == "GET":
            task_id = (parse_qs(arrival.query).get("taskId") or [""])[0]
            found = figures.get(task_id)
            if found is not None:
                found.queries += 1
                if arrival.at >= found.finished and (found.found is None or arrival.at < found.found):
                    found.found = arrival.at
    return sorted(figures.values(), key=lambda figure: figure.created)


def emulator_for(
    scale: float,
    *,
    typical: float | None = None,
    spread: float = 0.0,
    seed: int = 1,
    limits: bool = False,
    hmac_key: str | None = None,
) -> TimedEmulator:
    """A started emulator whose tasks run ``typical`` live seconds (default: the model's) times ``scale``; with
    ``limits``, the live rate limits enforced with their periods times ``scale``."""
    seconds = {MODEL: typical} if typical is not None else {}
    live = PUBLISHED_LIMITS
    emulator = TimedEmulator(
        run_times=RunTimes(scale=scale, spread=spread, seed=seed, seconds=seconds),
        enforce_limits=limits,
        create_limit=(live.creates[0], live.creates[1] * scale),
        status_limit=(live.status[0], live.status[1] * scale),
        gpt4o_task_status_limit=(live.task_status[0], live.task_status[1] * scale),
        webhook_hmac_key=hmac_key,
    )
    emulator.start()
    return emulator


def scaled_limits(scale: float) -> RateLimits:
    """The published limits with every period times ``scale``."""
    live = PUBLISHED_LIMITS
    return RateLimits(
        creates=(live.creates[0], live.creates[1] * scale),
        status=(live.status[0], live.status[1] * scale),
        task_status=(live.task_status[0], live.task_status[1] * scale),
    )


def kiecore_client(
    base_url: str, scale: float, journal_dir: Path | None, *, limits: RateLimits | bool | None = True
) -> Client:
    """A client at time scale ``scale``: poll interval 2 s x scale, the live limits scaled (``limits=True``),
    journal (and so the shared budget store) in ``journal_dir``."""
    journal = Journal(journal_dir / "journal.sqlite3") if journal_dir is not None else None
    chosen = scaled_limits(scale) if limits is True else None if limits is False else limits
    return Client(API_KEY, base_url=base_url, poll_interval=2.0 * scale, journal=journal, rate_limits=chosen)


def seed_history(journal: Journal | None, base_url: str, samples: Iterable[float]) -> int:
    """Record run-time samples (seconds, as the client measures them) for :data:`MODEL` at ``base_url``."""
    if journal is None:
        return 0
    count = 0
    for seconds in samples:
        journal.record_runtime(base_url.rstrip("/"), MODEL, seconds)
        count += 1
    return count


def draws(scale: float, typical: float, spread: float, seed: int, count: int) -> list[float]:
    """``count`` run times as the emulator would draw them (another stream than the emulator's own)."""
    run_times = RunTimes(scale=scale, spread=spread, seed=seed, seconds={MODEL: typical})
    return [run_times.draw(MODEL, typical) for _ in range(count)]


def create_body(client: Client, prompt: str) -> dict[str, Any]:
    """The JSON body kiecore sends to create a task of :data:`MODEL` with ``prompt``."""
    wire = client.prepare(MODEL, prompt=prompt).wire
    assert wire.body is not None and wire.method == "POST"
    return dict(wire.body)


# -- an emulator in a child process ------------------------------------------------------------------------------


class ServerProcess:
    """bench/engine_procs.py ``serve`` in a child process, so this process's CPU is the client's alone."""

    def __init__(self, **options: Any) -> None:
        self._process = subprocess.Popen(
            [PYTHON, str(HERE / "engine_procs.py"), "serve", json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        self.base_url: str = json.loads(line)["base_url"]

    def ask(self, command: str) -> dict[str, Any]:
        """Send one command (``stats``, ``reset``); its JSON answer."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._process.stdout.readline())
        return answer

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# -- figures -----------------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def quantile(values: Sequence[float], p: float) -> float:
    """The ``p`` quantile (linear between order statistics)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}{unit}"


@dataclass
class Table:
    """One scenario's printed table: rows of (figure, kiecore, baseline, target), then notes."""

    title: str
    baseline_name: str = "baseline"
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def row(self, figure: str, kiecore: str, baseline: str, target: str) -> None:
        self.rows.append((figure, kiecore, baseline, target))

    def render(self) -> str:
        lines = [f"### {self.title}", "", f"| figure | kiecore | {self.baseline_name} | target |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def proc_status() -> dict[str, int]:
    """This process's peak and current resident set (kB) and OS thread count, from /proc/self/status."""
    fields: dict[str, int] = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmHWM", "VmRSS", "Threads"):
                    fields[name] = int(value.split()[0])
    except OSError:
        import resource

        fields["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return fields


def machine() -> str:
    """Cores, Python and date, for the report."""
    cores = os.cpu_count() or 0
    version = ".".join(str(part) for part in sys.version_info[:3])
    return f"{cores} cores, Python {version}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"


def as_jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): as_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_jsonable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
