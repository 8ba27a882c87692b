"""How long to wait for a generation, and the time unit of a client's poll schedule.

When to query is :mod:`kiecore.engine.plan` (from each model's learned run times, within the live docs'
guidance: 2-3 s between queries for the first 30 s, then 5-10 s, then 15-30 s after two minutes, giving up
after 10-15 minutes). ``DEFAULT_INTERVAL`` is that guidance's first step: a client whose ``poll_interval`` is a
tenth of it runs its whole schedule ten times faster (for an emulator's time scale).
"""

from __future__ import annotations

DEFAULT_INTERVAL = 2.0


def default_timeout(typical_seconds: float) -> float:
    """The overall deadline for one generation: ten times the typical duration, within 3 to 15 minutes."""
    return min(900.0, max(180.0, 10.0 * typical_seconds))
