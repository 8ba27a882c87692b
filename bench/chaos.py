"""Fault-injection figures for docs/reliability.md: every fault kind over many generations, and processes
killed at random then resumed. Run with `make chaos` (a few minutes); it prints a Markdown table.

Usage: python bench/chaos.py [GENERATIONS_PER_FAULT] [KILLED_RUNS]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from kiecore.loading import load_registry
from kiecore.testing.chaos import CASES, run_case, run_kill_and_resume

MODELS = ("gpt4o-image", "nano-banana-pro", "flux-kontext-pro")


def main() -> int:
    generations = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    registry = load_registry()
    print(
        "| fault | model | generations | faults fired | tasks created | images delivered | failed (reported) "
        "| uncertain (reported) | refused | duplicates | lost | key leaks |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    totals = [0, 0, 0, 0, 0]
    clean = True
    for case in CASES:
        for model in MODELS:
            with tempfile.TemporaryDirectory() as directory:
                o = run_case(registry, model, case, Path(directory), generations=generations, workers=4)
            clean = clean and o.clean
            totals = [
                a + b
                for a, b in zip(
                    totals, [o.generations, o.faults_injected, o.images_delivered, o.duplicates, o.lost], strict=True
                )
            ]
            print(
                f"| {o.case} | {model} | {o.generations} | {o.faults_injected} | {o.tasks_created} | "
                f"{o.images_delivered}/{o.images_expected} | {o.failed_reported}/{o.failed_at_kie} | "
                f"{o.uncertain_reported} | {o.refused_reported} | {o.duplicates} | {o.lost} | {o.key_leaks} |"
            )
    with tempfile.TemporaryDirectory() as directory:
        k = run_kill_and_resume("nano-banana-pro", Path(directory), runs=kills, seed=1)
    print()
    print(
        f"totals: {totals[0]} generations, {totals[1]} faults fired, {totals[2]} images delivered, "
        f"{totals[3]} duplicates, {totals[4]} lost"
    )
    print(
        f"kill -9: {k.runs} runs, {k.killed} killed mid-flight, {k.tasks_created} tasks created, "
        f"{k.creates_sent} creates sent, {k.images_delivered}/{k.images_expected} images delivered after "
        f"`kie resume` (exit {k.resume_exit}), {k.uncertain_reported} reported uncertain, "
        f"{k.duplicates} duplicates, {k.lost} lost"
    )
    return 0 if clean and k.duplicates == 0 and k.lost == 0 and k.resume_exit == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
