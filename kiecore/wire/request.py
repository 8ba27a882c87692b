"""The one request type hooks return: what to send, relative to the API base URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


def _query(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        value = value.items()
    return tuple((str(k), str(v)) for k, v in value)


@attrs.frozen
class WireRequest:
    """An HTTP request to the API host. ``path`` starts with ``/``; ``body`` is sent as JSON when set."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_query)
    body: Mapping[str, Any] | None = attrs.field(default=None, kw_only=True)
