"""The poll plan: where queries land for a learned run time, in a pure simulation and as properties."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiecore.engine.plan import DEFAULT_CHANCE, DEFAULT_FIRST_CHANCE, PollPlan, gap_cap
from kiecore.engine.runtimes import SIGMA_CEILING, SIGMA_FLOOR, RunTimeModel

#: How late a real query arrives after the time it was planned for (the network, the scheduler).
ARRIVAL = 0.01


@attrs.frozen
class Figures:
    median_latency: float
    mean_queries: float
    max_queries: int


def walk(plan: PollPlan, run_time: float, *, arrival: float = ARRIVAL) -> tuple[float, int]:
    """Follow ``plan`` for a task done ``run_time`` s after its submit: (latency, queries) of the first query
    that sees it done (a query planned at ``t`` sees the task as it is at ``t + arrival``)."""
    when, queries = plan.first(), 1
    while when + arrival < run_time:
        when, queries = plan.next(when), queries + 1
        assert queries < 1000
    return when + arrival - run_time, queries


def lognormal(rng: random.Random, median: float, cv: float) -> float:
    return median * math.exp(rng.gauss(0.0, math.sqrt(math.log1p(cv * cv))))


def simulate(median: float, cv: float, *, seed: int = 7, tasks: int = 300, **plan: float) -> Figures:
    """Learn from 50 run times drawn from the true distribution, then walk the plan for ``tasks`` fresh ones."""
    rng = random.Random(seed)
    model = RunTimeModel.learned(median, [lognormal(rng, median, cv) for _ in range(50)])
    walks = [walk(PollPlan(model, **plan), lognormal(rng, median, cv)) for _ in range(tasks)]
    latencies, queries = zip(*walks, strict=True)
    return Figures(statistics.median(latencies), statistics.mean(queries), max(queries))


# -- the simulation (the tuning of DEFAULT_CHANCE and DEFAULT_FIRST_CHANCE) --------------------------------


@pytest.mark.parametrize("run_time", [3.0, 12.0])
@pytest.mark.parametrize("arrival", [0.0, 0.005, ARRIVAL, 0.02])
@pytest.mark.parametrize("typical", [0.5, 1.0, 2.0])  # the plugin's typical duration, as a share of the truth
def test_a_regular_model_is_seen_done_within_a_quarter_second_in_three_queries(
    run_time: float, arrival: float, typical: float
) -> None:
    plan = PollPlan(RunTimeModel.learned(typical * run_time, [run_time] * 20))
    latency, queries = walk(plan, run_time, arrival=arrival)
    assert 0.0 <= latency <= 0.25 and queries <= 3


def test_a_spread_model_is_seen_done_within_a_third_of_a_second() -> None:
    figures = simulate(3.0, 0.3)
    assert figures.median_latency <= 0.2 and figures.mean_queries <= 6.5


@pytest.mark.parametrize("median", [12.0, 30.0])
def test_slower_spread_models_cost_as_few_queries(median: float) -> None:
    figures = simulate(median, 0.3, tasks=150)
    assert figures.median_latency <= 0.05 * median and figures.mean_queries <= 12


def test_the_defaults_are_the_tuned_ones() -> None:
    plan = PollPlan(RunTimeModel.prior(10.0))
    assert (plan.chance, plan.first_chance) == (DEFAULT_CHANCE, DEFAULT_FIRST_CHANCE) == (0.1, 0.1)
    assert (plan.min_gap, plan.scale) == (0.25, 1.0)


# -- the rules ---------------------------------------------------------------------------------------------


def test_the_gap_cap_follows_the_live_docs() -> None:
    assert [gap_cap(t) for t in (0.0, 12.0, 30.0, 60.0, 120.0, 600.0)] == [3.0, 3.0, 7.5, 15.0, 30.0, 30.0]
    assert gap_cap(3.0, scale=0.1) == pytest.approx(0.75) and gap_cap(0.0, scale=0.1) == pytest.approx(0.3)


def test_a_fresh_model_is_polled_around_its_typical_duration() -> None:
    plan = PollPlan(RunTimeModel.prior(3.0))
    assert plan.first() == pytest.approx(plan.quantile(DEFAULT_FIRST_CHANCE))
    when = [plan.first()]
    while when[-1] < 10.0:
        when.append(plan.next(when[-1]))
    gaps = [b - a for a, b in itertools.pairwise(when)]
    assert 1.5 < when[0] < 3.0 and all(0.25 <= gap <= 3.0 for gap in gaps)


def test_a_stuck_task_is_polled_less_and_less_not_every_quarter_second() -> None:
    plan = PollPlan(RunTimeModel.learned(3.0, [3.0] * 50))
    when = [plan.first()]
    while when[-1] < 180.0:
        when.append(plan.next(when[-1], deadline=180.0))
    gaps = [b - a for a, b in itertools.pairwise(when)]
    assert when[-1] == 180.0 and len(when) < 40  # the reference's fixed 2 s would be 90
    assert all(later >= earlier - 1e-9 for earlier, later in itertools.pairwise(gaps[2:-1]))
    beyond = PollPlan(RunTimeModel(median=1e-3, sigma=0.1))
    assert beyond.survival(1e14) == 0.0 and beyond.next(1e14) - 1e14 == pytest.approx(30.0)  # the docs' cap
    # ...and when queries are scarce, a task due now comes before one long overdue
    assert plan.priority(None, 3.1) > plan.priority(20.0, 23.0)


def test_the_deadline_takes_the_last_query() -> None:
    plan = PollPlan(RunTimeModel.prior(60.0))
    assert plan.next(100.0, deadline=101.0) == 101.0  # a full gap would pass it
    assert plan.next(100.0, deadline=100.1) == 100.1  # closer than min_gap: still exactly at the deadline
    gap = plan.next(100.0) - 100.0
    assert plan.next(100.0, deadline=100.0 + gap + 0.1) == 100.0 + gap + 0.1  # no sliver before the deadline
    for deadline in (100.0, 99.0):
        with pytest.raises(ValueError, match="deadline"):
            plan.next(100.0, deadline=deadline)
    with pytest.raises(ValueError, match="elapsed"):
        plan.next(-1.0)


def test_the_scale_shrinks_every_constant_but_not_the_run_time() -> None:
    model = RunTimeModel.learned(0.3, [0.3] * 20)
    fast = PollPlan(model, scale=0.1)
    assert fast.shortest_gap == pytest.approx(0.025)
    assert walk(fast, 0.3, arrival=0.0)[0] <= 0.025
    stuck = PollPlan(RunTimeModel.learned(0.3, [0.3] * 50), scale=0.1)
    assert stuck.next(5.0) - 5.0 <= gap_cap(5.0, 0.1) + 1e-9


def test_first_waits_for_visibility_and_min_gap() -> None:
    plan = PollPlan(RunTimeModel(median=0.01, sigma=0.1))
    assert plan.first() == 0.25 and plan.first(visible_after=2.0) == 2.0
    with pytest.raises(ValueError, match="chance"):
        PollPlan(RunTimeModel.prior(1.0), chance=1.0)
    with pytest.raises(ValueError, match="scale"):
        PollPlan(RunTimeModel.prior(1.0), scale=0.0)


# -- properties ------------------------------------------------------------------------------------------

models = st.builds(
    RunTimeModel,
    median=st.floats(min_value=0.05, max_value=3000.0),
    sigma=st.floats(min_value=SIGMA_FLOOR, max_value=SIGMA_CEILING),
    samples=st.integers(min_value=0, max_value=50),
)
plans = st.builds(
    PollPlan,
    models,
    scale=st.floats(min_value=0.01, max_value=2.0),
    min_gap=st.floats(min_value=0.05, max_value=2.0),
    chance=st.floats(min_value=0.05, max_value=0.95),
    first_chance=st.floats(min_value=0.01, max_value=0.99),
)
times = st.floats(min_value=0.0, max_value=1e5)


@given(plans, times, st.none() | st.floats(min_value=1e-3, max_value=1e4))
def test_next_moves_on_by_at_least_min_gap_and_never_passes_the_deadline(
    plan: PollPlan, elapsed: float, ahead: float | None
) -> None:
    deadline = None if ahead is None else elapsed + ahead
    if deadline is not None and deadline <= elapsed:
        return  # ahead lost to rounding
    when = plan.next(elapsed, deadline)
    assert when > elapsed
    if deadline is not None:
        assert when <= deadline
    if when != deadline:
        rounding = 4 * math.ulp(elapsed) + 1e-12  # elapsed + gap is rounded to the precision of elapsed
        assert when - elapsed >= plan.shortest_gap - rounding
        assert when - elapsed <= max(plan.shortest_gap, gap_cap(elapsed, plan.scale)) + rounding


@given(plans, st.floats(min_value=0.0, max_value=1e4))
def test_first_is_never_before_visibility(plan: PollPlan, visible_after: float) -> None:
    first = plan.first(visible_after)
    assert first >= visible_after and first >= plan.shortest_gap


@given(plans, st.none() | times, times, times)
def test_priority_is_a_probability_growing_with_now(plan: PollPlan, last: float | None, a: float, b: float) -> None:
    early, late = sorted((a, b))
    assert 0.0 <= plan.priority(last, early) <= plan.priority(last, late) <= 1.0


@given(plans, st.floats(min_value=1e-4, max_value=1 - 1e-4))
def test_the_plan_quantile_inverts_its_survival(plan: PollPlan, p: float) -> None:
    when = plan.quantile(p)  # within a relative 1e-6 of the exact quantile: it is bracketed by these two
    assert 1.0 - plan.survival(when * (1 - 2e-6)) <= p <= 1.0 - plan.survival(when * (1 + 2e-6))
