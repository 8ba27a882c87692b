"""Wire dialects as objects: one module per built-in dialect, registered like plugins.

Each model declares a dialect by name per profile; :class:`~kiecore.registry.Registry` maps names to
:class:`WireDialect` objects registered through the ``register_dialects`` hook. The four built-in dialects
(:data:`BUILTIN`) come from :data:`builtin_dialects`, a plugin every registry loads first, so a third-party
plugin brings a dialect of its own exactly the way the core brings these.

:func:`for_reply` is the one rule for which dialect reads a reply.
"""

from __future__ import annotations

from kiecore.dialects.base import WireDialect, for_reply
from kiecore.dialects.builtin import BUILTIN, builtin, builtin_dialects
from kiecore.dialects.reading import extract_result_urls, parse_status_reply, read_status

__all__ = [
    "BUILTIN",
    "WireDialect",
    "builtin",
    "builtin_dialects",
    "extract_result_urls",
    "for_reply",
    "parse_status_reply",
    "read_status",
]
