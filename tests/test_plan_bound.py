"""bench/plan_bound.py: its shortest path is the true optimum, and its bound never exceeds a poller that meets
the targets. Both checked by brute force over every query schedule of a small grid."""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "plan_bound.py"
    spec = importlib.util.spec_from_file_location("plan_bound", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plan_bound = _load()
STEP = 0.5
CDF = [plan_bound.lognormal_cdf(3.0, 0.3)(i * STEP) for i in range(12)]  # a short grid: 2**10 schedules


def cell_figures(cdf: Sequence[float], times: Sequence[int], steps: Sequence[int]) -> tuple[float, list[float]]:
    """Expected queries and P(latency > k steps), computed cell by cell of T's grid (another way than
    :func:`plan_bound.figures`): T in (i - 1, i] is found by the first query at or after i."""
    queries, late = 0.0, [0.0] * len(steps)
    for i in range(1, len(cdf)):
        mass = cdf[i] - cdf[i - 1]
        found = next(position for position, u in enumerate(times) if u >= i)
        queries += mass * (found + 1)
        for index, k in enumerate(steps):
            if times[found] - k >= i:
                late[index] += mass
    # what the grid's last cell leaves alive is asked by every query, and counted late by none
    queries += (1.0 - cdf[-1]) * len(times)
    return queries, late


def schedules(n: int) -> list[list[int]]:
    inner = range(1, n - 1)
    return [[*chosen, n - 1] for size in range(n - 1) for chosen in itertools.combinations(inner, size)]


def test_the_two_ways_of_counting_agree() -> None:
    for times in schedules(len(CDF))[::37]:
        ours, late = plan_bound.figures(CDF, times, [2, 6])
        theirs, their_late = cell_figures(CDF, times, [2, 6])
        assert ours == pytest.approx(theirs, abs=1e-12)
        assert late == pytest.approx(their_late, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=20.0),
    st.floats(min_value=0.0, max_value=20.0),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=2, max_value=8),
)
def test_the_shortest_path_is_the_best_schedule(m1: float, m2: float, k1: int, k2: int) -> None:
    penalties = ((k1, m1), (k2, m2))
    least, times = plan_bound.solve(CDF, penalties)

    def objective(schedule: list[int]) -> float:
        queries, late = cell_figures(CDF, schedule, [k1, k2])
        return queries + m1 * late[0] + m2 * late[1]

    assert least == pytest.approx(objective(times), abs=1e-9)
    assert least == pytest.approx(min(objective(schedule) for schedule in schedules(len(CDF))), abs=1e-9)


def test_the_bound_is_below_every_schedule_that_meets_the_targets() -> None:
    targets = ((1.0, 0.5), (2.0, 0.1))  # 2 and 4 steps of 0.5 s
    found, multipliers = plan_bound.bound(CDF, STEP, targets)
    assert all(m >= 0 for m in multipliers)
    meeting = []
    for schedule in schedules(len(CDF)):
        queries, late = cell_figures(CDF, schedule, [2, 4])
        if late[0] <= 0.5 and late[1] <= 0.1:
            meeting.append(queries)
    assert meeting, "no schedule meets the targets: the check would say nothing"
    assert 0 < found <= min(meeting) + 1e-9
    assert math.isfinite(found)


def test_the_grid_ends_where_the_tail_is_negligible() -> None:
    cdf = plan_bound.grid(plan_bound.lognormal_cdf(30.0, 0.3), 1.0)
    assert 1.0 - cdf[-1] < plan_bound.TAIL <= 1.0 - cdf[-2]
    assert cdf[0] == 0.0 and all(a <= b for a, b in itertools.pairwise(cdf))
