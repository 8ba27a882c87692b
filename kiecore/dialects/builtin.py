"""The built-in dialects, and the plugin that registers them (every registry loads it first)."""

from __future__ import annotations

from collections.abc import Callable

from kiecore.dialects.base import WireDialect
from kiecore.dialects.flux import FLUX
from kiecore.dialects.gpt4o import GPT4O
from kiecore.dialects.market import MARKET
from kiecore.dialects.reference import REFERENCE
from kiecore.hookspecs import hookimpl

#: The built-in dialects by name, most specific shape first (the order ``for_reply`` tries others in).
BUILTIN: dict[str, WireDialect] = {dialect.name: dialect for dialect in (GPT4O, MARKET, FLUX, REFERENCE)}


class _BuiltinDialects:
    """The plugin that registers the built-in dialects."""

    @hookimpl
    def register_dialects(self, register: Callable[[WireDialect], None]) -> None:
        for dialect in BUILTIN.values():
            register(dialect)


builtin_dialects = _BuiltinDialects()


def builtin(name: str) -> WireDialect:
    """The built-in dialect called ``name``; ``KeyError`` if there is none."""
    return BUILTIN[str(name)]
