"""The asyncio face of :class:`~kiecore.client.Client`: the same engine, awaited instead of waited for.

Every task still runs on the client's one engine (:mod:`kiecore.engine`): awaiting a generation holds no
thread, and cancelling the awaiting asyncio task cancels the job (its task stays in the journal, resumable).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from kiecore.client import Client, PreparedRequest
from kiecore.download import IfExists
from kiecore.engine.jobs import StatusCallback
from kiecore.events import RetryCallback
from kiecore.journal import JournalEntry
from kiecore.model import GenerationRequest, GenerationResult, Profile, TaskHandle, TaskStatus
from kiecore.naming import Naming
from kiecore.registry import ModelEntry


class AsyncClient:
    """An asyncio Kie client. Takes exactly :class:`~kiecore.client.Client`'s arguments; use it as
    ``async with AsyncClient(...) as client`` (or call :meth:`aclose`). The synchronous client it drives is
    :attr:`client`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.client = Client(*args, **kwargs)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client; requests in flight are answered first (in a worker thread, not the loop)."""
        await asyncio.to_thread(self.client.close)

    def model(self, name: str) -> ModelEntry:
        return self.client.model(name)

    def prepare(self, model: str, request: GenerationRequest | None = None, /, **params: Any) -> PreparedRequest:
        """As :meth:`Client.prepare` (validation only; nothing is sent)."""
        return self.client.prepare(model, request, **params)

    async def submit(
        self,
        model: str,
        request: GenerationRequest | None = None,
        /,
        *,
        profile: Profile | str | None = None,
        **params: Any,
    ) -> TaskHandle:
        """As :meth:`Client.submit`."""
        prepared = self.client.prepare(model, request, profile=profile, **params)
        return await asyncio.wrap_future(self.client.start_submit(prepared))

    async def upload(self, path: str | os.PathLike[str], *, timeout: float | None = None) -> str:
        """As :meth:`Client.upload` (in a worker thread, not the loop): the uploaded image's URL."""
        return await asyncio.to_thread(self.client.upload, path, timeout=timeout)

    async def status(self, handle: TaskHandle, *, deadline: float | None = None) -> TaskStatus:
        """As :meth:`Client.status` (one query, within the rate limits)."""
        return await asyncio.to_thread(self.client.status, handle, deadline=deadline)

    async def credits(self, *, deadline: float | None = None) -> Decimal:
        """As :meth:`Client.credits` (one query, in a worker thread, not the loop)."""
        return await asyncio.to_thread(self.client.credits, deadline=deadline)

    async def wait(
        self,
        handle: TaskHandle,
        *,
        timeout: float | None = None,
        on_status: StatusCallback | None = None,
        on_retry: RetryCallback | None = None,
    ) -> TaskStatus:
        """As :meth:`Client.wait`."""
        return await asyncio.wrap_future(self.client.start_wait(handle, timeout, on_status, on_retry=on_retry))

    async def download(
        self,
        handle: TaskHandle,
        status: TaskStatus,
        output_dir: str | os.PathLike[str] = ".",
        *,
        output_file: str | os.PathLike[str] | None = None,
        name: str | Naming | None = None,
        request: GenerationRequest | None = None,
        if_exists: IfExists = "error",
        deadline: float | None = None,
    ) -> tuple[Path, ...]:
        """As :meth:`Client.download` (in a worker thread, not the loop)."""
        return await asyncio.to_thread(
            functools.partial(
                self.client.download,
                handle,
                status,
                output_dir,
                output_file=output_file,
                name=name,
                request=request,
                if_exists=if_exists,
                deadline=deadline,
            )
        )

    async def generate(
        self,
        model: str,
        prompt: str | GenerationRequest | None = None,
        *,
        output_dir: str | os.PathLike[str] = ".",
        output_file: str | os.PathLike[str] | None = None,
        name: str | Naming | None = None,
        timeout: float | None = None,
        download: bool = True,
        profile: Profile | str | None = None,
        on_submit: Callable[[TaskHandle], None] | None = None,
        on_status: StatusCallback | None = None,
        on_retry: RetryCallback | None = None,
        **params: Any,
    ) -> GenerationResult:
        """As :meth:`Client.generate`. Bad parameters raise before anything is sent."""
        future = self.client.start(
            model,
            prompt,
            output_dir=output_dir,
            output_file=output_file,
            name=name,
            timeout=timeout,
            download=download,
            profile=profile,
            on_submit=on_submit,
            on_status=on_status,
            on_retry=on_retry,
            **params,
        )
        return await asyncio.wrap_future(future)

    async def resume(
        self,
        task: JournalEntry | TaskHandle,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        on_status: StatusCallback | None = None,
        on_retry: RetryCallback | None = None,
        name: str | Naming | None = None,
        request: GenerationRequest | None = None,
    ) -> GenerationResult:
        """As :meth:`Client.resume`."""
        future = self.client.start_resume(
            task, output_dir, timeout, on_status, on_retry=on_retry, name=name, request=request
        )
        return await asyncio.wrap_future(future)

    def notify(self, task_id: str) -> bool:
        """As :meth:`Client.notify`: query ``task_id`` now (a verified callback says it finished)."""
        return self.client.notify(task_id)
