"""Find model plugins through the ``kiecore.plugins`` entry-point group and load them, one by one.

A plugin that fails to import or register is recorded in ``Registry.failures`` (``kie models`` shows it);
the others load regardless. ``KIECORE_LOAD_PLUGINS`` (allow-list) and ``KIECORE_DISABLE_PLUGINS``
(deny-list) take comma-separated entry-point or distribution names; an allow-list that is set but empty
loads nothing. A plugin they turn off is recorded in ``Registry.skipped``, with which list did.

A plugin is built against a hook contract, so each plugin distribution states the kiecore versions it works
with (``dependencies = ["kiecore>=0.1,<0.2"]``, read back as its ``Requires-Dist``). A plugin whose range
excludes the running kiecore is refused before it is imported, with a load failure that says which side to
upgrade (:func:`incompatibility`). Nothing is refused when the range cannot be read by
:func:`kiecore.version.mismatch` or when kiecore itself is not installed (:data:`~kiecore.version.UNKNOWN_VERSION`):
the installer checked the range already, and this check is there for environments that drifted since.

``KIECORE_TRACE_PLUGINS=1`` (or ``true``, ``yes``, ``on``) traces every hook call from the first plugin's
loading on, with pluggy's hook-call monitoring (:func:`trace_hooks`): one line per call, after it returns,
naming the hook, its arguments, the plugins it went to and its result or exception. The lines are DEBUG
records of the ``kiecore.plugins`` logger rather than prints, so an application can route or silence them;
setting the variable asks for them, so the logger is set to DEBUG and, when logging is not configured at all
(as in ``kie`` without ``--debug``), given a stderr handler of its own. No hook is given the API key, so no
trace line holds it.
"""

from __future__ import annotations

import logging
import os
import reprlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import importlib_metadata
import pluggy

from kiecore import version
from kiecore.catalog import ENTRY_POINT_GROUP
from kiecore.distributions import facts_of
from kiecore.registry import LoadFailure, PluginInfo, Registry

ALLOW_ENV = "KIECORE_LOAD_PLUGINS"
DENY_ENV = "KIECORE_DISABLE_PLUGINS"
TRACE_ENV = "KIECORE_TRACE_PLUGINS"
#: The distribution whose version plugins declare a range for.
CORE_DISTRIBUTION = "kiecore"

trace_log = logging.getLogger("kiecore.plugins")

_ADVICE = {
    version.Mismatch.TOO_NEW: "upgrade the plugin",
    version.Mismatch.TOO_OLD: "upgrade kiecore",
    version.Mismatch.EXCLUDED: "install another version of kiecore or of the plugin",
}


def _names(value: str) -> set[str]:
    return {part.strip() for part in value.split(",") if part.strip()}


def _switched_on(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"1", "true", "yes", "on"}


def is_enabled(info: PluginInfo, environ: Mapping[str, str]) -> bool:
    """Whether the allow- and deny-lists in ``environ`` let this plugin load."""
    return _turned_off(info, environ) is None


def _turned_off(info: PluginInfo, environ: Mapping[str, str]) -> str | None:
    """Which list in ``environ`` keeps this plugin from loading, as a reason (``None``: neither does)."""
    keys = {info.name, info.distribution}
    allow = environ.get(ALLOW_ENV)
    if allow is not None and not keys & _names(allow):
        return f"{ALLOW_ENV} does not name it"
    return f"{DENY_ENV} names it" if keys & _names(environ.get(DENY_ENV, "")) else None


def incompatibility(info: PluginInfo, requires: Iterable[str] | None, core_version: str) -> str | None:
    """Why the plugin ``info`` (whose distribution has the ``Requires-Dist`` lines ``requires``) cannot run on
    kiecore ``core_version``, as a one-line load failure; ``None`` if it can, or if that cannot be told."""
    if core_version == version.UNKNOWN_VERSION:
        return None
    for requirement in requires or ():
        wanted = version.required_range(requirement, CORE_DISTRIBUTION)
        if wanted is None:
            continue
        try:
            verdict = version.mismatch(wanted, core_version)
        except ValueError:
            continue  # a range beyond the small check: the installer has enforced it
        if verdict is not None:
            return f"{info} needs kiecore {wanted}; this is kiecore {core_version}: {_ADVICE[verdict]}"
    return None


def load_registry(environ: Mapping[str, str] | None = None) -> Registry:
    """A registry of every installed, enabled plugin whose kiecore range admits this kiecore."""
    environ = os.environ if environ is None else environ
    registry = Registry()
    if _switched_on(environ.get(TRACE_ENV)):
        trace_hooks(registry)
    for entry_point in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        facts = facts_of(entry_point.dist) if entry_point.dist is not None else None
        info = PluginInfo(
            name=entry_point.name,
            distribution=facts.name if facts is not None and facts.name else "(unknown distribution)",
            version=facts.version if facts is not None else "",
        )
        off = _turned_off(info, environ)
        if off is not None:
            registry.skipped.append(LoadFailure(info, off))
            continue
        refusal = incompatibility(info, facts.requires if facts is not None else None, version.__version__)
        if refusal is not None:
            registry.record_failure(info, refusal)
            continue
        try:
            plugin = entry_point.load()
        except Exception as error:  # one broken plugin must not break the others
            registry.record_failure(info, error)
            continue
        registry.add_plugin(plugin, info)
    return registry


# -- tracing ----------------------------------------------------------------------------------------------

_brief = reprlib.Repr()
_brief.maxstring = _brief.maxother = 160
_brief.maxlevel = 3
_brief.maxdict = _brief.maxlist = _brief.maxtuple = 8


def _ensure_trace_output() -> None:
    trace_log.setLevel(logging.DEBUG)
    if not trace_log.hasHandlers():  # logging is not configured: stderr, once (the handler then counts)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        trace_log.addHandler(handler)


def _describe(
    hook_name: str, plugins: Sequence[str], kwargs: Mapping[str, Any], result: Any, error: BaseException | None
) -> str:
    """One trace line: ``parse_submit(model=..., reply={...}) [plugin] -> 'task-1'``, long values shortened."""
    arguments = ", ".join(f"{key}={_brief.repr(value)}" for key, value in kwargs.items())
    if error is not None:
        outcome = f"raised {type(error).__name__}: {next(iter(str(error).splitlines()), '')}"
    else:
        outcome = f"-> {_brief.repr(result)}"
    return f"{hook_name}({arguments}) [{', '.join(plugins) or 'no plugin'}] {outcome}"


def trace_hooks(registry: Registry) -> Callable[[], None]:
    """Log every hook call of ``registry`` from now on (see the module docstring); returns the undo."""
    _ensure_trace_output()

    def before(hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        return None

    def after(
        outcome: pluggy.Result[Any],
        hook_name: str,
        hook_impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        if not trace_log.isEnabledFor(logging.DEBUG):
            return
        failure = outcome.excinfo
        error = failure[1] if failure is not None else None
        result = None if error is not None else outcome.get_result()
        plugins = [impl.plugin_name for impl in hook_impls]
        trace_log.debug("%s", _describe(hook_name, plugins, kwargs, result, error))

    return registry.manager.add_hookcall_monitoring(before, after)
