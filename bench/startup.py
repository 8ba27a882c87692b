"""Start-up benchmark: `kie --help` and `kie models` against a bare `python -c pass`, measured in turn in one run
(targets, issue 10: `kie --help` under 2x, `kie models` under 3x).

Run with `make bench`. Prints the median of 21 runs of each, the three commands taking turns; machines here are
noisy, so this is a measurement to read, not a test that fails.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 21


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    kie = shutil.which("kie", path=str(Path(sys.executable).parent)) or "kie"
    commands = {"bare": [sys.executable, "-c", "pass"], "help": [kie, "--help"], "models": [kie, "models"]}
    for command in commands.values():  # warm the caches (bytecode, file system) first
        seconds(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):  # in turn, so that a machine slowing down slows all three alike
        for name, command in commands.items():
            times[name].append(seconds(command))
    bare, help_, models = (statistics.median(times[name]) for name in commands)
    print(f"python -c pass : {bare * 1000:6.1f} ms")
    print(f"kie --help     : {help_ * 1000:6.1f} ms  ({help_ / bare:.1f}x; target < 2x)")
    print(f"kie models     : {models * 1000:6.1f} ms  ({models / bare:.1f}x; target < 3x; loads every plugin)")


if __name__ == "__main__":
    main()
