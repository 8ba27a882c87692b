"""Callbacks (webhooks): check Kie's signature and read the body into a :class:`TaskStatus`.

With HMAC signing enabled in the Kie account, each callback carries ``X-Webhook-Timestamp`` (unix seconds)
and ``X-Webhook-Signature`` = base64(HMAC-SHA256(key, f"{taskId}.{timestamp}")). Verify before trusting::

    status = kiecore.webhooks.handle_callback(registry, "nano-banana-pro", headers, body, hmac_key=KEY)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import attrs

from kiecore.errors import KieError, ParseError
from kiecore.model import Profile, TaskState, TaskStatus
from kiecore.registry import Registry
from kiecore.wire.envelope import reply_code, reply_data, reply_message, task_id_of

#: How far a callback's timestamp may be from now, in seconds, before it is refused as a replay.
DEFAULT_TOLERANCE = 300.0


class WebhookError(KieError):
    """A callback that must not be trusted: unsigned, badly signed, too old, or unreadable."""


def signature(hmac_key: str, task_id: str, timestamp: str) -> str:
    """The signature Kie sends for ``task_id`` at ``timestamp``."""
    digest = hmac.new(hmac_key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(
    hmac_key: str,
    task_id: str,
    timestamp: str,
    sent_signature: str,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Raise :class:`WebhookError` unless ``sent_signature`` is right and ``timestamp`` is within ``tolerance``."""
    try:
        sent_at = float(timestamp)
    except (TypeError, ValueError):
        raise WebhookError("the callback's X-Webhook-Timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookError(f"the callback's timestamp is {current - sent_at:.0f}s away from now; refusing a replay")
    expected = signature(hmac_key, task_id, timestamp)
    if not hmac.compare_digest(expected.encode(), (sent_signature or "").encode()):
        raise WebhookError("the callback's X-Webhook-Signature does not match")


def parse_callback(registry: Registry, model: str, body: Any, profile: Profile = Profile.LIVE) -> TaskStatus:
    """The task status a callback body reports, in any dialect.

    Market callbacks carry a recordInfo-shaped ``data``; 4o and Flux callbacks carry only ``info`` with the
    result URLs, so their outcome comes from the envelope ``code`` (200 success, anything else failure).
    """
    entry = registry.resolve(model)
    reply = _decode(body)
    data = reply_data(reply)
    try:
        status = registry.parse_status(entry, profile, reply)
    except ParseError:
        status = TaskStatus(state=TaskState.UNKNOWN, raw=reply)
    if status.state is TaskState.UNKNOWN:
        code = reply_code(reply)
        if code == 200:
            status = attrs.evolve(status, state=TaskState.SUCCEEDED)
        elif code is not None:
            status = attrs.evolve(
                status, state=TaskState.FAILED, fail_code=str(code), fail_message=reply_message(reply) or None
            )
    if status.state is TaskState.SUCCEEDED:
        status = attrs.evolve(status, urls=registry.extract_urls(entry, profile, reply))
    if task_id_of(data) is None:
        raise ParseError("the callback names no taskId")
    return status


def callback_task_id(body: Any) -> str:
    """The task id a callback is about (``taskId`` or ``task_id``)."""
    task_id = task_id_of(reply_data(_decode(body)))
    if task_id is None:
        raise ParseError("the callback names no taskId")
    return task_id


def handle_callback(
    registry: Registry,
    model: str,
    headers: Mapping[str, str],
    body: bytes | str | Mapping[str, Any],
    *,
    hmac_key: str,
    profile: Profile = Profile.LIVE,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> TaskStatus:
    """Verify a callback's signature, then parse it. Header names are matched case-insensitively."""
    folded = {name.lower(): value for name, value in headers.items()}
    timestamp = folded.get("x-webhook-timestamp")
    sent = folded.get("x-webhook-signature")
    if not timestamp or not sent:
        raise WebhookError("the callback is not signed (no X-Webhook-Timestamp / X-Webhook-Signature)")
    try:
        task_id = callback_task_id(body)
    except ParseError as error:
        raise WebhookError(f"unreadable callback: {error}") from None
    verify_signature(hmac_key, task_id, timestamp, sent, now=now, tolerance=tolerance)
    return parse_callback(registry, model, body, profile)


def _decode(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray, str)):
        try:
            return json.loads(body)
        except ValueError:
            raise ParseError("the callback body is not JSON") from None
    return body
