"""Client-side rate limits: sliding windows on a fake clock, shared per account across clients."""

from __future__ import annotations

import threading

import pytest

from kiecore.ratelimit import RateLimits, SlidingWindow, account_limiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_window_admits_its_limit_then_waits_for_the_oldest_slot() -> None:
    fake = FakeTime()
    window = SlidingWindow(3, 1.0, clock=fake.clock, sleep=fake.sleep, margin=0)
    for _ in range(3):
        assert window.acquire()
    assert fake.slept == []
    fake.now = 0.25
    assert window.acquire()
    assert fake.slept == [0.75] and fake.now == 1.0


def test_no_window_of_the_period_ever_holds_more_than_the_limit() -> None:
    fake = FakeTime()
    window = SlidingWindow(20, 10.0, clock=fake.clock, sleep=fake.sleep, margin=0)
    times = []
    for _ in range(100):
        window.acquire()
        times.append(fake.now)
    for start in times:
        assert sum(1 for t in times if start <= t < start + 10.0) <= 20


def test_a_deadline_refuses_instead_of_waiting_past_it() -> None:
    fake = FakeTime()
    window = SlidingWindow(1, 10.0, clock=fake.clock, sleep=fake.sleep, margin=0)
    assert window.acquire()
    assert not window.acquire(deadline=5.0)
    assert fake.slept == []


def test_the_window_keeps_a_margin_for_arrival_jitter() -> None:
    fake = FakeTime()
    window = SlidingWindow(1, 10.0, clock=fake.clock, sleep=fake.sleep)
    window.acquire()
    window.acquire()
    assert fake.now == pytest.approx(10.2)


def test_threads_share_one_window() -> None:
    window = SlidingWindow(5, 0.5, margin=0)
    granted: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        window.acquire()
        with lock:
            granted.append(window.last_used)

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted.sort()
    assert len(granted) == 12
    assert all(granted[i + 5] - granted[i] >= 0.5 - 1e-3 for i in range(len(granted) - 5))


def test_clients_of_one_account_share_a_limiter_and_keep_no_key() -> None:
    limits = RateLimits(creates=(2, 1.0))
    one = account_limiter("https://api.kie.ai", "sk-secret", limits)
    assert account_limiter("https://api.kie.ai", "sk-secret", limits) is one
    assert account_limiter("https://api.kie.ai", "sk-other", limits) is not one
    assert one.task_status("a") is one.task_status("a") and one.task_status("a") is not one.task_status("b")
    assert "sk-secret" not in repr(vars(one))
