"""How often to poll and how long to wait, from the model's typical duration.

The reference polls every 2 s; the live docs advise 2-3 s for the first 30 s, then 5-10 s, then 15-30 s
after two minutes, giving up after 10-15 minutes. The schedule below follows that, stretched for slow
models, and scaled by ``interval`` (the first phase's wait) so an emulator can run it quickly.
"""

from __future__ import annotations

DEFAULT_INTERVAL = 2.0


def poll_delay(elapsed: float, *, typical_seconds: float, interval: float = DEFAULT_INTERVAL) -> float:
    """Seconds to wait before the next status query, ``elapsed`` seconds after the task was submitted."""
    scale = interval / DEFAULT_INTERVAL
    if elapsed < max(30.0, 1.5 * typical_seconds) * scale:
        return interval
    if elapsed < max(120.0, 4.0 * typical_seconds) * scale:
        return 5.0 * scale
    return 15.0 * scale


def default_timeout(typical_seconds: float) -> float:
    """The overall deadline for one generation: ten times the typical duration, within 3 to 15 minutes."""
    return min(900.0, max(180.0, 10.0 * typical_seconds))
