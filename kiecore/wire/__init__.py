"""Shared wire helpers: the three live dialects and the reference shapes, for plugins and the core."""

from kiecore.wire.body import build_create_request, build_status_request
from kiecore.wire.envelope import parse_submit_reply
from kiecore.wire.request import WireRequest
from kiecore.wire.status import extract_result_urls, parse_status_reply

__all__ = [
    "WireRequest",
    "build_create_request",
    "build_status_request",
    "extract_result_urls",
    "parse_status_reply",
    "parse_submit_reply",
]
