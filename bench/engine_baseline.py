"""The baseline of bench/engine.py: the reference's "fixed 2 s poller", written with raw urllib3 and no kiecore.

One thread per generation: send the create, then query every ``interval`` seconds counted from the submit
(``interval`` is 2 s live, times the bench's time scale), download every result once the task succeeded. An
HTTP 429 is waited out (its ``Retry-After``, a live duration, times ``retry_after_scale``) and the request sent
again, at most :data:`RETRIES` times; one more 429 fails the generation. The wire requests are the ones kiecore
sends (the same paths, query, JSON body and headers): the caller passes the create body from
``Client.prepare(...).wire``.

This module imports only the standard library and urllib3, so a process running the baseline alone (scenario d)
does not pay for kiecore.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from kiecore.transport import USER_AGENT  # the same request headers as kiecore's

#: How many times a 429 is waited out and the request sent again (the reference's recipe).
RETRIES = 5
#: Connections to each host, like kiecore's transport (a bounded, blocking pool: a burst never opens thousands).
CONNECTIONS = 12
MARKET_CREATE = "/api/v1/jobs/createTask"
MARKET_STATUS = "/api/v1/jobs/recordInfo"


class PollerFailure(Exception):
    """A generation of the fixed poller failed (too many 429s, a failed task, an unreadable reply)."""


@dataclass
class PollerResult:
    """One generation of the fixed poller: ``ok`` or ``error``, with the 429s it received."""

    ok: bool = False
    task_id: str | None = None
    queries: int = 0
    rate_limited: int = 0
    error: str | None = None
    started: float = 0.0  # wall clock
    ended: float = 0.0
    files: list[str] = field(default_factory=list)


class FixedPoller:
    """The reference recipe against one API host. Thread-safe: one instance serves every generation thread."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        interval: float,
        retry_after_scale: float = 1.0,
        output_dir: Path | None = None,
        connections: int = CONNECTIONS,
        on_submit: Callable[[str], None] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.interval = interval
        self.retry_after_scale = retry_after_scale
        self.output_dir = output_dir
        self.on_submit = on_submit
        self._auth = f"Bearer {api_key}"
        self._api = urllib3.HTTPConnectionPool(
            parts.hostname or "127.0.0.1", port=parts.port, maxsize=connections, block=True, retries=False
        )
        self._files = urllib3.PoolManager(maxsize=connections, block=True, retries=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._api.close()
        self._files.clear()

    def generate(self, body: Mapping[str, Any], *, create_path: str = MARKET_CREATE) -> PollerResult:
        """One whole generation; never raises (the outcome is in the result)."""
        result = PollerResult(started=time.time())
        try:
            self._generate(body, create_path, result)
            result.ok = True
        except Exception as error:
            result.error = f"{type(error).__name__}: {error}"
        result.ended = time.time()
        return result

    def _generate(self, body: Mapping[str, Any], create_path: str, result: PollerResult) -> None:
        submitted = time.monotonic()
        reply = self._request("POST", create_path, json.dumps(body).encode(), result)
        task_id = str(reply["data"]["taskId"])
        result.task_id = task_id
        if self.on_submit is not None:
            self.on_submit(task_id)
        target = f"{MARKET_STATUS}?{urlencode({'taskId': task_id})}"
        step = 1
        while True:
            now = time.monotonic()
            while submitted + step * self.interval <= now:  # a query delayed by a 429 skips the missed ticks
                step += 1
            time.sleep(submitted + step * self.interval - now)
            result.queries += 1
            data = self._request("GET", target, None, result)["data"]
            state = data.get("state") if isinstance(data, Mapping) else None
            if state == "success":
                urls = json.loads(data["resultJson"])["resultUrls"]
                break
            if state == "fail":
                raise PollerFailure(f"task {task_id} failed: {data.get('failMsg')}")
        for index, url in enumerate(urls):
            self._download(str(url), task_id, index)
        result.files = [str(url) for url in urls]

    def _request(self, method: str, target: str, body: bytes | None, result: PollerResult) -> Any:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Authorization": self._auth}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(RETRIES + 1):
            response = self._api.urlopen(method, target, body=body, headers=headers, retries=False, redirect=False)
            if response.status == 429:
                result.rate_limited += 1
                if attempt == RETRIES:
                    break
                wait = float(response.headers.get("Retry-After") or 1.0)
                time.sleep(wait * self.retry_after_scale)
                continue
            if response.status != 200:
                raise PollerFailure(f"{method} {target}: HTTP {response.status}")
            reply = json.loads(response.data)
            if not isinstance(reply, Mapping) or reply.get("code") != 200:
                raise PollerFailure(f"{method} {target}: {reply!r:.200}")
            return reply
        raise PollerFailure(f"{method} {target}: still HTTP 429 after {RETRIES} retries")

    def _download(self, url: str, task_id: str, index: int) -> None:
        response = self._files.request("GET", url, retries=False, redirect=False)
        if response.status != 200:
            raise PollerFailure(f"download {url}: HTTP {response.status}")
        if self.output_dir is not None:
            extension = url.rsplit(".", 1)[-1]
            (self.output_dir / f"{task_id}_{index}.{extension}").write_bytes(response.data)


def run_threads(poller: FixedPoller, bodies: Sequence[Mapping[str, Any]]) -> list[PollerResult]:
    """One thread per generation, all started at once; their results in the order of ``bodies``."""
    results: list[PollerResult] = [PollerResult() for _ in bodies]

    def work(index: int) -> None:
        results[index] = poller.generate(bodies[index])

    threads = [threading.Thread(target=work, args=(index,), daemon=True) for index in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
