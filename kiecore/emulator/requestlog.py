"""The record of every request either server received, with all its headers as sent."""

from __future__ import annotations

import threading

import attrs


@attrs.frozen
class RecordedRequest:
    """One request as received by either server (``server`` is ``"api"`` or ``"files"``); ``headers`` holds
    every header as sent."""

    server: str
    method: str
    path: str
    query: str
    headers: dict[str, str] = attrs.field(hash=False)
    body: bytes


class RequestLog:
    """Recorded requests, oldest first (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
