"""Child processes of bench/engine.py (not run by hand).

``serve OPTIONS``: an emulator (OPTIONS as JSON: scale, typical, spread, seed, limits); prints
``{"base_url": ...}``, then answers one JSON line per command read on standard input (``stats``, ``reset``)
and stops at end of input.

``hold OPTIONS``: scenario d, one process holding ``count`` generations in flight, kiecore's engine or the fixed
poller's threads (OPTIONS: who, base_url, count, body, journal_dir, seconds, window, max_wait); once every
create is answered it watches itself for ``window`` seconds and prints its figures as JSON. Only the kiecore
branch imports kiecore, so the baseline's memory is its own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_baseline import FixedPoller


def serve(options: dict[str, Any]) -> None:
    from engine_harness import emulator_for

    emulator = emulator_for(
        float(options.get("scale", 1.0)),
        typical=options.get("typical"),
        spread=float(options.get("spread", 0.0)),
        seed=int(options.get("seed", 1)),
        limits=bool(options.get("limits", False)),
    )
    print(json.dumps({"base_url": emulator.base_url}), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                emulator.reset()
                emulator.clear_arrivals()
                answer: dict[str, Any] = {"ok": True}
            else:
                tasks = emulator.tasks
                answer = {
                    "tasks": len(tasks),
                    "requests": len(emulator.requests),
                    "violations": emulator.limit_violations,
                    "queries": sum(task.status_queries for task in tasks.values()),
                }
            print(json.dumps(answer), flush=True)
    finally:
        emulator.stop()


def _status() -> dict[str, int]:
    fields: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS", "Threads"):
                fields[name] = int(value.split()[0])
    return fields


def _watch(window: float) -> dict[str, Any]:
    """CPU (% of one core), threads and memory of this process over ``window`` seconds of waiting."""
    start_wall, start_cpu = time.monotonic(), time.process_time()
    time.sleep(window)
    cpu = time.process_time() - start_cpu
    wall = time.monotonic() - start_wall
    status = _status()
    return {
        "cpu_percent": 100.0 * cpu / wall,
        "python_threads": threading.active_count(),
        "os_threads": status.get("Threads", 0),
        "peak_rss_kb": status.get("VmHWM", 0),
        "rss_kb": status.get("VmRSS", 0),
    }


def _wait_for(count: int, submitted: Callable[[], int], ended: Callable[[], int], max_wait: float) -> float:
    start = time.monotonic()
    while submitted() + ended() < count and time.monotonic() - start < max_wait:
        time.sleep(0.05)
    return time.monotonic() - start


def hold(options: dict[str, Any]) -> None:
    who, base_url, count = str(options["who"]), str(options["base_url"]), int(options["count"])
    window, max_wait = float(options.get("window", 5.0)), float(options.get("max_wait", 300.0))
    lock = threading.Lock()
    submitted = [0]
    failed = [0]

    def on_submit(_task: object) -> None:
        with lock:
            submitted[0] += 1

    figures: dict[str, Any] = {"who": who, "count": count}
    if who == "kiecore":
        from engine_harness import API_KEY, MODEL, seed_history

        from kiecore.client import Client
        from kiecore.journal import Journal

        journal = Journal(Path(options["journal_dir"]) / "journal.sqlite3")
        seed_history(journal, base_url, [float(options["seconds"])] * 20)  # the first query is ~that far off
        client = Client(API_KEY, base_url=base_url, poll_interval=2.0, journal=journal, rate_limits=None)
        client.prepare(MODEL, prompt="warm")  # the plugins loaded
        figures["before"] = _status()
        start = time.monotonic()
        futures = [client.start(MODEL, f"hold {index}", download=False, on_submit=on_submit) for index in range(count)]
        figures["started_seconds"] = time.monotonic() - start

        def ended() -> int:
            return sum(1 for future in futures if future.done())

        figures["create_seconds"] = _wait_for(count, lambda: submitted[0], ended, max_wait)
        figures["engine_threads"] = client.engine.threads
        figures["ended_early"] = ended()
    else:
        body = options["body"]
        poller = FixedPoller(base_url, "bench-key", interval=2.0, on_submit=on_submit)
        figures["before"] = _status()

        def work() -> None:
            result = poller.generate(body)
            if not result.ok:
                with lock:
                    failed[0] += 1

        start = time.monotonic()
        threads = [threading.Thread(target=work, daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        figures["started_seconds"] = time.monotonic() - start
        figures["create_seconds"] = _wait_for(count, lambda: submitted[0], lambda: failed[0], max_wait)
        figures["ended_early"] = failed[0]
    figures["submitted"] = submitted[0]
    time.sleep(1.0)  # let the last replies settle
    figures.update(_watch(window))
    print(json.dumps(figures), flush=True)
    os._exit(0)  # the generations are still waiting: nothing to wait for


def main() -> None:
    role, options = sys.argv[1], json.loads(sys.argv[2])
    if role == "serve":
        serve(options)
    elif role == "hold":
        hold(options)
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
