"""A ready-made plugin that serves declared models through the core's shared wire helpers.

Most model families need nothing more than their declarations::

    plugin = DeclarativePlugin(ModelSpec(id="google/nano-banana", ...), ...)

and an entry point naming ``plugin``. A family with a quirk subclasses it and overrides one hook (decorated
with ``@hookimpl`` again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kiecore.declarations import ModelSpec
from kiecore.dialects import WireDialect, read_status
from kiecore.hookspecs import hookimpl
from kiecore.model import GenerationRequest, Profile, TaskStatus
from kiecore.wire import WireRequest, build_create_request, parse_submit_reply
from kiecore.wire.envelope import reply_data


class DeclarativePlugin:
    """Registers ``models`` and implements every hook with the shared helpers and the dialect the core chose."""

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
    def parse_status(self, reply: Any, dialect: WireDialect) -> TaskStatus:
        return read_status(reply, dialect)

    @hookimpl
    def extract_urls(self, reply: Any, dialect: WireDialect) -> Sequence[str]:
        return dialect.extract_urls(reply_data(reply))
