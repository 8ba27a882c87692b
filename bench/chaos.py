"""Fault-injection figures for docs/reliability.md: every fault kind over many generations, journal failures
after the create, servers that drip their replies, and processes killed at random then resumed. Run with
`make chaos` (a few minutes); it prints Markdown tables.

Usage: python bench/chaos.py [GENERATIONS_PER_FAULT] [KILLED_RUNS]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the harness is tests/chaos.py, not shipped

from kiecore.loading import load_registry
from tests.chaos import (
    CASES,
    JOURNAL_CASES,
    Outcome,
    run_case,
    run_journal_case,
    run_kill_and_resume,
    run_slow_case,
)

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
    outcomes: list[tuple[str, Outcome]] = []
    for case in CASES:
        for model in MODELS:
            with tempfile.TemporaryDirectory() as directory:
                run = run_case(registry, model, case, Path(directory), generations=generations, workers=4)
            outcomes.append((model, run))
    for name in JOURNAL_CASES:
        for model in MODELS:
            with tempfile.TemporaryDirectory() as directory:
                run = run_journal_case(registry, model, name, Path(directory), generations=generations, workers=4)
            outcomes.append((model, run))
    for model, o in outcomes:
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
    print()
    print("| slow server (a byte every 0.5 s) | model | timeout | took | ended with | delivered after resume |")
    print("|---|---|---|---|---|---|")
    for model in MODELS:
        for on in ("status", "download"):
            with tempfile.TemporaryDirectory() as directory:
                slow = run_slow_case(registry, model, on, Path(directory))
            clean = clean and slow.elapsed < slow.timeout + 1.0 and slow.delivered_after_resume == slow.expected
            print(
                f"| {on} replies | {model} | {slow.timeout:g} s | {slow.elapsed:.2f} s | {slow.error} | "
                f"{slow.delivered_after_resume}/{slow.expected} |"
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
