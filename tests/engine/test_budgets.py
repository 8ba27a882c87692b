"""Rate-limit budgets: the exact rule on a fake clock, against a simulated server, across real processes."""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiecore.emulator.limits import SlidingLimiter
from kiecore.engine import budgets as budgets_module
from kiecore.engine.budgets import (
    AccountBudgets,
    BudgetStore,
    BudgetStoreError,
    LocalWindow,
    SharedWindow,
    Slot,
    Window,
    account_budgets,
    default_path_beside,
)
from kiecore.errors import KieError
from kiecore.ratelimit import PUBLISHED_LIMITS, RateLimits, account_fingerprint


class FakeClock:
    def __init__(self, now: float = 1000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def taken(result: Slot | float) -> Slot:
    assert isinstance(result, Slot), f"expected a slot, got a wait of {result}"
    return result


def refused(result: Slot | float) -> float:
    assert not isinstance(result, Slot), "expected a wait, got a slot"
    return result


# -- LocalWindow ------------------------------------------------------------------------------------------------


def test_a_window_gives_its_limit_then_refuses_while_all_are_in_flight() -> None:
    clock = FakeClock()
    window = LocalWindow(3, 10.0, clock=clock)
    slots = [taken(window.take()) for _ in range(3)]
    assert len({slot.key for slot in slots}) == 3 and all(slot.taken == clock.now for slot in slots)
    assert refused(window.take()) == math.inf
    clock.now += 1000.0  # in flight: counts however long it takes
    assert refused(window.take()) == math.inf
    assert window.in_flight == 3


def test_a_released_slot_counts_for_a_period_after_its_release_not_its_take() -> None:
    clock = FakeClock(0.0)
    window = LocalWindow(1, 10.0, clock=clock)
    slot = taken(window.take())
    clock.now = 6.0
    window.release(slot)
    clock.now = 10.0  # a period after the take: still counted
    assert refused(window.take()) == 6.0
    clock.now = 16.0
    taken(window.take())


def test_the_wait_is_exact_after_twenty_releases() -> None:
    clock = FakeClock()
    window = LocalWindow(20, 10.0, clock=clock)
    slots = [taken(window.take()) for _ in range(20)]
    clock.now += 0.5
    released_at = clock.now
    for slot in slots:
        window.release(slot)
    assert refused(window.take()) == 10.0
    clock.now = math.nextafter(released_at + 10.0, 0.0)  # the last instant before
    assert 0 < refused(window.take()) < 1e-9
    clock.now = released_at + 10.0
    for _ in range(20):
        taken(window.take())
    assert refused(window.take()) == math.inf


def test_the_wait_is_finite_as_soon_as_one_counted_slot_was_released() -> None:
    clock = FakeClock(0.0)
    window = LocalWindow(3, 10.0, clock=clock)
    first, _second, _third = (taken(window.take()) for _ in range(3))
    clock.now = 2.0
    window.release(first)
    clock.now = 3.0
    assert refused(window.take()) == 9.0


def test_cancel_frees_a_slot_at_once() -> None:
    clock = FakeClock()
    window = LocalWindow(2, 10.0, clock=clock)
    first = taken(window.take())
    taken(window.take())
    window.cancel(first)
    taken(window.take())
    assert refused(window.take()) == math.inf


def test_release_and_cancel_act_once_and_only_on_their_own_window() -> None:
    clock = FakeClock(0.0)
    window = LocalWindow(1, 10.0, clock=clock)
    slot = taken(window.take())
    window.release(slot)
    clock.now = 5.0
    window.release(slot)  # no later end
    window.cancel(slot)  # a released slot may have arrived: it keeps counting
    assert refused(window.take()) == 5.0
    with pytest.raises(ValueError, match="another window"):
        LocalWindow(1, 10.0, clock=clock).release(slot)


def test_memory_stays_within_the_limit() -> None:
    clock = FakeClock(0.0)
    window = LocalWindow(5, 1.0, clock=clock)
    for _ in range(10_000):
        result = window.take()
        if isinstance(result, Slot):
            window.release(result)
        clock.now += 0.01
        assert len(window._ended) + len(window._flying) <= 5


def test_threads_never_hold_more_than_the_limit() -> None:
    window = LocalWindow(3, 3600.0)  # only cancels free slots
    guard = threading.Lock()
    flying = [0, 0]  # now, most ever

    def run() -> None:
        for _ in range(2000):
            result = window.take()
            if isinstance(result, Slot):
                with guard:
                    flying[0] += 1
                    flying[1] = max(flying)
                with guard:
                    flying[0] -= 1
                window.cancel(result)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= flying[1] <= 3 and window.in_flight == 0


@pytest.mark.parametrize(("limit", "period"), [(0, 1.0), (1, 0.0), (1, -1.0), (1, math.inf), (1, math.nan)])
def test_a_window_needs_a_positive_limit_and_period(limit: int, period: float) -> None:
    with pytest.raises(ValueError):
        LocalWindow(limit, period)


def test_windows_are_windows() -> None:
    def check(window: Window) -> Window:
        return window

    check(LocalWindow(1, 1.0))


# -- the rule against a server that counts arrivals ---------------------------------------------------------------

Op = tuple[str, int]
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(0, 4)),
        st.tuples(st.just("take"), st.just(0)),
        st.tuples(st.just("release"), st.integers(0, 50)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None, database=None)
@given(limit=st.integers(1, 4), period=st.integers(1, 6), ops=_ops, seed=st.integers(0, 2**32))
def test_no_server_window_ever_holds_more_than_the_limit(limit: int, period: int, ops: list[Op], seed: int) -> None:
    """Integer times keep the arithmetic exact. An oracle checks every answer (a slot exactly when fewer than
    ``limit`` slots count, else the exact wait); then every way the requests could have arrived is checked."""
    clock = FakeClock(0)
    window = LocalWindow(limit, period, clock=clock)
    requests: list[list[Any]] = []  # [take, release or None], in take order; cancelled ones removed
    flying: list[tuple[Slot, list[Any]]] = []
    for op, arg in ops:
        if op == "advance":
            clock.now += arg
        elif op == "take":
            ends = sorted(math.inf if end is None else end for _take, end in requests)
            counted = [end for end in ends if end + period > clock.now]
            result = window.take()
            if len(counted) < limit:
                slot = taken(result)
                assert slot.taken == clock.now
                requests.append(request := [clock.now, None])
                flying.append((slot, request))
            else:
                expected = counted[len(counted) - limit] + period - clock.now
                assert refused(result) == expected and expected > 0
        elif flying:
            slot, request = flying.pop(arg % len(flying))
            if op == "release":
                window.release(slot)
                request[1] = clock.now
            else:
                window.cancel(slot)
                requests[:] = [other for other in requests if other is not request]
    clock.now += 1
    for slot, request in flying:
        window.release(slot)
        request[1] = clock.now

    # The worst case: the newest request arrives at its take, every older one as late as it could (its release).
    for index, (take, _end) in enumerate(requests):
        assert sum(1 for _take, end in requests[:index] if end > take - period) < limit

    # And a server counting arrivals, with arrivals anywhere between take and release.
    chance = random.Random(seed)
    for pick in ("take", "release", "random"):
        server_clock = FakeClock(0)
        server = SlidingLimiter(clock=server_clock)
        arrivals = sorted(
            (take if pick == "take" else end if pick == "release" else chance.uniform(take, end), index)
            for index, (take, end) in enumerate(requests)
        )
        for arrival, _index in arrivals:
            server_clock.now = arrival
            assert server.admit([("creates", "key", (limit, period))])
        assert server.violations == 0


# -- SharedWindow -------------------------------------------------------------------------------------------------


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "budgets.sqlite3"


@pytest.fixture
def stores(store_path: Path) -> Iterator[list[BudgetStore]]:
    """Two stores on one file: two connections, as two processes would have."""
    opened = [BudgetStore(store_path), BudgetStore(store_path)]
    yield opened
    for store in opened:
        store.close()


def test_two_windows_on_one_file_share_the_limit(stores: list[BudgetStore]) -> None:
    clock = FakeClock()
    mine = stores[0].window("acct:creates", 2, 10.0, clock=clock)
    theirs = stores[1].window("acct:creates", 2, 10.0, clock=clock)
    slots = [taken(mine.take()), taken(mine.take())]
    assert refused(theirs.take()) == 0.05  # in flight elsewhere: it may be cancelled any moment
    assert refused(mine.take()) == 75.0 + 10.0  # its own: counted until it expires, never inf
    mine.cancel(slots[0])
    second = taken(theirs.take())
    clock.now += 1.0
    released_at = clock.now
    mine.release(slots[1])
    theirs.release(second)
    assert refused(theirs.take()) == 10.0  # only released slots left: the exact wait
    clock.now = math.nextafter(released_at + 10.0, 0.0)
    assert refused(mine.take()) > 0
    clock.now = released_at + 10.0
    taken(theirs.take())
    taken(mine.take())


def test_a_deferred_release_counts_as_in_flight_until_the_next_take_or_flush(stores: list[BudgetStore]) -> None:
    clock = FakeClock()
    mine = stores[0].window("acct:status", 1, 10.0, clock=clock)
    theirs = stores[1].window("acct:status", 1, 10.0, clock=clock)
    mine.release(taken(mine.take()), defer=True)
    released_at = clock.now
    assert refused(theirs.take()) == 0.05  # not written yet: still in flight for everyone else
    clock.now += 3.0
    mine.flush()
    assert refused(theirs.take()) == pytest.approx(released_at + 10.0 - clock.now)  # as released, not as flushed
    mine.flush()  # nothing left: no write
    clock.now = released_at + 10.0
    again = taken(mine.take())
    mine.release(again, defer=True)
    clock.now += 10.0
    taken(mine.take())  # the take wrote the deferred release in its own transaction first
    assert refused(theirs.take()) == 0.05


def test_local_windows_release_at_once_even_when_asked_to_defer() -> None:
    clock = FakeClock()
    window = LocalWindow(1, 10.0, clock=clock)
    window.release(taken(window.take()), defer=True)
    window.flush()
    assert refused(window.take()) == 10.0


def test_windows_of_other_names_do_not_share(stores: list[BudgetStore]) -> None:
    clock = FakeClock()
    creates = stores[0].window("acct:creates", 1, 10.0, clock=clock)
    status = stores[1].window("acct:status", 1, 10.0, clock=clock)
    other = stores[1].window("other:creates", 1, 10.0, clock=clock)
    taken(creates.take())
    taken(status.take())
    taken(other.take())


def test_a_dead_processs_slots_stop_counting_once_they_expire(store_path: Path) -> None:
    clock = FakeClock()
    dead = BudgetStore(store_path)
    for _ in range(3):
        taken(dead.window("acct:creates", 3, 10.0, clock=clock).take())
    dead.close()  # never released
    with BudgetStore(store_path) as store:
        window = store.window("acct:creates", 3, 10.0, clock=clock)
        start = clock.now
        assert refused(window.take()) == 0.05
        clock.now = start + 75.0 + 10.0 - 0.01
        assert refused(window.take()) == pytest.approx(0.01)
        clock.now = start + 75.0 + 10.0
        taken(window.take())
        rows = store._connection().execute("SELECT count(*) FROM slots").fetchone()[0]
        assert rows == 1  # the expired ones were pruned


def test_opening_a_store_deletes_rows_of_names_long_unused(store_path: Path) -> None:
    clock = FakeClock()
    with BudgetStore(store_path) as store:
        taken(store.window("gone:creates", 1, 10.0, clock=clock).take())
        clock.now += 2 * 86400.0
        taken(store.window("live:creates", 1, 10.0, clock=clock).take())
    with BudgetStore(store_path) as store:
        names = store._connection().execute("SELECT name FROM slots").fetchall()
    assert names == [("live:creates",)]


def test_a_late_release_of_a_pruned_slot_touches_nothing(stores: list[BudgetStore]) -> None:
    clock = FakeClock()
    window = stores[0].window("acct:creates", 1, 1.0, clock=clock, max_flight=5.0)
    other = stores[1].window("acct:creates", 1, 1.0, clock=clock, max_flight=5.0)
    late = taken(window.take())
    clock.now += 10.0
    newer = taken(other.take())  # prunes the expired row
    window.release(late)
    assert refused(other.take()) == 5.0 + 1.0  # `newer` is still in flight
    rows = stores[0]._connection().execute("SELECT id, ended FROM slots").fetchall()
    assert rows == [(newer.key, None)]


def test_rows_are_kept_for_the_longest_period_used_with_a_name(stores: list[BudgetStore]) -> None:
    clock = FakeClock(0.0)
    short = stores[0].window("acct:creates", 5, 1.0, clock=clock)
    long = stores[1].window("acct:creates", 1, 10.0, clock=clock)
    short.release(taken(short.take()))
    clock.now = 2.0
    taken(short.take())  # by its own rule the first slot no longer counts: but the row stays for `long`
    assert refused(long.take()) == 0.05


def test_a_busy_store_answers_soon_and_writes_releases_later(store_path: Path) -> None:
    clock = FakeClock()
    with BudgetStore(store_path, busy_timeout=0.005, attempts=2) as store:
        window = store.window("acct:creates", 1, 10.0, clock=clock)
        slot = taken(window.take())
        locker = sqlite3.connect(store_path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        assert refused(window.take()) == 0.05
        clock.now += 1.0
        window.release(slot)  # remembered
        locker.execute("ROLLBACK")
        clock.now += 0.5
        assert refused(window.take()) == 9.5  # written first, with the time of the release
        assert locker.execute("SELECT ended FROM slots").fetchall() == [(clock.now - 0.5,)]
        locker.close()


def forked(store: BudgetStore) -> bool:
    return store.forked


def test_a_store_inherited_through_fork_reconnects_and_forgets_the_parents_slots(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    store = BudgetStore(store_path)
    window = store.window("acct:creates", 1, 10.0, clock=clock)
    parents = taken(window.take())
    parent_connection = store._db
    assert parent_connection is not None
    monkeypatch.setattr(os, "getpid", lambda: 999_999_999)
    assert store.forked
    assert refused(window.take()) == 0.05  # the parent's slot belongs to another process now
    window.release(parents)  # not the child's to give back
    assert store._db is not parent_connection
    assert not forked(store)
    store.close()
    monkeypatch.undo()
    ended = parent_connection.execute("SELECT ended FROM slots WHERE id = ?", (parents.key,)).fetchone()
    assert ended == (None,)
    parent_connection.close()


def test_a_shared_window_checks_its_arguments(stores: list[BudgetStore]) -> None:
    with pytest.raises(ValueError):
        stores[0].window("x", 0, 1.0)
    with pytest.raises(ValueError):
        stores[0].window("x", 1, 1.0, max_flight=0.0)
    window = stores[0].window("x", 1, 1.0)
    with pytest.raises(ValueError, match="another window"):
        window.release(taken(stores[1].window("x", 1, 1.0).take()))
    assert isinstance(window, SharedWindow) and "x" in repr(window)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_the_store_file_is_private(store_path: Path) -> None:
    BudgetStore(store_path).close()
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store_path.parent.stat().st_mode) == 0o700


def test_the_default_store_sits_beside_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "kiecore" / "journal.sqlite3"
    assert default_path_beside(journal) == tmp_path / "kiecore" / "budgets.sqlite3"
    assert BudgetStore.default_path_beside(journal) == default_path_beside(journal)


def test_a_store_that_cannot_be_used_raises_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises(BudgetStoreError, match=r"cannot open the budget store .*a-directory"):
        BudgetStore(directory)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database, not at all" * 100)
    with pytest.raises(BudgetStoreError, match=r"garbage\.sqlite3") as caught:
        BudgetStore(garbage)
    assert isinstance(caught.value, KieError) and "\n" not in str(caught.value)
    newer = tmp_path / "newer.sqlite3"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(BudgetStoreError, match="newer kiecore"):
        BudgetStore(newer)
    store = BudgetStore(tmp_path / "fine.sqlite3")
    window = store.window("x", 1, 1.0)
    store.close()
    store.close()
    with pytest.raises(BudgetStoreError, match="closed"):
        window.take()


# -- real processes -----------------------------------------------------------------------------------------------

LIMIT, PERIOD, RUN = 5, 0.3, 1.05

#: One process taking slots as fast as allowed once told to go (it imports only the budgets: a quick start).
_WORKER = f"""
import json, os, random, sys, time
from kiecore.engine.budgets import BudgetStore, Slot
with BudgetStore(sys.argv[1]) as store:
    window = store.window("acct:creates", {LIMIT}, {PERIOD})
    chance = random.Random(os.getpid())
    records = []
    print("ready", flush=True)
    sys.stdin.readline()
    end = time.time() + {RUN}
    while (now := time.time()) < end:
        result = window.take()
        if isinstance(result, Slot):
            time.sleep(chance.uniform(0, 0.003))  # the request
            released = time.time()  # no later than the store's own release time
            window.release(result)
            records.append((result.taken, released))
        else:
            time.sleep(min(result, end - now))
print(json.dumps(records), flush=True)
"""


def test_processes_sharing_a_store_keep_the_limit_and_use_it(store_path: Path) -> None:
    BudgetStore(store_path).close()
    root = str(Path(__file__).resolve().parents[2])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(store_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=environment,
        )
        for _ in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=30)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0]
    records = sorted((take, released) for output in outputs for take, released in json.loads(output))
    # The rule's guarantee: no request counted `LIMIT` earlier ones still counting (released in the last period),
    # so however they arrived, no server window of PERIOD held more than LIMIT.
    for index, (take, _released) in enumerate(records):
        assert sum(1 for _take, released in records[:index] if released > take - PERIOD) < LIMIT
    for start, _released in records:
        assert sum(1 for take, _ in records if start <= take < start + PERIOD) <= LIMIT
    ideal = LIMIT * math.ceil(RUN / PERIOD)
    assert 0.7 * ideal <= len(records) <= ideal, (len(records), ideal)


# -- AccountBudgets -------------------------------------------------------------------------------------------------


def test_local_budgets_follow_the_limits() -> None:
    clock = FakeClock()
    limits = RateLimits(creates=(2, 10.0), status=(3, 1.0), task_status=(1, 1.0))
    budgets = AccountBudgets.local(limits, clock=clock)
    assert isinstance(budgets.creates, LocalWindow) and (budgets.creates.limit, budgets.creates.period) == (2, 10.0)
    assert isinstance(budgets.status, LocalWindow) and (budgets.status.limit, budgets.status.period) == (3, 1.0)
    task = budgets.task_status("t1")
    assert budgets.task_status("t1") is task and budgets.task_status("t2") is not task
    taken(task.take())
    assert refused(task.take()) == math.inf
    taken(budgets.task_status("t2").take())


def test_idle_task_windows_are_dropped_but_not_while_in_flight() -> None:
    clock = FakeClock()
    budgets = AccountBudgets.local(PUBLISHED_LIMITS, clock=clock)
    idle = budgets.task_status("idle")
    idle.release(taken(idle.take()))
    busy = budgets.task_status("busy")
    taken(busy.take())
    clock.now += 30.0
    assert budgets.task_status("idle") is idle  # not yet idle for a minute
    clock.now += 61.0
    budgets.task_status("other")
    assert budgets.task_windows == 2
    assert budgets.task_status("busy") is busy and budgets.task_status("idle") is not idle


def test_shared_budgets_share_creates_and_status_but_not_task_windows(stores: list[BudgetStore]) -> None:
    account = account_fingerprint("https://api.kie.ai", "key")
    limits = RateLimits(creates=(1, 10.0), status=(1, 1.0), task_status=(1, 1.0))
    first = AccountBudgets.shared(stores[0], account, limits)
    second = AccountBudgets.shared(stores[1], account, limits)
    assert isinstance(first.creates, SharedWindow) and first.creates.name == f"{account}:creates"
    assert isinstance(first.status, SharedWindow) and first.status.name == f"{account}:status"
    taken(first.creates.take())
    refused(second.creates.take())
    taken(second.status.take())
    refused(first.status.take())
    taken(first.task_status("t").take())
    taken(second.task_status("t").take())
    assert isinstance(first.task_status("t"), LocalWindow)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(budgets_module, "_BUDGETS", {})
    stores: dict[Path, BudgetStore] = {}
    monkeypatch.setattr(budgets_module, "_STORES", stores)
    yield
    for store in stores.values():
        store.close()


@pytest.mark.usefixtures("registry")
def test_account_budgets_are_shared_per_key_host_limits_and_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = account_budgets("https://api.kie.ai/", "key", PUBLISHED_LIMITS, None)
    assert account_budgets("https://api.kie.ai", "key", PUBLISHED_LIMITS, None) is one
    assert isinstance(one.creates, LocalWindow)
    assert account_budgets("https://api.kie.ai", "other", PUBLISHED_LIMITS, None) is not one
    assert account_budgets("https://emulator", "key", PUBLISHED_LIMITS, None) is not one
    assert account_budgets("https://api.kie.ai", "key", RateLimits(creates=(10, 10.0)), None) is not one
    path = tmp_path / "budgets.sqlite3"
    shared = account_budgets("https://api.kie.ai", "key", PUBLISHED_LIMITS, path)
    assert shared is not one and isinstance(shared.creates, SharedWindow)
    monkeypatch.chdir(tmp_path)
    assert account_budgets("https://api.kie.ai", "key", PUBLISHED_LIMITS, Path("budgets.sqlite3")) is shared
    other_key = account_budgets("https://api.kie.ai", "other", PUBLISHED_LIMITS, path)
    assert isinstance(other_key.creates, SharedWindow) and other_key.creates.store is shared.creates.store
    budgets_module._forget_after_fork()
    assert account_budgets("https://api.kie.ai", "key", PUBLISHED_LIMITS, None) is not one


@pytest.mark.usefixtures("registry")
def test_account_budgets_report_a_store_that_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(BudgetStoreError, match="budget store"):
        account_budgets("https://api.kie.ai", "key", PUBLISHED_LIMITS, tmp_path)
