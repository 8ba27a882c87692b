"""Start-up benchmark: `kie --help` and `kie models` against a bare `python -c pass`, measured in turn in one run
(targets, issue 10: `kie --help` under 2x, `kie models` under 3x). `kie models` is measured twice: as it runs
once its listing is cached (nothing it depends on changed since the last run), and with the cache turned off
(`KIECORE_CACHE_DIR=`), as the first run after installing or changing a plugin runs.

Run with `make bench`. Prints the median of 21 runs of each, the three commands taking turns; machines here are
noisy, so this is a measurement to read, not a test that fails.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 21


def seconds(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    kie = shutil.which("kie", path=str(Path(sys.executable).parent)) or "kie"
    uncached = {**os.environ, "KIECORE_CACHE_DIR": ""}
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "bare": ([sys.executable, "-c", "pass"], None),
        "help": ([kie, "--help"], None),
        "models": ([kie, "models"], None),
        "uncached": ([kie, "models"], uncached),
    }
    for command, env in commands.values():  # warm the caches (bytecode, file system, the listing) first
        seconds(command, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):  # in turn, so that a machine slowing down slows all alike
        for name, (command, env) in commands.items():
            times[name].append(seconds(command, env))
    bare, help_, models, fresh = (statistics.median(times[name]) for name in commands)
    print(f"python -c pass : {bare * 1000:6.1f} ms")
    print(f"kie --help     : {help_ * 1000:6.1f} ms  ({help_ / bare:.1f}x; target < 2x)")
    print(f"kie models     : {models * 1000:6.1f} ms  ({models / bare:.1f}x; target < 3x; its listing cached)")
    print(f"  uncached     : {fresh * 1000:6.1f} ms  ({fresh / bare:.1f}x; loads every plugin, as a first run does)")


if __name__ == "__main__":
    main()
