"""Shared wire helpers for plugins and the core: create and status requests, the reply envelope.

``parse_status_reply`` and ``extract_result_urls`` read replies with the built-in dialects
(:mod:`kiecore.dialects`); they are imported on first use, since the dialects themselves use this package.
"""

from typing import Any

from kiecore.wire.builders import build_create_request, build_status_request
from kiecore.wire.envelope import parse_submit_reply
from kiecore.wire.request import WireRequest

__all__ = [
    "WireRequest",
    "build_create_request",
    "build_status_request",
    "extract_result_urls",
    "parse_status_reply",
    "parse_submit_reply",
]


def __getattr__(name: str) -> Any:
    if name in ("parse_status_reply", "extract_result_urls"):
        from kiecore.dialects import reading

        return getattr(reading, name)
    raise AttributeError(f"module 'kiecore.wire' has no attribute {name!r}")
