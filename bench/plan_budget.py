"""What the poll plan can reach when status queries are rationed: scenario (b) of bench/engine.py without HTTP.

A deterministic event simulation of kiecore's poll plan (:class:`kiecore.engine.plan.PollPlan`) for N tasks of
30 s (CV 0.3, lognormal), created at the live create limit (20 every 10 s), whose queries pass through the
exact status window (10 per 1 s) and are answered instantly. When more queries are due than the window admits,
the due tasks are ranked by a rule and served in that order, as the engine's scheduler does. Rules:

  chance    P(done since the last query): PollPlan.priority, what the engine ranks by
  waited    the expected time the task has already been done, E[(now - T)+ | T > last query]
  both      chance + 0.3 x waited
  aged      chance x the time since the last query
  crossing  the density of tasks whose latency crosses 1 s or 3 s now (the targets' marks), given T > last query

Each row is one rule and plan ``chance``, over three seeds: added latency (finish to the query that finds it)
median and p90, and status queries per task. ``unlimited`` drops the window. Needs only kiecore (.venv).

Usage: .venv/bin/python bench/plan_budget.py [--tasks N]   (about 4 s)
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections import deque
from collections.abc import Callable

from kiecore.engine.plan import PollPlan
from kiecore.engine.runtimes import RunTimeModel

Rule = Callable[[PollPlan, float | None, float], float]
MEAN, CV = 30.0, 0.3
CREATES, CREATE_PERIOD = 20, 10.0
QUERIES, QUERY_PERIOD = 10, 1.0
HISTORY = 50  # run times the plan has learned from, drawn from the same distribution


def chance(plan: PollPlan, last: float | None, now: float) -> float:
    return plan.priority(last, now)


def waited(plan: PollPlan, last: float | None, now: float, steps: int = 16) -> float:
    """E[(now - T)+ | T > last] by the midpoint rule."""
    start = last or 0.0
    width = (now - start) / steps
    alive = plan.survival(start)
    if width <= 0:
        return 0.0
    if alive < 1e-300:
        return now - start
    return width * sum(1.0 - plan.survival(start + (i + 0.5) * width) / alive for i in range(steps))


def both(plan: PollPlan, last: float | None, now: float) -> float:
    return chance(plan, last, now) + 0.3 * waited(plan, last, now)


def aged(plan: PollPlan, last: float | None, now: float) -> float:
    return chance(plan, last, now) * (now - (last or 0.0))


def crossing(plan: PollPlan, last: float | None, now: float, width: float = 0.05) -> float:
    start = last or 0.0
    alive = plan.survival(start)
    if alive < 1e-300:
        return 0.0
    total = 0.0
    for mark in (1.0, 3.0):
        t = now - mark
        if t - width > start:
            total += (plan.survival(t - width) - plan.survival(t + width)) / (2 * width)
    return total / alive


RULES: dict[str, Rule] = {"chance": chance, "waited": waited, "both": both, "aged": aged, "crossing": crossing}


def simulate(rule: Rule, plan_chance: float, seed: int, tasks: int, limited: bool = True) -> tuple[list[float], int]:
    """Latencies of ``tasks`` generations and the queries they took."""
    rng = random.Random(seed)
    sigma = math.sqrt(math.log(1 + CV * CV))
    median = MEAN / math.exp(sigma * sigma / 2)
    model = RunTimeModel.learned(MEAN, [rng.lognormvariate(math.log(median), sigma) for _ in range(HISTORY)])
    plan = PollPlan(model, chance=plan_chance)
    created = [(k // CREATES) * CREATE_PERIOD for k in range(tasks)]
    runs = [rng.lognormvariate(math.log(median), sigma) for _ in range(tasks)]
    due = [created[k] + plan.first() for k in range(tasks)]
    last: list[float | None] = [None] * tasks
    open_tasks = set(range(tasks))
    window: deque[float] = deque()
    latencies: list[float] = []
    queries, now = 0, 0.0
    while open_tasks:
        while window and window[0] + QUERY_PERIOD <= now:
            window.popleft()
        ready = [k for k in open_tasks if due[k] <= now]
        free = QUERIES - len(window) if limited else len(ready)
        if ready and free > 0:
            ready.sort(key=lambda k: rule(plan, last[k], now - created[k]), reverse=True)
            for k in ready[:free]:
                window.append(now)
                queries += 1
                elapsed = now - created[k]
                if elapsed >= runs[k]:
                    open_tasks.discard(k)
                    latencies.append(elapsed - runs[k])
                else:
                    last[k] = elapsed
                    due[k] = created[k] + plan.next(elapsed)
            continue
        later = [due[k] for k in open_tasks if due[k] > now]
        if ready:
            later.append(window[0] + QUERY_PERIOD)
        now = min(later)
    return latencies, queries


def row(name: str, rule: Rule, plan_chance: float, tasks: int, limited: bool) -> str:
    cells = []
    for seed in (1, 2, 3):
        latencies, queries = simulate(rule, plan_chance, seed, tasks, limited)
        latencies.sort()
        p90 = latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))]
        cells.append(f"{statistics.median(latencies):.2f} s / {p90:.2f} s / {queries / tasks:.1f}")
    return f"| {name} | {plan_chance:g} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    tasks = parser.parse_args().tasks
    print(f"### the poll plan under the status budget ({tasks} tasks of {MEAN:g} s, CV {CV}, no HTTP)\n")
    print("| rule | plan chance | seed 1: latency median / p90 / queries per task | seed 2 | seed 3 |")
    print("|---|---|---|---|---|")
    print(row("unlimited (no window)", chance, 0.1, tasks, limited=False))
    for plan_chance in (0.1, 0.2):
        for name, rule in RULES.items():
            print(row(name, rule, plan_chance, tasks, limited=True))


if __name__ == "__main__":
    main()
