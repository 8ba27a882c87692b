"""Find model plugins through the ``kiecore.plugins`` entry-point group and load them, one by one.

A plugin that fails to import or register is recorded in ``Registry.failures`` (``kie models`` shows it);
the others load regardless. ``KIECORE_LOAD_PLUGINS`` (allow-list) and ``KIECORE_DISABLE_PLUGINS``
(deny-list) take comma-separated entry-point or distribution names; an allow-list that is set but empty
loads nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import importlib_metadata

from kiecore.registry import PluginInfo, Registry

ENTRY_POINT_GROUP = "kiecore.plugins"
ALLOW_ENV = "KIECORE_LOAD_PLUGINS"
DENY_ENV = "KIECORE_DISABLE_PLUGINS"


def _names(value: str) -> set[str]:
    return {part.strip() for part in value.split(",") if part.strip()}


def is_enabled(info: PluginInfo, environ: Mapping[str, str]) -> bool:
    """Whether the allow- and deny-lists in ``environ`` let this plugin load."""
    keys = {info.name, info.distribution}
    allow = environ.get(ALLOW_ENV)
    if allow is not None and not keys & _names(allow):
        return False
    return not keys & _names(environ.get(DENY_ENV, ""))


def load_registry(environ: Mapping[str, str] | None = None) -> Registry:
    """A registry of every installed, enabled plugin."""
    environ = os.environ if environ is None else environ
    registry = Registry()
    for entry_point in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        info = PluginInfo(
            name=entry_point.name,
            distribution=dist.name if dist is not None else "(unknown distribution)",
            version=dist.version if dist is not None else "",
        )
        if not is_enabled(info, environ):
            continue
        try:
            plugin = entry_point.load()
        except Exception as error:  # one broken plugin must not break the others
            registry.record_failure(info, error)
            continue
        registry.add_plugin(plugin, info)
    return registry
