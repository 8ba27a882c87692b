"""How many status queries per task any poller needs to meet scenario (b)'s latency targets: a lower bound.

The setting is scenario (b)'s task: its run time T is lognormal with mean 30 s and CV 0.3, and the poller
knows that distribution exactly. A query only says whether T has passed (a market reply's running states,
``waiting``/``queuing``/``generating``, have no documented timing; the emulator's are fixed fractions of T).
The added latency is the first query at or after T, minus T. The targets, median <= 1 s and p90 <= 3 s, say
that P(latency > 1 s) <= 0.5 and P(latency > 3 s) <= 0.1.

**Weak duality.** Take multipliers m1, m2 >= 0 and any poller that meets both targets. Then

    E[queries] >= E[queries] + m1 (P(lat > 1) - 0.5) + m2 (P(lat > 3) - 0.1)
               >= min over every poller of the same               =: g(m1, m2)

So every g is a lower bound, and this script prints the largest it finds. The minimum is a shortest path
over query times on a grid of step h (:func:`solve`). Rounding any poller's query times up to the grid adds at
most h to a latency and sends no extra query. So the grid's pollers are held to 1 + h and 3 + h, and g still
bounds pollers that query at any time. The bound also holds for randomised pollers, and for pollers that use
other tasks' answers: run times are independent. Summed over tasks, it bounds the mean queries per task
whenever the *expected* shares of tasks over 1 s and over 3 s meet the targets.

**The service's share.** Scenario (b) creates tasks at the create limit, 20 per 10 s, and the status limit
admits 10 queries per 1 s (:data:`kiecore.ratelimit.PUBLISHED_LIMITS`). While both run flat out, that is 5
queries per task created. Only the run's start and end, with fewer tasks in flight, leave more.

Usage: .venv/bin/python bench/plan_bound.py [--step H]   (about 20 s; deterministic)
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

from kiecore.ratelimit import PUBLISHED_LIMITS

MEAN, CV = 30.0, 0.3  # scenario (b)'s run times
TARGETS = ((1.0, 0.5), (3.0, 0.1))  # (latency, the largest share of tasks allowed above it): median, p90
TAIL = 1e-9  # the grid ends where P(T > t) falls below this; what lies beyond is left out (a bound stays one)

Penalties = tuple[tuple[int, float], ...]  # (grid steps a latency may last, its multiplier)


def lognormal_cdf(mean: float, cv: float) -> Callable[[float], float]:
    """P(T <= t) for T lognormal with ``mean`` and coefficient of variation ``cv``."""
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    log_median = math.log(mean) - sigma * sigma / 2.0
    return lambda t: 0.0 if t <= 0 else 0.5 * math.erfc(-(math.log(t) - log_median) / (sigma * math.sqrt(2.0)))


def grid(cdf: Callable[[float], float], step: float) -> list[float]:
    """``cdf`` at 0, step, 2 step, ... until P(T > t) < :data:`TAIL`."""
    points = [cdf(0.0)]
    while 1.0 - points[-1] >= TAIL:
        points.append(cdf(len(points) * step))
    return points


def solve(cdf: Sequence[float], penalties: Penalties) -> tuple[float, list[int]]:
    """The least ``E[queries] + sum of m * P(latency > k steps)`` over query times on the grid, and the times
    (grid indexes) that reach it. ``cdf[i]`` is P(T <= i steps); the submit is index 0. The last query is at the
    grid's end, past which nothing is counted.

    From a query at ``t`` that found the task running (the submit counts as one), the next at ``u`` is sent
    with chance P(T > t) and ends every task that finished in (t, u]. Of those, the ones that finished before
    ``u - k`` waited longer than k steps."""
    n = len(cdf)
    value = [0.0] * n
    after = [n - 1] * n
    for t in range(n - 2, -1, -1):
        alive, done = 1.0 - cdf[t], cdf[t]
        best, choice = math.inf, n - 1
        for u in range(t + 1, n):
            cost = alive + value[u]
            for steps, multiplier in penalties:
                if u - steps > t:
                    cost += multiplier * (cdf[u - steps] - done)
            if cost < best:
                best, choice = cost, u
        value[t], after[t] = best, choice
    times, t = [], 0
    while t < n - 1:
        t = after[t]
        times.append(t)
    return value[0], times


def figures(cdf: Sequence[float], times: Sequence[int], steps: Sequence[int]) -> tuple[float, list[float]]:
    """A poller querying at ``times`` (grid indexes, ascending, ending at the grid's end): its expected
    queries, and P(latency > k steps) for each k in ``steps``."""
    queries, late, last = 0.0, [0.0] * len(steps), 0
    for u in times:
        queries += 1.0 - cdf[last]
        for index, k in enumerate(steps):
            if u - k > last:
                late[index] += cdf[u - k] - cdf[last]
        last = u
    return queries, late


def bound(cdf: Sequence[float], step: float, targets: Sequence[tuple[float, float]]) -> tuple[float, list[float]]:
    """The largest g(m) found by coordinate ascent over the multipliers, and those multipliers.

    g is concave (a minimum of functions linear in m), so the ascent climbs towards its maximum; any point it
    stops at is a valid bound, only perhaps not the tightest."""
    limits = [round(latency / step) + 1 for latency, _share in targets]  # each latency plus one step
    memo: dict[tuple[float, ...], float] = {}

    def g(multipliers: tuple[float, ...]) -> float:
        if multipliers not in memo:
            least, _times = solve(cdf, tuple(zip(limits, multipliers, strict=True)))
            memo[multipliers] = least - sum(m * share for m, (_l, share) in zip(multipliers, targets, strict=True))
        return memo[multipliers]

    point, size = tuple(4.0 for _ in targets), 2.0
    while size >= 0.125:
        neighbours = [
            tuple(max(0.0, value + sign * size) if i == axis else value for i, value in enumerate(point))
            for axis in range(len(point))
            for sign in (1.0, -1.0)
        ]
        best = max(neighbours, key=g)
        if g(best) > g(point):
            point = best
        else:
            size /= 2.0
    return g(point), list(point)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", type=float, default=0.1, help="the grid's step, seconds (default 0.1)")
    step = parser.parse_args().step
    cdf = grid(lognormal_cdf(MEAN, CV), step)
    creates, create_period = PUBLISHED_LIMITS.creates
    queries, query_period = PUBLISHED_LIMITS.status
    share = (queries / query_period) / (creates / create_period)
    print(f"### status queries per task needed for the latency targets ({MEAN:g} s tasks, CV {CV}, grid {step:g} s)\n")
    print("| targets | lower bound on queries per task | multipliers |")
    print("|---|---|---|")
    cases = [("median <= 1 s", TARGETS[:1]), ("p90 <= 3 s", TARGETS[1:]), ("both", TARGETS)]
    for name, targets in cases:
        least, multipliers = bound(cdf, step, targets)
        print(f"| {name} | {least:.2f} | {', '.join(f'{m:g}' for m in multipliers)} |")
    limits = [round(latency / step) + 1 for latency, _share in TARGETS]
    _least, times = solve(cdf, tuple(zip(limits, bound(cdf, step, TARGETS)[1], strict=True)))
    asked, late = figures(cdf, times, [round(latency / step) for latency, _share in TARGETS])
    print(
        f"\nThe poller at those multipliers: {asked:.2f} queries per task, P(latency > 1 s) {late[0]:.3f}, "
        f"P(latency > 3 s) {late[1]:.3f}; first queries at " + ", ".join(f"{t * step:.1f}" for t in times[:6]) + " s"
    )
    print(
        f"The live limits' share while creates and queries both run flat out: "
        f"{queries} per {query_period:g} s / {creates} per {create_period:g} s = {share:g} queries per task"
    )


if __name__ == "__main__":
    main()
