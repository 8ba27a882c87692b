"""kiecore: a plugin-based client for Kie.ai's image models.

    import kiecore
    with kiecore.Client() as client:                     # KIE_API_KEY from the environment
        result = client.generate("nano-banana-pro", "a red fox", output_dir="out")

Names are imported on first use, so ``import kiecore`` (and ``kie --help``) stays fast; ``__version__`` too,
read from the installed metadata by :mod:`kiecore.version`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "__version__": "kiecore.version",
    "Client": "kiecore.client",
    "AsyncClient": "kiecore.async_client",
    "CallbackReceiver": "kiecore.callback_receiver",
    "CallbackServer": "kiecore.callback_receiver",
    "GenerationRequest": "kiecore.model",
    "GenerationResult": "kiecore.model",
    "Profile": "kiecore.model",
    "TaskHandle": "kiecore.model",
    "TaskState": "kiecore.model",
    "TaskStatus": "kiecore.model",
    "RetryCause": "kiecore.events",
    "RetryEvent": "kiecore.events",
    "BodyLayout": "kiecore.declarations",
    "Dialect": "kiecore.declarations",
    "Match": "kiecore.declarations",
    "ModelSpec": "kiecore.declarations",
    "ParamKind": "kiecore.declarations",
    "ParamSpec": "kiecore.declarations",
    "Price": "kiecore.declarations",
    "PriceUnit": "kiecore.declarations",
    "Rule": "kiecore.declarations",
    "WireSpec": "kiecore.declarations",
    "DeclarativePlugin": "kiecore.plugin",
    "hookimpl": "kiecore.hookspecs",
    "WireRequest": "kiecore.wire.request",
    "Registry": "kiecore.registry",
    "load_registry": "kiecore.loading",
    "to_json": "kiecore.serialization",
    "from_json": "kiecore.serialization",
}

__all__ = [
    "AsyncClient",
    "BodyLayout",
    "CallbackReceiver",
    "CallbackServer",
    "Client",
    "DeclarativePlugin",
    "Dialect",
    "GenerationRequest",
    "GenerationResult",
    "Match",
    "ModelSpec",
    "ParamKind",
    "ParamSpec",
    "Price",
    "PriceUnit",
    "Profile",
    "Registry",
    "RetryCause",
    "RetryEvent",
    "Rule",
    "TaskHandle",
    "TaskState",
    "TaskStatus",
    "WireRequest",
    "WireSpec",
    "__version__",
    "from_json",
    "hookimpl",
    "load_registry",
    "to_json",
]

if TYPE_CHECKING:
    from kiecore.async_client import AsyncClient
    from kiecore.callback_receiver import CallbackReceiver, CallbackServer
    from kiecore.client import Client
    from kiecore.declarations import (
        BodyLayout,
        Dialect,
        Match,
        ModelSpec,
        ParamKind,
        ParamSpec,
        Price,
        PriceUnit,
        Rule,
        WireSpec,
    )
    from kiecore.events import RetryCause, RetryEvent
    from kiecore.hookspecs import hookimpl
    from kiecore.loading import load_registry
    from kiecore.model import GenerationRequest, GenerationResult, Profile, TaskHandle, TaskState, TaskStatus
    from kiecore.plugin import DeclarativePlugin
    from kiecore.registry import Registry
    from kiecore.serialization import from_json, to_json
    from kiecore.version import __version__
    from kiecore.wire.request import WireRequest


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kiecore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
