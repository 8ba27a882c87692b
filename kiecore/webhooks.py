"""Callbacks (webhooks): check Kie's signature and read the body into a :class:`TaskStatus`.

With HMAC signing enabled in the Kie account, each callback carries ``X-Webhook-Timestamp`` (unix seconds)
and ``X-Webhook-Signature`` = base64(HMAC-SHA256(key, f"{taskId}.{timestamp}")). Verify before trusting::

    task_id = kiecore.webhooks.verified_task_id(headers, body, hmac_key=KEY)  # then query the task with the API key
    status = kiecore.webhooks.handle_callback(registry, "nano-banana-pro", headers, body, hmac_key=KEY)

Trust model. Kie signs only the task id and the timestamp, **not the body**: whoever has seen one signed callback
can resend its headers with any body (any state, any result URLs) while the timestamp is inside the window. So a
verified callback proves only "Kie said something about this task just now". Treat it as a trigger to query the
task's status with the API key (:func:`verified_task_id` is the primitive for that); never trust the state or the
result URLs read from the body. Within one process a :class:`ReplayGuard` refuses a second delivery of the same
signed (taskId, timestamp), which stops the same headers being reused with another body, but not a forger who is
faster than Kie, and not across processes.

Every check fails closed: no HMAC key configured, missing or duplicated signature headers, a timestamp that is not
a plain decimal number of seconds or is outside the window, a wrong signature, or a replay all raise
:class:`WebhookError`.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from kiecore.errors import KieError, ParseError
from kiecore.model import Profile, TaskState, TaskStatus
from kiecore.registry import Registry
from kiecore.wire.envelope import reply_code, reply_data, reply_message, task_id_of

#: How far a callback's timestamp may be from now, in seconds, before it is refused as a replay.
DEFAULT_TOLERANCE = 300.0
#: How many accepted callbacks a :class:`ReplayGuard` remembers at most (inside one tolerance window).
DEFAULT_REPLAY_CAPACITY = 100_000

#: A header name or value as frameworks hand them over: ``str``, or ``bytes`` (decoded as latin-1).
HeaderText: TypeAlias = str | bytes
#: Callback headers: a mapping (names matched case-insensitively) or an iterable of ``(name, value)`` pairs.
CallbackHeaders: TypeAlias = (
    Mapping[str, HeaderText]
    | Mapping[bytes, HeaderText]
    | Mapping[str | bytes, HeaderText]
    | Iterable[tuple[HeaderText, HeaderText]]
)

_TIMESTAMP_HEADER = "x-webhook-timestamp"
_SIGNATURE_HEADER = "x-webhook-signature"
_PLAIN_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MAX_TIMESTAMP_CHARS = 32
_MAX_SIGNATURE_CHARS = 128  # a real one is 44
_EXPIRY_SLACK = 1.0  # seconds a guard keeps an entry past its window, against float rounding at the edge


class WebhookError(KieError):
    """A callback that must not be trusted: unsigned, badly signed, too old, replayed, or unreadable."""


class ReplayGuard:
    """Remembers accepted callbacks while their timestamp is inside the window and refuses a repeat. Thread-safe.

    An entry is ``(taskId, timestamp, signature)``; it is dropped once its timestamp has left the window it was
    accepted under, so memory is bounded by the callbacks of one window, and by ``max_entries`` in any case.
    When full, new callbacks are refused (fail closed) until entries expire. Only callbacks whose signature
    checked out are recorded, so forgeries cannot fill the guard. It protects one process only.
    """

    def __init__(self, max_entries: int = DEFAULT_REPLAY_CAPACITY) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str, str]] = set()
        self._expiries: list[tuple[float, tuple[str, str, str]]] = []

    def admit(self, task_id: str, timestamp: str, signature: str, *, expires_at: float, now: float) -> None:
        """Record a verified callback valid until ``expires_at``; raise :class:`WebhookError` if already seen."""
        entry = (task_id, timestamp, signature)
        with self._lock:
            self._forget_expired(now)
            if entry in self._seen:
                raise WebhookError(
                    f"the callback for task {task_id} at {timestamp} was already accepted; refusing a replay"
                )
            if len(self._seen) >= self.max_entries:
                raise WebhookError(f"the replay guard is full ({self.max_entries} callbacks in the window); refusing")
            self._seen.add(entry)
            heapq.heappush(self._expiries, (expires_at + _EXPIRY_SLACK, entry))

    def __len__(self) -> int:
        """How many callbacks are remembered now (expired ones are dropped on the next :meth:`admit`)."""
        with self._lock:
            return len(self._seen)

    def _forget_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] < now:
            _, entry = heapq.heappop(self._expiries)
            self._seen.discard(entry)


#: The guard :func:`handle_callback` and :func:`verified_task_id` use when given none: process-wide, so every
#: caller in the process is protected by default. Pass your own guard to isolate (tests) or to share state.
DEFAULT_REPLAY_GUARD = ReplayGuard()


def signature(hmac_key: str, task_id: str, timestamp: str) -> str:
    """The signature Kie sends for ``task_id`` at ``timestamp``."""
    digest = hmac.new(hmac_key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(
    hmac_key: str,
    task_id: str,
    timestamp: str | bytes,
    sent_signature: str | bytes,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Raise :class:`WebhookError` unless ``sent_signature`` is right and ``timestamp`` is within ``tolerance``.

    Refuses a blank ``hmac_key`` first. ``timestamp`` must be plain decimal unix seconds (``123`` or ``123.45``).
    The signature is compared in constant time; anything but the exact base64 text is a mismatch. This checks no
    replays: use :func:`verified_task_id` or :func:`handle_callback` for that. Raises ``ValueError`` if ``now``
    or ``tolerance`` is not finite, or ``tolerance`` is negative.
    """
    key = _require_key(hmac_key)
    _verify(key, task_id, _as_text(timestamp), _as_text(sent_signature), now, tolerance)


def verified_task_id(
    headers: CallbackHeaders,
    body: bytes | str | Mapping[str, Any],
    *,
    hmac_key: str,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    replay_guard: ReplayGuard | None = None,
) -> str:
    """The task id of a callback whose signature, time window and freshness check out; else :class:`WebhookError`.

    This is the safe primitive: only the task id and the timestamp are signed, so query the task's status with
    the API key rather than reading anything else from the body. ``replay_guard`` defaults to
    :data:`DEFAULT_REPLAY_GUARD`; a delivery is accepted once, so verify each request once.
    """
    key = _require_key(hmac_key)
    timestamp, sent = _signed_headers(headers)
    try:
        task_id = callback_task_id(body)
    except ParseError as error:
        raise WebhookError(f"unreadable callback: {error}") from None
    current, sent_at, expected = _verify(key, task_id, timestamp, sent, now, tolerance)
    guard = DEFAULT_REPLAY_GUARD if replay_guard is None else replay_guard
    guard.admit(task_id, timestamp, expected, expires_at=sent_at + tolerance, now=current)
    return task_id


def parse_callback(registry: Registry, model: str, body: Any, profile: Profile = Profile.LIVE) -> TaskStatus:
    """The task status a callback body reports, in any dialect. No signature check: the body is unauthenticated.

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
    """The task id a callback is about (``taskId`` or ``task_id``). Unverified: see :func:`verified_task_id`."""
    task_id = task_id_of(reply_data(_decode(body)))
    if task_id is None:
        raise ParseError("the callback names no taskId")
    return task_id


def handle_callback(
    registry: Registry,
    model: str,
    headers: CallbackHeaders,
    body: bytes | str | Mapping[str, Any],
    *,
    hmac_key: str,
    profile: Profile = Profile.LIVE,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    replay_guard: ReplayGuard | None = None,
) -> TaskStatus:
    """Verify a callback as :func:`verified_task_id` does (signature, window, replay), then parse its body.

    Header names are matched case-insensitively; names and values may be ``str`` or ``bytes``. Only the task id
    and timestamp are signed: the returned state and URLs come from the unauthenticated body, so use them as a
    hint at most and confirm by querying the task's status with the API key before acting on them.
    """
    verified_task_id(headers, body, hmac_key=hmac_key, now=now, tolerance=tolerance, replay_guard=replay_guard)
    return parse_callback(registry, model, body, profile)


def _require_key(hmac_key: object) -> str:
    if not isinstance(hmac_key, str) or not hmac_key.strip():
        raise WebhookError("no webhook HMAC key is configured; callbacks are refused")
    return hmac_key


def _verify(
    hmac_key: str, task_id: str, timestamp: str, sent: str, now: float | None, tolerance: float
) -> tuple[float, float, str]:
    """``(now, sent_at, expected signature)`` of a callback whose timestamp and signature check out."""
    current = _clock(now, tolerance)
    sent_at = _seconds(timestamp)
    skew = current - sent_at
    if not abs(skew) <= tolerance:
        raise WebhookError(f"the callback's timestamp is {skew:.0f}s away from now; refusing a replay")
    expected = signature(hmac_key, task_id, timestamp)
    if not _signature_matches(expected, sent):
        raise WebhookError("the callback's X-Webhook-Signature does not match")
    return current, sent_at, expected


def _clock(now: float | None, tolerance: float) -> float:
    current = time.time() if now is None else now
    if not math.isfinite(current):
        raise ValueError(f"now must be a finite number of seconds, not {now!r}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number of seconds >= 0, not {tolerance!r}")
    return current


def _seconds(timestamp: str) -> float:
    if len(timestamp) > _MAX_TIMESTAMP_CHARS or not _PLAIN_SECONDS.fullmatch(timestamp):
        raise WebhookError("the callback's X-Webhook-Timestamp is not a number of unix seconds")
    return float(timestamp)


def _signature_matches(expected: str, sent: str) -> bool:
    if len(sent) > _MAX_SIGNATURE_CHARS or not sent.isascii():
        return False
    return hmac.compare_digest(expected.encode("ascii"), sent.encode("ascii"))


def _signed_headers(headers: object) -> tuple[str, str]:
    """``(timestamp, signature)`` header values; refuses missing or conflicting ones."""
    found: dict[str, str] = {}
    for name, value in _header_pairs(headers):
        key = _as_text(name).lower()
        if key in (_TIMESTAMP_HEADER, _SIGNATURE_HEADER):
            text = _as_text(value).strip(" \t")
            if found.setdefault(key, text) != text:
                raise WebhookError(f"the callback carries conflicting {key} headers")
    timestamp, sent = found.get(_TIMESTAMP_HEADER), found.get(_SIGNATURE_HEADER)
    if not timestamp or not sent:
        raise WebhookError("the callback is not signed (no X-Webhook-Timestamp / X-Webhook-Signature)")
    return timestamp, sent


def _header_pairs(headers: object) -> list[tuple[object, object]]:
    """Every ``(name, value)`` of a mapping, an object with ``items()``, or an iterable of pairs."""
    items = getattr(headers, "items", None)
    source = items() if callable(items) else headers
    if isinstance(source, (str, bytes, bytearray)) or not isinstance(source, Iterable):
        raise WebhookError("unreadable callback headers: expected a mapping or (name, value) pairs")
    pairs: list[tuple[object, object]] = []
    for pair in source:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise WebhookError("unreadable callback headers: expected a mapping or (name, value) pairs")
        pairs.append((pair[0], pair[1]))
    return pairs


def _as_text(value: object) -> str:
    """A header's text: ``str`` as is, ``bytes`` decoded as latin-1 (the HTTP header charset), else ``""``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return ""


def _decode(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray, str)):
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to be a real callback
            raise ParseError("the callback body is not JSON") from None
    return body
