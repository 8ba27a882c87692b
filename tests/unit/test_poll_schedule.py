"""The poll schedule and default deadline: phase boundaries, scaling, stretching for slow models."""

from __future__ import annotations

import pytest

from kiecore.polling import DEFAULT_INTERVAL, default_timeout, poll_delay


@pytest.mark.parametrize(
    ("elapsed", "delay"),
    [(0.0, 2.0), (29.9, 2.0), (30.0, 5.0), (119.9, 5.0), (120.0, 15.0), (3600.0, 15.0)],
)
def test_the_live_docs_phases_for_a_fast_model(elapsed: float, delay: float) -> None:
    assert poll_delay(elapsed, typical_seconds=10) == delay


@pytest.mark.parametrize(
    ("elapsed", "delay"),
    [(59.9, 2.0), (60.0, 5.0), (159.9, 5.0), (160.0, 15.0)],
)
def test_phases_stretch_for_a_slow_model(elapsed: float, delay: float) -> None:
    assert poll_delay(elapsed, typical_seconds=40) == delay  # 1.5x and 4x of 40 s


def test_the_interval_scales_every_phase_and_boundary() -> None:
    scale = 0.1
    interval = DEFAULT_INTERVAL * scale
    assert poll_delay(2.9, typical_seconds=10, interval=interval) == pytest.approx(0.2)
    assert poll_delay(3.0, typical_seconds=10, interval=interval) == pytest.approx(0.5)
    assert poll_delay(12.0, typical_seconds=10, interval=interval) == pytest.approx(1.5)


@pytest.mark.parametrize(("typical", "timeout"), [(1, 180.0), (18, 180.0), (30, 300.0), (90, 900.0), (500, 900.0)])
def test_the_default_deadline_is_ten_typical_durations_within_3_to_15_minutes(typical: float, timeout: float) -> None:
    assert default_timeout(typical) == timeout
