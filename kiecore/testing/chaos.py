"""Fault-injection runs against the emulator, with the books kept: for each kind of fault, many generations
through a journalling client, then a count of what was created, delivered, duplicated, lost or reported.

Used by the reliability tests (small runs) and ``bench/chaos.py`` (the figures in docs/reliability.md).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from kiecore.client import Client
from kiecore.errors import KieError, SubmitUncertainError, TaskFailedError
from kiecore.journal import Journal, JournalState
from kiecore.registry import Registry
from kiecore.testing.endtoend import FAST_RETRY, check_image

KEY = "sk-chaos-0123456789abcdef"
FAIL_MESSAGE = "Invalid prompt: prohibited content"


@attrs.frozen
class FaultCase:
    """One kind of fault: ``times`` injections of ``kind`` on ``on`` requests, spread over a run."""

    kind: str
    on: str = "any"
    times: int = 2
    options: dict[str, Any] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        options = ", ".join(f"{key}={value}" for key, value in self.options.items() if key != "message")
        return f"{self.kind} ({options}) on {self.on}" if options else f"{self.kind} on {self.on}"


CASES: tuple[FaultCase, ...] = (
    FaultCase("rate_limit", "submit", 3),
    FaultCase("rate_limit", "status", 3),
    FaultCase("server_error", "status", 3),
    FaultCase("server_error", "status", 3, {"status": 502}),
    FaultCase("drop", "status", 3),
    FaultCase("non_json", "status", 3),
    FaultCase("slow", "status", 2, {"seconds": 0.3}),
    FaultCase("invisible", "status", 3, {"tasks": 2}),
    FaultCase("server_error", "download", 3),
    FaultCase("drop", "download", 2),
    FaultCase("expire", "download", 2),
    FaultCase("fail_task", "any", 2, {"message": FAIL_MESSAGE}),
    FaultCase("drop", "submit", 2),
    FaultCase("drop_after_create", "submit", 2),
    FaultCase("non_json", "submit", 2),
    FaultCase("server_error", "submit", 2),
    FaultCase("auth", "submit", 1),
    FaultCase("credits", "submit", 1),
)


@attrs.frozen
class Outcome:
    """The books of one run. ``duplicates`` and ``lost`` must be 0; every failure must have been reported."""

    case: str
    generations: int
    faults_injected: int
    tasks_created: int
    images_expected: int
    images_delivered: int
    duplicates: int
    lost: int
    failed_reported: int
    failed_at_kie: int
    uncertain_reported: int
    refused_reported: int
    key_leaks: int
    delivered_generations: int

    @property
    def clean(self) -> bool:
        """Nothing duplicated, lost or leaked, and every generation accounted for and reported."""
        reported = self.delivered_generations + self.failed_reported + self.uncertain_reported + self.refused_reported
        return (
            self.duplicates == 0
            and self.lost == 0
            and self.key_leaks == 0
            and self.failed_reported == self.failed_at_kie
            and reported == self.generations
        )


def _generate(client: Client, model: str, out: Path, index: int) -> str:
    try:
        client.generate(model, f"chaos picture {index}", output_dir=out, timeout=30)
    except TaskFailedError as error:
        return "failed" if FAIL_MESSAGE in str(error) or error.status.fail_message else "failed-unreported"
    except SubmitUncertainError:
        return "uncertain"
    except KieError:
        return "refused"
    return "ok"


def run_case(
    registry: Registry, model: str, case: FaultCase, directory: Path, *, generations: int = 6, workers: int = 3
) -> Outcome:
    """Run ``generations`` generations of ``model`` under ``case`` and keep the books."""
    from kiecore.emulator import Emulator

    out = directory / "out"
    with (
        Emulator(registry, task_seconds=0.2, retry_after=0.05, api_key=KEY) as emulator,
        Journal(directory / "journal.sqlite3") as journal,
    ):
        emulator.inject(case.kind, on=case.on, times=case.times, **case.options)
        with Client(
            api_key=KEY,
            base_url=emulator.base_url,
            registry=registry,
            journal=journal,
            poll_interval=0.05,
            retry=FAST_RETRY,
            visibility_grace=10.0,
        ) as client:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(lambda i: _generate(client, model, out, i), range(generations)))
            for entry in journal.resumable():  # anything a fault left half-done
                client.resume(entry)
        entries = journal.entries()
        tasks = emulator.tasks
        known = {entry.task_id for entry in entries if entry.task_id}
        uncertain = [entry for entry in entries if entry.state is JournalState.UNCERTAIN]
        orphans = [task_id for task_id in tasks if task_id not in known]
        expected = sum(len(task.urls) for task_id, task in tasks.items() if task_id in known and not task.failed)
        files = [path for path in out.rglob("*") if path.is_file() and not path.name.startswith(".")]
        delivered = sum(1 for path in files if check_image(path))
        leaks = sum(
            1
            for request in emulator.requests
            if request.server != "api" and any(KEY in value for value in request.headers.values())
        )
        fired = sum(fault.fired for fault in emulator.faults.faults)
        return Outcome(
            case=case.name,
            generations=generations,
            faults_injected=fired,
            tasks_created=len(tasks),
            images_expected=expected,
            images_delivered=delivered,
            duplicates=max(0, len(orphans) - len(uncertain)),
            lost=max(0, expected - delivered),
            failed_reported=results.count("failed"),
            failed_at_kie=sum(1 for task in tasks.values() if task.failed),
            uncertain_reported=results.count("uncertain"),
            refused_reported=results.count("refused"),
            key_leaks=leaks,
            delivered_generations=results.count("ok"),
        )


@attrs.frozen
class KillOutcome:
    """The books of a kill -9 run: processes killed at random points, then one ``kie resume``."""

    runs: int
    killed: int
    tasks_created: int
    creates_sent: int
    images_expected: int
    images_delivered: int
    duplicates: int
    lost: int
    uncertain_reported: int
    resume_exit: int


def run_kill_and_resume(
    model: str, directory: Path, *, runs: int = 6, seed: int = 0, task_seconds: float = 0.6
) -> KillOutcome:
    """Start ``kie generate`` ``runs`` times against an emulator, kill -9 each at a random moment, then run
    ``kie resume`` once and count: every task created delivers its images exactly once, nothing is resent."""
    from kiecore.emulator import Emulator
    from kiecore.loading import load_registry

    chance = random.Random(seed)
    out = directory / "out"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KIE_", "KIECORE_"))},
        "KIE_API_KEY": KEY,
        "KIECORE_JOURNAL": str(directory / "journal.sqlite3"),
    }
    killed = 0
    with Emulator(load_registry(), task_seconds=task_seconds, api_key=KEY) as emulator:
        for index in range(runs):
            argv = [
                sys.executable,
                "-m",
                "kiecore",
                "generate",
                model,
                f"killed picture {index}",
                "-o",
                str(out),
                "--base-url",
                emulator.base_url,
                "--poll-interval",
                "0.05",
            ]
            process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(chance.uniform(0.15, 0.15 + task_seconds * 1.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                killed += 1
            process.wait()
        resumed = subprocess.run(
            [sys.executable, "-m", "kiecore", "resume", "--poll-interval", "0.05"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        creates = sum(1 for r in emulator.requests if r.server == "api" and r.method == "POST")
        tasks = emulator.tasks
        with Journal(directory / "journal.sqlite3") as journal:
            entries = journal.entries()
            attention = journal.attention()
        known = {entry.task_id for entry in entries if entry.task_id}
        orphans = [task_id for task_id in tasks if task_id not in known]
        expected = sum(len(task.urls) for task_id, task in tasks.items() if task_id in known)
        files = [path for path in out.rglob("*") if path.is_file() and not path.name.startswith(".")]
        by_task = {task_id: [p for p in files if p.name.startswith(task_id)] for task_id in known}
        delivered = sum(len(paths) for paths in by_task.values())
        return KillOutcome(
            runs=runs,
            killed=killed,
            tasks_created=len(tasks),
            creates_sent=creates,
            images_expected=expected,
            images_delivered=sum(1 for path in files if check_image(path)),
            duplicates=max(0, len(orphans) - len(attention)) + max(0, creates - len(tasks)),
            lost=max(0, expected - delivered),
            uncertain_reported=len(attention),
            resume_exit=resumed.returncode,
        )
