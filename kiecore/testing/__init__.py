"""A test kit for plugin authors: pytest fixtures (through the ``pytest11`` entry point), hypothesis
strategies (:mod:`kiecore.testing.strategies`), a conformance suite to subclass that also runs the plugin's
recorded cases (:class:`PluginConformance`), and helpers for tests of a model's quirks (:func:`create`,
:func:`refused`). Install with ``pip install kiecore[testing]``.

Names are imported on first use, so that having kiecore installed costs a pytest run nothing.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

__all__ = ["PluginConformance", "create", "refused", "status_request"]

if TYPE_CHECKING:
    from kiecore.testing.conformance import PluginConformance
    from kiecore.testing.mapping import create, refused, status_request


if "pytest" in sys.modules:  # show what a failed kit assertion compared, editable installs included
    sys.modules["pytest"].register_assert_rewrite("kiecore.testing.conformance", "kiecore.testing.mapping")


def __getattr__(name: str) -> Any:
    """The public names, each imported on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'kiecore.testing' has no attribute {name!r}")
    module = "conformance" if name == "PluginConformance" else "mapping"
    return getattr(importlib.import_module(f"kiecore.testing.{module}"), name)
