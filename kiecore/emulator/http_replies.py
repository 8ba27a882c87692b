"""The HTTP replies both hosts give: JSON bodies, ``{"code", "msg", "data"}`` envelopes, not-found, and the
reply an injected request-level fault shapes."""

from __future__ import annotations

import json
from typing import Any

import attrs

from kiecore.emulator import replies
from kiecore.emulator.faults import Fault, FaultKind
from kiecore.emulator.httpserver import Reply


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """HTTP ``status`` with ``payload`` as its JSON body."""
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode(), headers=headers)


def envelope_reply(code: int, message: str, *, key: str = "msg", status: int = 200) -> Reply:
    """An envelope with body ``code``, ``message`` under ``key`` and null ``data``, at HTTP ``status``."""
    return json_reply(status, replies.envelope(code, message, key=key))


def not_found(message: str = "Not Found", key: str = "msg") -> Reply:
    return envelope_reply(404, message, key=key, status=404)


def rate_limited(key: str, retry_after: str) -> Reply:
    """HTTP 429 with body code 429 and ``Retry-After: <retry_after>``."""
    reply = envelope_reply(429, "Rate limit exceeded", key=key, status=429)
    return attrs.evolve(reply, headers=(("Retry-After", retry_after),))


def fault_reply(fault: Fault, key: str, retry_after: float) -> Reply:
    """What a reply-shaping ``fault`` answers instead of processing the request (``retry_after``: the
    ``Retry-After`` of a ``rate_limit`` fault without its own option)."""
    kind = fault.kind
    if kind is FaultKind.RATE_LIMIT:
        seconds = float(fault.options.get("retry_after", retry_after))
        return rate_limited(key, f"{seconds:g}")
    if kind is FaultKind.SERVER_ERROR:
        status = int(fault.options.get("status", 500))
        return envelope_reply(status, "Server Error", key=key, status=status)
    if kind is FaultKind.NON_JSON:
        return Reply(200, b"<html>Bad gateway</html>", content_type="text/html; charset=utf-8")
    if kind is FaultKind.AUTH:
        return envelope_reply(401, "You do not have access permissions", key=key)
    if kind is FaultKind.CREDITS:
        return envelope_reply(402, "Credits insufficient", key=key)
    if kind is FaultKind.USAGE_CAP:
        return envelope_reply(433, "The API key has reached its daily usage limit", key=key)
    return Reply(0, drop=True)  # drop (and drop_after_create where nothing can be created)
