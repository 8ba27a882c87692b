"""A ready-made plugin that serves declared models through the core's shared wire helpers.

Most model families need nothing more than their declarations::

    plugin = DeclarativePlugin(ModelSpec(id="google/nano-banana", ...), ...)

and an entry point naming ``plugin``. A family with a quirk subclasses it and overrides one hook (decorated
with ``@hookimpl`` again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kiecore.declarations import Dialect, ModelSpec
from kiecore.hookspecs import hookimpl
from kiecore.model import GenerationRequest, Profile, TaskStatus
from kiecore.wire import (
    WireRequest,
    build_create_request,
    extract_result_urls,
    parse_status_reply,
    parse_submit_reply,
)


class DeclarativePlugin:
    """Registers ``models`` and implements every hook with the shared dialect helpers."""

    def __init__(self, *models: ModelSpec) -> None:
        self.models = models

    @hookimpl
    def register_models(self, register: Callable[[ModelSpec], None]) -> None:
        for model in self.models:
            register(model)

    @hookimpl
    def build_request(
        self, model: ModelSpec, profile: Profile, params: Mapping[str, Any], request: GenerationRequest
    ) -> WireRequest:
        return build_create_request(model, profile, params, request)

    @hookimpl
    def parse_submit(self, reply: Any) -> str:
        return parse_submit_reply(reply)

    @hookimpl
    def parse_status(self, model: ModelSpec, profile: Profile, reply: Any) -> TaskStatus:
        return parse_status_reply(reply, _dialect(model, profile))

    @hookimpl
    def extract_urls(self, model: ModelSpec, profile: Profile, reply: Any) -> Sequence[str]:
        return extract_result_urls(reply, _dialect(model, profile))


def _dialect(model: ModelSpec, profile: Profile) -> Dialect | None:
    """The dialect ``model`` declares in ``profile`` (``None`` if it has no such profile: parse by shape)."""
    try:
        return model.wire(profile).dialect
    except LookupError:
        return None
