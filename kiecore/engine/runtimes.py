"""What the engine believes about each model's run time, learned from what the service reports.

A model's run time T (seconds from create to done) is taken to be lognormal: :class:`RunTimeModel` holds its
median and log-space spread. :meth:`RunTimeModel.learned` shrinks the recent samples towards the plugin's
``typical_seconds``; :class:`RunTimeBook` keeps the samples per (base URL, model), optionally in a durable
:class:`RunTimeStore` (the task journal is one), and :func:`observed_seconds` turns one finished task into a sample.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Protocol

import attrs

#: The log-space spread of a model known only by its typical duration (a factor of ~1.65 either way).
PRIOR_SIGMA = 0.5
#: The narrowest spread ever believed: a perfectly regular model still varies a little.
SIGMA_FLOOR = 0.02
#: The widest spread ever believed.
SIGMA_CEILING = 1.5
#: How many of the most recent samples a model is learned from.
MAX_SAMPLES = 50
#: The longest run time taken seriously (one day): anything longer is a broken clock, not a sample.
MAX_SECONDS = 86400.0
#: A survival below this counts as zero: the belief has no say any more (erfc is exact in relative terms above it).
_NEGLIGIBLE = 1e-300
_STANDARD = NormalDist()


def _positive_finite(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be positive and finite, not {value!r}")


def _non_negative(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, not {value!r}")


def usable_sample(seconds: float) -> bool:
    """Whether ``seconds`` can be a run-time sample: finite, positive and at most :data:`MAX_SECONDS`."""
    return math.isfinite(seconds) and 0.0 < seconds <= MAX_SECONDS


@attrs.frozen
class RunTimeModel:
    """A lognormal belief about one model's run time: ``ln T ~ Normal(ln median, sigma)``, from ``samples``
    observations (0: only the plugin's typical duration)."""

    median: float = attrs.field(validator=_positive_finite)
    sigma: float = attrs.field(validator=_positive_finite)
    samples: int = attrs.field(default=0, validator=_non_negative)

    @classmethod
    def prior(cls, typical_seconds: float) -> RunTimeModel:
        """What is known before any sample: the median is ``typical_seconds``, the spread :data:`PRIOR_SIGMA`."""
        if not (math.isfinite(typical_seconds) and typical_seconds > 0):
            raise ValueError(f"typical_seconds must be positive and finite, not {typical_seconds!r}")
        return cls(median=float(typical_seconds), sigma=PRIOR_SIGMA, samples=0)

    @classmethod
    def learned(cls, typical_seconds: float, samples: Iterable[float]) -> RunTimeModel:
        """The belief after ``samples`` (oldest first; only the newest :data:`MAX_SAMPLES` usable ones count).

        Unusable samples (non-finite, non-positive, over a day) are ignored. The prior counts as one observation:
        the spread is ``(PRIOR_SIGMA + (n - 1) * s) / n`` for ``n`` samples of log-space standard deviation ``s``
        (``n - 1`` degrees of freedom), kept within [:data:`SIGMA_FLOOR`, :data:`SIGMA_CEILING`]; the log-median
        is the precision-weighted mean of ``ln typical_seconds`` (one observation at spread ``PRIOR_SIGMA``) and
        the samples' log-mean (``n`` observations at the learned spread). So twenty identical samples pin the
        median, while one sample only halves the way from the typical duration.
        """
        prior = cls.prior(typical_seconds)
        logs = [math.log(value) for value in samples if usable_sample(value)][-MAX_SAMPLES:]
        n = len(logs)
        if n == 0:
            return prior
        mean = math.fsum(logs) / n
        spread = math.sqrt(math.fsum((x - mean) ** 2 for x in logs) / (n - 1)) if n > 1 else 0.0
        sigma = min(SIGMA_CEILING, max(SIGMA_FLOOR, (PRIOR_SIGMA + (n - 1) * spread) / n))
        prior_weight, data_weight = 1.0 / PRIOR_SIGMA**2, n / sigma**2
        mu = (prior_weight * math.log(prior.median) + data_weight * mean) / (prior_weight + data_weight)
        return cls(median=math.exp(mu), sigma=sigma, samples=n)

    def _z(self, t: float) -> float:
        return (math.log(t) - math.log(self.median)) / self.sigma

    def cdf(self, t: float) -> float:
        """P(T <= t); 0 for ``t <= 0``."""
        if t <= 0:
            return 0.0
        return 0.5 * math.erfc(-self._z(t) / math.sqrt(2.0))

    def survival(self, t: float) -> float:
        """P(T > t) = 1 - cdf(t), accurate far into the tail."""
        if t <= 0:
            return 1.0
        return 0.5 * math.erfc(self._z(t) / math.sqrt(2.0))

    def quantile(self, p: float) -> float:
        """The ``t`` with ``cdf(t) == p``: 0 for ``p <= 0``, infinity for ``p >= 1``."""
        if p <= 0:
            return 0.0
        if p >= 1:
            return math.inf
        return self.median * math.exp(self.sigma * _STANDARD.inv_cdf(p))

    def chance(self, since: float, until: float) -> float:
        """P(T <= until | T > since): the chance a task unfinished at ``since`` is done by ``until``.

        0 when ``until <= since``; 1 when the survival at ``since`` is negligible (the belief has nothing to say).
        """
        if until <= since:
            return 0.0
        alive = self.survival(since)
        if alive < _NEGLIGIBLE:
            return 1.0
        return min(1.0, max(0.0, 1.0 - self.survival(until) / alive))


def observed_seconds(
    *,
    service_seconds: float | None = None,
    last_unfinished: float | None = None,
    finished_seen: float | None = None,
) -> float | None:
    """One run-time sample from a finished task, or ``None`` when nothing usable is known.

    Preferred: ``service_seconds``, the service's own clock (``TaskStatus.run_seconds``: ``completeTime -
    createTime``, read by the dialect). Otherwise the midpoint of ``last_unfinished`` (the last query that saw
    the task unfinished) and ``finished_seen`` (the query that saw it finished), both seconds since the submit,
    with no other correction; a task already finished at its first query (no ``last_unfinished``) gives no
    midpoint. Every candidate must be finite, positive and at most a day (:func:`usable_sample`), else the next
    one is tried.
    """
    candidates: list[float] = []
    if service_seconds is not None:
        candidates.append(service_seconds)
    if last_unfinished is not None and finished_seen is not None and 0.0 <= last_unfinished < finished_seen:
        candidates.append((last_unfinished + finished_seen) / 2.0)
    return next((float(value) for value in candidates if usable_sample(value)), None)


class RunTimeStore(Protocol):
    """Durable run-time samples per (base URL, model); :class:`kiecore.journal.Journal` is one."""

    def runtimes(self, base_url: str, model: str, limit: int) -> list[float]:
        """The newest ``limit`` samples, oldest first."""
        ...

    def record_runtime(self, base_url: str, model: str, seconds: float) -> None:
        """Keep one more sample."""
        ...


_Key = tuple[str, str]


class RunTimeBook:
    """Run-time samples per (base URL, model) (the newest :data:`MAX_SAMPLES`, newest last) and the beliefs
    learned from them. Safe to share between threads.

    With a ``store``, a key's stored samples are loaded on its first use and each :meth:`add` is written
    through. A store failure never reaches the caller: the sample stays in memory and the error is kept in
    :attr:`last_error`. The store is called outside the book's lock.
    """

    def __init__(self, store: RunTimeStore | None = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._samples: dict[_Key, collections.deque[float]] = {}
        self._models: dict[_Key, tuple[float, RunTimeModel]] = {}
        self._last_error: Exception | None = None

    @property
    def last_error(self) -> Exception | None:
        """The latest exception the store raised (loading or writing), ``None`` if it never failed."""
        with self._lock:
            return self._last_error

    @staticmethod
    def _key(base_url: str, model: str) -> _Key:
        return base_url.rstrip("/"), model

    def model_for(self, base_url: str, model: str, typical_seconds: float) -> RunTimeModel:
        """The belief about ``model`` at ``base_url``: :meth:`RunTimeModel.learned` from the samples so far,
        cached until the next :meth:`add` for that key."""
        key = self._key(base_url, model)
        self._load(key)
        with self._lock:
            cached = self._models.get(key)
            if cached is not None and cached[0] == typical_seconds:
                return cached[1]
            belief = RunTimeModel.learned(typical_seconds, self._samples[key])
            self._models[key] = (typical_seconds, belief)
            return belief

    def samples(self, base_url: str, model: str) -> list[float]:
        """The samples held for the key, oldest first (loading stored ones on first use)."""
        key = self._key(base_url, model)
        self._load(key)
        with self._lock:
            return list(self._samples[key])

    def add(self, base_url: str, model: str, seconds: float) -> None:
        """Learn one run time (seconds); an unusable value (:func:`usable_sample`) is dropped. Never raises
        because of the store."""
        if not usable_sample(seconds):
            return
        key = self._key(base_url, model)
        self._load(key)
        with self._lock:
            self._samples[key].append(float(seconds))
            self._models.pop(key, None)
        if self.store is not None:
            try:
                self.store.record_runtime(key[0], key[1], float(seconds))
            except Exception as error:  # the store is best effort: the sample is in memory already
                with self._lock:
                    self._last_error = error

    def _load(self, key: _Key) -> None:
        with self._lock:
            if key in self._samples:
                return
            if self.store is None:
                self._samples[key] = collections.deque(maxlen=MAX_SAMPLES)
                return
        stored: Sequence[float] = ()
        failure: Exception | None = None
        try:
            stored = [float(value) for value in self.store.runtimes(key[0], key[1], MAX_SAMPLES)]
        except Exception as error:  # an unreadable store: learn from this process's samples only
            failure = error
        with self._lock:
            if failure is not None:
                self._last_error = failure
            if key not in self._samples:  # another thread may have loaded it meanwhile
                usable = [value for value in stored if usable_sample(value)]
                self._samples[key] = collections.deque(usable, maxlen=MAX_SAMPLES)
