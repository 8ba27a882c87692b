"""The service's rate limits, as data: what the client keeps to (:mod:`kiecore.engine.budgets`) and the
emulator enforces.

The live service allows 20 new tasks per 10 s per account, 10 status queries per second per key, and
3 record-info queries per second per 4o task (docs/kie-api-notes.md §2.1).
"""

from __future__ import annotations

import hashlib

import attrs


@attrs.frozen(kw_only=True)
class RateLimits:
    """``(count, seconds)`` windows: at most ``count`` requests in any ``seconds``-long sliding window."""

    creates: tuple[int, float] = (20, 10.0)
    status: tuple[int, float] = (10, 1.0)
    task_status: tuple[int, float] = (3, 1.0)  # per task, for the GPT-4o record-info endpoint


#: The limits the live service publishes.
PUBLISHED_LIMITS = RateLimits()


def account_fingerprint(base_url: str, api_key: str) -> str:
    """A stable name for one key at one API host that does not reveal the key (a SHA-256 digest)."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
