"""A scripted transport for client tests without HTTP (as httpx's ``MockTransport``): replies come from a script.

    transport = ScriptedTransport({
        ("POST", "/api/v1/jobs/createTask"): [{"code": 200, "msg": "success", "data": {"taskId": "t1"}}],
        ("GET", "/api/v1/jobs/recordInfo"): [RUNNING, SUCCEEDED],  # one per query; the last one repeats
    })
    client = Client(transport=transport, registry=..., rate_limits=None)

Each entry is a decoded JSON reply (what :meth:`kiecore.transport.Transport.send` returns once the envelope
says success) or an exception to raise in its place (a :class:`~kiecore.errors.KieError` as the real transport
would: ``NotFoundError``, ``SubmitUncertainError``...). A request the script has no entry for raises
``AssertionError``. ``requests`` records every request sent, with whether it was idempotent.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from kiecore.model import Profile
from kiecore.wire.request import WireRequest

Script = Mapping[tuple[str, str], Sequence[Any]]


class ScriptedTransport:
    """Answers :class:`~kiecore.wire.request.WireRequest` objects from ``script``; thread-safe."""

    def __init__(self, script: Script, *, base_url: str = "https://kie.test") -> None:
        self.base_url = base_url
        self.requests: list[tuple[WireRequest, bool]] = []
        self.closed = False
        self._script = {key: list(replies) for key, replies in script.items()}
        self._lock = threading.Lock()

    def send(
        self,
        request: WireRequest,
        *,
        profile: Profile,
        idempotent: bool,
        deadline: float | None = None,
        once: bool = False,
    ) -> Any:
        with self._lock:
            self.requests.append((request, idempotent))
            replies = self._script.get((request.method, request.path))
            if not replies:
                raise AssertionError(f"the script has no reply for {request.method} {request.path}")
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def sent(self, method: str, path: str) -> list[WireRequest]:
        """The requests sent to ``method path``, in order."""
        return [request for request, _ in self.requests if (request.method, request.path) == (method, path)]

    def redact(self, text: str) -> str:
        return text

    def close(self) -> None:
        self.closed = True
