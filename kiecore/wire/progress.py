"""Progress normalisation: everything becomes a float in 0..1, or ``None``."""

from __future__ import annotations

import math
from typing import Any


def fraction(value: Any, *, percent: bool) -> float | None:
    """Normalise a progress value; ``percent`` says numbers are 0-100 (the reference) rather than 0-1.

    4o sends a string ``"0.45"``; the reference sends an integer ``45``. A string above 1 is read as percent.
    Unreadable progress is ``None``: it is cosmetic and never fails a poll.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            return None
        percent = percent or number > 1 or value.strip().endswith("%")
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        return None
    if not math.isfinite(number):
        return None
    if percent or number > 1:
        number /= 100.0
    return min(1.0, max(0.0, number))
