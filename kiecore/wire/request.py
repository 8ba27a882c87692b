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
    """An HTTP request to the API host (or, for an upload, to the upload host). ``path`` starts with ``/``;
    ``body`` is sent as JSON when set. ``data`` is a body sent as it is, with its ``content_type`` (a multipart
    upload), instead of ``body``; hooks never set it."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_query)
    body: Mapping[str, Any] | None = attrs.field(default=None, kw_only=True)
    data: bytes | None = attrs.field(default=None, kw_only=True, repr=False)
    content_type: str | None = attrs.field(default=None, kw_only=True)
