"""The default deadline of a generation."""

from __future__ import annotations

import pytest

from kiecore.polling import default_timeout


@pytest.mark.parametrize(("typical", "timeout"), [(1, 180.0), (18, 180.0), (30, 300.0), (90, 900.0), (500, 900.0)])
def test_the_default_deadline_is_ten_typical_durations_within_3_to_15_minutes(typical: float, timeout: float) -> None:
    assert default_timeout(typical) == timeout
