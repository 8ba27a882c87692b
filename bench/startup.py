"""Start-up benchmark: `kie --help` against a bare `python -c pass` (target: within 4x).

Run with `make bench`. Prints the median of several runs of each; machines here are noisy, so this is a
measurement to read, not a test that fails.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 21


def median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    kie = shutil.which("kie", path=str(Path(sys.executable).parent)) or "kie"
    bare = median_seconds([sys.executable, "-c", "pass"])
    help_ = median_seconds([kie, "--help"])
    models = median_seconds([kie, "models"])
    print(f"python -c pass : {bare * 1000:6.1f} ms")
    print(f"kie --help     : {help_ * 1000:6.1f} ms  ({help_ / bare:.1f}x; target <= 4x)")
    print(f"kie models     : {models * 1000:6.1f} ms  (loads every plugin)")


if __name__ == "__main__":
    main()
