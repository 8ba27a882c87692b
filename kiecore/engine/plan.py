"""When to query one task, from what its model's run time is believed to be.

Instead of a fixed grid, each query is placed so that the task has a set chance (:attr:`PollPlan.chance`) of
finishing since the previous one: dense where the run-time belief has its mass, sparse elsewhere. Gaps stay
within the live docs' guidance, stretched as a task runs long (about 3 s for the first 30 s, up to ~10 s until
two minutes, up to 30 s after; :func:`gap_cap`). All times are seconds after the submit.

The belief used is the run-time model plus a small *straggler* component (weight :data:`STRAGGLER_WEIGHT`, the
same median, log-spread :data:`STRAGGLER_SIGMA`): a task that outlives a confident model is then polled less and
less often instead of every ``min_gap``, and does not crowd out likelier tasks when queries are scarce.
"""

from __future__ import annotations

import math

import attrs

from kiecore.engine.runtimes import RunTimeModel

#: Tuned by the simulation in tests/engine/test_plan.py (see its figures).
DEFAULT_CHANCE = 0.1
DEFAULT_FIRST_CHANCE = 0.1
#: The longest gap grows as ``CAP_FRACTION * elapsed``, within [CAP_MIN, CAP_MAX] (each times ``scale``).
CAP_FRACTION = 0.25
CAP_MIN = 3.0
CAP_MAX = 30.0
#: Past the run-time model's OVERDUE_QUANTILE, no gap is shorter than OVERDUE_FRACTION of the time past it.
OVERDUE_QUANTILE = 0.95
OVERDUE_FRACTION = 0.2
#: The weight and log-spread of the straggler component mixed into the belief.
STRAGGLER_WEIGHT = 0.05
STRAGGLER_SIGMA = 1.0
_NEGLIGIBLE = 1e-300  # erfc keeps its relative precision down to here: ratios of survivals stay exact
_STEPS = 60  # the most bisection steps: each search stops once its bracket is below _PRECISION
_PRECISION = 1e-6  # relative: a microsecond in a second, far finer than any clock a query is sent by
_ROOT_HALF = math.sqrt(0.5)


def _positive_finite(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be positive and finite, not {value!r}")


def _probability(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{attribute.name} must be strictly between 0 and 1, not {value!r}")


def gap_cap(elapsed: float, scale: float = 1.0) -> float:
    """The longest gap after a query at ``elapsed``: ``clamp(CAP_FRACTION * elapsed, CAP_MIN * scale,
    CAP_MAX * scale)`` -- 3 s until 12 s, 7.5 s at 30 s, 30 s from two minutes (``scale`` 1)."""
    return min(CAP_MAX * scale, max(CAP_MIN * scale, CAP_FRACTION * elapsed))


@attrs.frozen
class PollPlan:
    """The query schedule of one task whose model's run time is believed to be ``runtime`` (real seconds, as
    measured on the clock the task runs by).

    ``scale`` multiplies every duration constant (``min_gap``, the gap cap) so an emulator can run fast.
    ``chance`` is the targeted chance that the task finishes between two consecutive queries; ``first_chance``
    the chance it is already done at the first query.
    """

    runtime: RunTimeModel
    scale: float = attrs.field(default=1.0, validator=_positive_finite)
    min_gap: float = attrs.field(default=0.25, validator=_positive_finite)
    chance: float = attrs.field(default=DEFAULT_CHANCE, validator=_probability)
    first_chance: float = attrs.field(default=DEFAULT_FIRST_CHANCE, validator=_probability)
    # derived once: the straggler component, and the mixture's constants (survival is the scheduler's hot path)
    _straggler: RunTimeModel = attrs.field(init=False, eq=False, repr=False)
    _log_median: float = attrs.field(init=False, eq=False, repr=False)
    _main_slope: float = attrs.field(init=False, eq=False, repr=False)
    _straggler_slope: float = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        runtime = self.runtime
        straggler = RunTimeModel(runtime.median, max(STRAGGLER_SIGMA, runtime.sigma), runtime.samples)
        object.__setattr__(self, "_straggler", straggler)
        object.__setattr__(self, "_log_median", math.log(runtime.median))
        object.__setattr__(self, "_main_slope", _ROOT_HALF / runtime.sigma)
        object.__setattr__(self, "_straggler_slope", _ROOT_HALF / straggler.sigma)

    @property
    def shortest_gap(self) -> float:
        """``min_gap * scale``: no two queries of the task are closer, unless the deadline forces it."""
        return self.min_gap * self.scale

    def survival(self, t: float) -> float:
        """P(T > t) under the plan's belief: the run-time model mixed with the straggler component."""
        if t <= 0:
            return 1.0
        x = math.log(t) - self._log_median
        main, straggler = math.erfc(x * self._main_slope), math.erfc(x * self._straggler_slope)
        return 0.5 * ((1.0 - STRAGGLER_WEIGHT) * main + STRAGGLER_WEIGHT * straggler)

    def chance_between(self, since: float, until: float) -> float:
        """P(T <= until | T > since) under the plan's belief; 0 if ``until <= since``, 1 past all belief."""
        if until <= since:
            return 0.0
        alive = self.survival(since)
        if alive < _NEGLIGIBLE:
            return 1.0
        return min(1.0, max(0.0, 1.0 - self.survival(until) / alive))

    def quantile(self, p: float) -> float:
        """The ``t`` with P(T <= t) == ``p`` under the plan's belief (``0 < p < 1``), to a relative 1e-6."""
        a, b = self.runtime.quantile(p), self._straggler.quantile(p)
        low, high = math.log(min(a, b)), math.log(max(a, b))  # the mixture's quantile lies between the two
        for _ in range(_STEPS):
            if high - low <= _PRECISION:  # in log space: relative
                break
            middle = (low + high) / 2.0
            if 1.0 - self.survival(math.exp(middle)) < p:
                low = middle
            else:
                high = middle
        return math.exp(high)

    def first(self, visible_after: float = 0.0) -> float:
        """When to send the first query: at the ``first_chance`` quantile, but not before ``visible_after`` (when
        the service starts knowing the task) nor before ``min_gap * scale``."""
        return max(self.quantile(self.first_chance), visible_after, self.shortest_gap)

    def next(self, elapsed: float, deadline: float | None = None) -> float:
        """When to query next, after the query at ``elapsed`` found the task unfinished.

        The gap ``g`` makes ``chance_between(elapsed, elapsed + g)`` about :attr:`chance`, clamped to
        [``min_gap * scale``, :func:`gap_cap`] (the cap itself once the belief has nothing left to say); past the
        model's :data:`OVERDUE_QUANTILE` the lower bound grows to :data:`OVERDUE_FRACTION` of the time past it. With a
        ``deadline``, the result never passes it; a query that would land less than ``min_gap * scale`` before it
        lands at the deadline instead. Raises ``ValueError`` when ``elapsed`` is negative or not before the
        deadline: the caller gives up then.
        """
        if not (math.isfinite(elapsed) and elapsed >= 0):
            raise ValueError(f"elapsed must be finite and non-negative, not {elapsed!r}")
        if deadline is not None and not deadline > elapsed:
            raise ValueError(f"the deadline {deadline!r} is not after {elapsed!r}: no query is left")
        longest = max(self.shortest_gap, gap_cap(elapsed, self.scale))
        # an overdue task is asked less and less often: the gap grows with how far it is past the belief's tail
        overdue = OVERDUE_FRACTION * max(0.0, elapsed - self.runtime.quantile(OVERDUE_QUANTILE))
        shortest = min(longest, max(self.shortest_gap, overdue))
        if self.survival(elapsed) < _NEGLIGIBLE:  # past all belief: only the docs' guidance is left
            gap = longest
        elif self.chance_between(elapsed, elapsed + shortest) >= self.chance:
            gap = shortest
        elif self.chance_between(elapsed, elapsed + longest) <= self.chance:
            gap = longest
        else:
            low, high = shortest, longest
            for _ in range(_STEPS):
                if high - low <= _PRECISION * elapsed + _PRECISION * self.shortest_gap:
                    break
                middle = (low + high) / 2.0
                if self.chance_between(elapsed, elapsed + middle) < self.chance:
                    low = middle
                else:
                    high = middle
            gap = high
        when = elapsed + gap
        if when <= elapsed:  # a gap lost to rounding at a huge elapsed
            when = math.nextafter(elapsed, math.inf)
        if deadline is not None and deadline - when < shortest:
            return deadline
        return when

    def priority(self, last_query: float | None, now: float) -> float:
        """How likely a query at ``now`` finds the task done, given it was unfinished at ``last_query`` (``None``:
        never queried, i.e. since the submit): in [0, 1], non-decreasing in ``now``. Scarce queries go to the
        highest first."""
        return self.chance_between(last_query or 0.0, now)
