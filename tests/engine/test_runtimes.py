"""The run-time belief (lognormal, learned by shrinkage), the per-model book, and the journal's run-time table."""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiecore.engine.runtimes import (
    MAX_SAMPLES,
    PRIOR_SIGMA,
    SIGMA_CEILING,
    SIGMA_FLOOR,
    RunTimeBook,
    RunTimeModel,
    RunTimeStore,
    observed_seconds,
)
from kiecore.journal import MAX_RUNTIMES, SCHEMA_VERSION, Journal, JournalError

BASE = "https://api.kie.ai"

models = st.builds(
    RunTimeModel,
    median=st.floats(min_value=0.05, max_value=5000.0),
    sigma=st.floats(min_value=SIGMA_FLOOR, max_value=SIGMA_CEILING),
    samples=st.integers(min_value=0, max_value=MAX_SAMPLES),
)
any_floats = st.floats(allow_nan=True, allow_infinity=True)


# -- the belief ------------------------------------------------------------------------------------


def test_the_prior_is_the_typical_duration_with_a_wide_spread() -> None:
    prior = RunTimeModel.prior(12.0)
    assert prior == RunTimeModel(median=12.0, sigma=PRIOR_SIGMA, samples=0)
    assert prior.cdf(12.0) == pytest.approx(0.5)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="typical_seconds"):
            RunTimeModel.prior(bad)
    with pytest.raises(ValueError, match="sigma"):
        RunTimeModel(median=1.0, sigma=0.0)
    with pytest.raises(ValueError, match="samples"):
        RunTimeModel(median=1.0, sigma=0.1, samples=-1)


def test_identical_samples_pin_the_median_and_shrink_the_spread() -> None:
    twenty = RunTimeModel.learned(6.0, [12.0] * 20)  # a typical duration far off barely matters
    assert twenty.median == pytest.approx(12.0, rel=1e-3)
    assert twenty.sigma == pytest.approx(PRIOR_SIGMA / 20)  # the prior counts as one observation of the spread
    assert twenty.samples == 20
    assert RunTimeModel.learned(12.0, [12.0] * 200).sigma == SIGMA_FLOOR


def test_one_sample_goes_half_way_from_the_typical_duration() -> None:
    one = RunTimeModel.learned(4.0, [16.0])
    assert one.median == pytest.approx(8.0) and one.sigma == PRIOR_SIGMA and one.samples == 1


def test_spread_samples_give_their_spread_and_the_ceiling_holds() -> None:
    spread = RunTimeModel.learned(10.0, [10.0 * math.exp(x) for x in (-0.3, 0.3) * 25])
    assert spread.median == pytest.approx(10.0) and 0.29 < spread.sigma < 0.31
    wild = RunTimeModel.learned(10.0, [0.01, 80000.0] * 25)
    assert wild.sigma == SIGMA_CEILING


def test_unusable_samples_are_ignored_and_only_the_newest_count() -> None:
    assert RunTimeModel.learned(5.0, [math.nan, math.inf, -3.0, 0.0, 1e9]) == RunTimeModel.prior(5.0)
    old_then_new = [100.0] * 30 + [5.0] * MAX_SAMPLES
    assert RunTimeModel.learned(5.0, old_then_new) == RunTimeModel.learned(5.0, [5.0] * MAX_SAMPLES)


@given(st.floats(min_value=1e-3, max_value=1e5), st.lists(any_floats, max_size=80))
def test_learned_stays_within_the_floor_and_the_ceiling(typical: float, samples: list[float]) -> None:
    model = RunTimeModel.learned(typical, samples)
    assert SIGMA_FLOOR <= model.sigma <= SIGMA_CEILING
    assert math.isfinite(model.median) and model.median > 0
    assert 0 <= model.samples <= MAX_SAMPLES


@given(models, st.floats(min_value=1e-6, max_value=1 - 1e-6))
def test_quantile_and_cdf_are_inverse(model: RunTimeModel, p: float) -> None:
    t = model.quantile(p)
    assert model.cdf(t) == pytest.approx(p, abs=1e-9)
    assert model.cdf(t) + model.survival(t) == pytest.approx(1.0)


@given(models, st.floats(min_value=0.01, max_value=1e4))
def test_cdf_then_quantile_returns_the_time(model: RunTimeModel, t: float) -> None:
    p = model.cdf(t)
    if 1e-9 < p < 1 - 1e-9:
        assert model.quantile(p) == pytest.approx(t, rel=1e-6)


def test_the_edges_of_cdf_and_quantile() -> None:
    model = RunTimeModel(median=3.0, sigma=0.3)
    assert model.cdf(0.0) == 0.0 and model.cdf(-1.0) == 0.0 and model.survival(0.0) == 1.0
    assert model.quantile(0.0) == 0.0 and model.quantile(1.0) == math.inf
    assert model.quantile(0.5) == pytest.approx(3.0)


@given(models, st.floats(min_value=0.0, max_value=1e4), st.floats(min_value=0.0, max_value=1e4),
       st.floats(min_value=0.0, max_value=1e4))  # fmt: skip
def test_chance_is_a_probability_growing_with_until(model: RunTimeModel, since: float, a: float, b: float) -> None:
    early, late = sorted((since + a, since + b))
    assert 0.0 <= model.chance(since, early) <= model.chance(since, late) <= 1.0
    assert model.chance(since, since) == 0.0


def test_chance_is_conditional_and_one_past_all_belief() -> None:
    model = RunTimeModel(median=10.0, sigma=0.2)
    assert model.chance(0.0, 10.0) == pytest.approx(0.5)
    assert model.chance(10.0, 1e6) == pytest.approx(1.0)
    # P(T <= 12 | T > 10) = (F(12) - F(10)) / (1 - F(10))
    assert model.chance(10.0, 12.0) == pytest.approx((model.cdf(12.0) - 0.5) / 0.5)
    regular = RunTimeModel(median=3.0, sigma=SIGMA_FLOOR)
    assert regular.chance(4.0, 4.1) == pytest.approx(1.0)  # conditional, however deep in the tail
    assert 0.0 < regular.chance(4.0, 4.0001) < 1.0
    assert regular.chance(10.0, 10.1) == 1.0  # the survival at 10 s is 0: nothing left to say
    assert model.chance(5.0, 4.0) == 0.0


# -- one sample ----------------------------------------------------------------------------------------


def test_the_service_clock_is_preferred() -> None:
    assert observed_seconds(service_seconds=5.5, last_unfinished=4.0, finished_seen=8.0) == 5.5


def test_otherwise_the_midpoint_of_the_last_two_queries() -> None:
    assert observed_seconds(last_unfinished=4.0, finished_seen=5.0) == 4.5
    # an unusable service span falls back to the midpoint
    assert observed_seconds(service_seconds=-4.0, last_unfinished=4.0, finished_seen=5.0) == 4.5
    assert observed_seconds(service_seconds=2 * 86_400.0, last_unfinished=4.0, finished_seen=5.0) == 4.5
    assert observed_seconds(service_seconds=math.nan, last_unfinished=0.0, finished_seen=1.0) == 0.5


@pytest.mark.parametrize(
    "facts",
    [
        {},
        {"service_seconds": 0.0},  # zero
        {"service_seconds": -1.0},  # negative
        {"service_seconds": 90_000.0},  # over a day
        {"finished_seen": 3.0},  # done at the first query: no midpoint
        {"last_unfinished": 3.0, "finished_seen": 3.0},
        {"last_unfinished": 5.0, "finished_seen": 3.0},
        {"last_unfinished": -2.0, "finished_seen": 1.0},
        {"last_unfinished": math.nan, "finished_seen": 1.0},
        {"last_unfinished": 1.0, "finished_seen": math.inf},
    ],
)
def test_nothing_usable_is_none(facts: dict[str, float]) -> None:
    assert observed_seconds(**facts) is None


# -- the book --------------------------------------------------------------------------------------


class MemoryStore:
    def __init__(self, stored: dict[tuple[str, str], list[float]] | None = None) -> None:
        self.stored = stored or {}
        self.reads: list[tuple[str, str, int]] = []

    def runtimes(self, base_url: str, model: str, limit: int) -> list[float]:
        self.reads.append((base_url, model, limit))
        return self.stored.get((base_url, model), [])[-limit:]

    def record_runtime(self, base_url: str, model: str, seconds: float) -> None:
        self.stored.setdefault((base_url, model), []).append(seconds)


class BrokenStore:
    def runtimes(self, base_url: str, model: str, limit: int) -> list[float]:
        raise OSError("disk gone")

    def record_runtime(self, base_url: str, model: str, seconds: float) -> None:
        raise JournalError("journal locked", transient=True)


def test_the_book_learns_per_key_and_caches_until_the_next_add() -> None:
    book = RunTimeBook()
    first = book.model_for(BASE, "m", 10.0)
    assert first == RunTimeModel.prior(10.0) and book.model_for(BASE + "/", "m", 10.0) is first
    book.add(BASE + "/", "m", 4.0)  # a trailing slash is the same host
    second = book.model_for(BASE, "m", 10.0)
    assert second is not first and second == RunTimeModel.learned(10.0, [4.0])
    assert book.model_for(BASE, "m", 10.0) is second
    assert book.model_for(BASE, "m", 20.0) == RunTimeModel.learned(20.0, [4.0])  # another prior: learned anew
    assert book.model_for(BASE, "other", 10.0) == RunTimeModel.prior(10.0)
    assert book.model_for("http://127.0.0.1:8080", "m", 10.0) == RunTimeModel.prior(10.0)


def test_the_book_keeps_the_newest_samples_and_drops_unusable_ones() -> None:
    book = RunTimeBook()
    for seconds in [*range(1, 71), math.nan, -1.0, 0.0, math.inf]:
        book.add(BASE, "m", float(seconds))
    assert book.samples(BASE, "m") == [float(s) for s in range(21, 71)]


def test_the_book_loads_from_its_store_once_and_writes_through() -> None:
    store = MemoryStore({(BASE, "m"): [5.0, 6.0]})
    book = RunTimeBook(store)
    assert book.model_for(BASE + "/", "m", 5.0) == RunTimeModel.learned(5.0, [5.0, 6.0])
    book.add(BASE, "m", 7.0)
    assert book.samples(BASE, "m") == [5.0, 6.0, 7.0]
    assert store.reads == [(BASE, "m", MAX_SAMPLES)]
    assert store.stored[(BASE, "m")] == [5.0, 6.0, 7.0]
    assert book.last_error is None


def test_a_failing_store_never_reaches_the_caller() -> None:
    book = RunTimeBook(BrokenStore())
    assert book.model_for(BASE, "m", 5.0) == RunTimeModel.prior(5.0)
    assert isinstance(book.last_error, OSError)
    book.add(BASE, "m", 4.0)
    assert isinstance(book.last_error, JournalError)
    assert book.samples(BASE, "m") == [4.0]  # kept in memory
    assert book.model_for(BASE, "m", 5.0) == RunTimeModel.learned(5.0, [4.0])


def test_the_book_is_safe_between_threads() -> None:
    store = MemoryStore()
    book = RunTimeBook(store)

    def work(index: int) -> None:
        for step in range(100):
            book.add(BASE, f"m{index % 2}", 1.0 + step)
            book.model_for(BASE, f"m{index % 2}", 10.0)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.stored[(BASE, "m0")]) == len(store.stored[(BASE, "m1")]) == 400
    assert len(book.samples(BASE, "m0")) == MAX_SAMPLES
    assert book.model_for(BASE, "m0", 10.0) == RunTimeModel.learned(10.0, book.samples(BASE, "m0"))


# -- the journal's run-time table ------------------------------------------------------------------------


def test_the_journal_is_a_run_time_store(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        store: RunTimeStore = journal
        book = RunTimeBook(store)
        for seconds in (3.0, 3.5, 4.0):
            book.add(BASE + "/", "m", seconds)
        assert book.last_error is None
    with Journal(path) as journal:  # a new run learns from the last one's samples
        assert journal.runtimes(BASE, "m") == [3.0, 3.5, 4.0]
        assert RunTimeBook(journal).model_for(BASE, "m", 10.0) == RunTimeModel.learned(10.0, [3.0, 3.5, 4.0])
        assert journal.runtimes(BASE, "other") == [] and journal.runtimes("http://elsewhere", "m") == []


def test_the_journal_keeps_the_newest_runtimes_oldest_first(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        for seconds in range(1, MAX_RUNTIMES + 31):
            journal.record_runtime(BASE, "m", float(seconds))
        journal.record_runtime(BASE, "n", 99.0)
        assert journal.runtimes(BASE, "m", limit=2) == [MAX_RUNTIMES + 29.0, MAX_RUNTIMES + 30.0]
        assert journal.runtimes(BASE, "m", limit=0) == []
        kept = journal.runtimes(BASE, "m", limit=1000)
        assert kept == [float(s) for s in range(31, MAX_RUNTIMES + 31)]
        assert journal.runtimes(BASE, "n") == [99.0]
        assert len(journal.runtimes(BASE, "m")) == 50  # the default limit


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_the_journal_refuses_a_run_time_that_is_none(tmp_path: Path, bad: float) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal, pytest.raises(ValueError, match="run time"):
        journal.record_runtime(BASE, "m", bad)


def test_a_closed_journal_as_store_is_swallowed_by_the_book(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.close()
    book = RunTimeBook(journal)
    book.add(BASE, "m", 2.0)
    assert isinstance(book.last_error, JournalError) and book.samples(BASE, "m") == [2.0]


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def test_a_fresh_journal_has_the_run_time_table(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    Journal(path).close()
    assert {"tasks", "runtimes", "runtimes_key"} <= _tables(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_version_2_journal_gains_the_run_time_table(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    with Journal(path) as journal:
        journal.record_runtime(BASE, "m", 1.0)
    with sqlite3.connect(path) as db:  # make it what version 2 wrote
        db.execute("DROP TABLE runtimes")
        db.execute("DROP INDEX tasks_item_key")
        db.execute("ALTER TABLE tasks DROP COLUMN item_key")
        db.execute("ALTER TABLE tasks DROP COLUMN naming")
        db.execute("PRAGMA user_version = 2")
    assert "runtimes" not in _tables(path)
    with Journal(path) as journal:
        assert journal.runtimes(BASE, "m") == []
        journal.record_runtime(BASE, "m", 2.0)
        assert journal.runtimes(BASE, "m") == [2.0]
    assert {"runtimes", "runtimes_key"} <= _tables(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_version_1_journal_gains_the_run_time_table_too(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    Journal(path).close()
    with sqlite3.connect(path) as db:  # what version 1 wrote: no fingerprint column, no run times
        db.execute("DROP TABLE runtimes")
        db.execute("DROP INDEX tasks_item_key")
        db.execute("ALTER TABLE tasks DROP COLUMN item_key")
        db.execute("ALTER TABLE tasks DROP COLUMN key_fingerprint")
        db.execute("ALTER TABLE tasks DROP COLUMN naming")
        db.execute("PRAGMA user_version = 1")
    with Journal(path) as journal:
        journal.record_runtime(BASE, "m", 2.0)
        assert journal.runtimes(BASE, "m") == [2.0]
