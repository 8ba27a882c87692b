"""Per-task run times: each task's duration drawn once, at creation, around its model's typical time.

A model whose declaration says ``typical_seconds`` = T (or whose id :attr:`RunTimes.seconds` overrides T)
runs T * ``scale`` seconds at the median; with ``spread`` > 0 durations follow a lognormal of that median
whose coefficient of variation (standard deviation / mean) is ``spread``: sigma = sqrt(log(1 + spread**2)),
mu = log(median). Draws come from one random stream per :class:`RunTimes`, seeded by ``seed``, so the same
seed and the same order of creates give the same durations.
"""

from __future__ import annotations

import math
import random
import threading
import types
from collections.abc import Callable, Mapping

import attrs


def _finite(minimum: float, *, strict: bool) -> Callable[[object, attrs.Attribute[float], float], None]:
    def check(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            sign = ">" if strict else ">="
            raise ValueError(f"{attribute.name} must be a finite number {sign} {minimum:g}, not {value!r}")

    return check


def _check_seed(instance: object, attribute: object, seed: object) -> None:
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise TypeError(f"seed must be an int or None, not {seed!r}")


def _frozen_seconds(value: Mapping[str, float]) -> Mapping[str, float]:
    seconds = {str(model): float(value[model]) for model in value}
    for model, typical in seconds.items():
        if not math.isfinite(typical) or typical < 0:
            raise ValueError(f"seconds[{model!r}] must be a finite number >= 0, not {typical!r}")
    return types.MappingProxyType(seconds)


@attrs.frozen
class RunTimes:
    """How long emulated tasks run: ``scale`` times their model's typical seconds at the median, spread
    lognormally with coefficient of variation ``spread`` (0: every task exactly at the median).

    ``seed`` seeds the stream :meth:`draw` reads (``None``: unseeded); ``seconds`` overrides a model's
    declared typical seconds by model id. Raises ``ValueError`` unless ``scale`` > 0, ``spread`` >= 0 and
    every override >= 0, all finite. The stream is this object's own: emulators sharing one share it.
    """

    scale: float = attrs.field(default=1.0, converter=float, validator=_finite(0.0, strict=True))
    spread: float = attrs.field(default=0.0, converter=float, validator=_finite(0.0, strict=False))
    seed: int | None = attrs.field(default=0, validator=_check_seed)
    seconds: Mapping[str, float] = attrs.field(factory=dict, converter=_frozen_seconds, hash=False)
    _random: random.Random = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(lambda self: random.Random(self.seed), takes_self=True)
    )
    _lock: threading.Lock = attrs.field(init=False, eq=False, repr=False, factory=threading.Lock)

    def median(self, model_id: str, typical_seconds: float) -> float:
        """The median duration of ``model_id``'s tasks: its override or ``typical_seconds``, times ``scale``."""
        return self.seconds.get(model_id, typical_seconds) * self.scale

    def draw(self, model_id: str, typical_seconds: float) -> float:
        """One task's duration in seconds (>= 0; thread-safe): exactly the median when ``spread`` is 0 (or the
        median is 0), else the next lognormal draw of the stream."""
        median = self.median(model_id, typical_seconds)
        if not math.isfinite(median) or median < 0:
            raise ValueError(f"{model_id}: typical seconds must be a finite number >= 0, not {typical_seconds!r}")
        if self.spread == 0 or median == 0:
            return median
        sigma = math.sqrt(math.log1p(self.spread**2))
        with self._lock:
            return self._random.lognormvariate(math.log(median), sigma)
