"""The registry: which plugin serves which model and which dialect, and checked calls into exactly that plugin's
hooks. Every registry holds the built-in dialects (:data:`kiecore.dialects.builtin_dialects`) before any plugin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import pluggy

from kiecore import hookspecs
from kiecore.catalog import distribution_of
from kiecore.declarations import ModelSpec
from kiecore.dialects import WireDialect, builtin_dialects, for_reply
from kiecore.errors import ModelNotInstalledError, ParseError, PluginError, UnknownModelError
from kiecore.model import GenerationRequest, Profile, TaskStatus
from kiecore.wire.request import WireRequest


@attrs.frozen
class PluginInfo:
    """Where a plugin comes from: its entry-point name and its distribution."""

    name: str
    distribution: str = "(not installed)"
    version: str = ""

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}".strip()


@attrs.frozen
class LoadFailure:
    """A plugin that could not be loaded (or, in :attr:`Registry.skipped`, was not), and why (one line)."""

    plugin: PluginInfo
    error: str


#: Where the built-in dialects come from, in load failures and conflicts.
BUILTIN_DIALECTS = PluginInfo("kiecore-dialects", "kiecore")


@attrs.frozen
class ModelEntry:
    """A registered model and the plugin serving it."""

    spec: ModelSpec
    plugin: PluginInfo


def new_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


class Registry:
    """Models by id and alias, the plugins behind them, load failures, name conflicts, and the installed plugins
    left unloaded on purpose (:attr:`skipped`: the allow- and deny-lists)."""

    def __init__(self, manager: pluggy.PluginManager | None = None) -> None:
        self.manager = manager or new_plugin_manager()
        self._names: dict[str, list[ModelEntry]] = {}  # id or alias -> every entry claiming it
        self._objects: dict[str, object] = {}
        self._callers: dict[tuple[str, str], Any] = {}
        self._dialects: dict[str, tuple[WireDialect, PluginInfo]] = {}
        self.failures: list[LoadFailure] = []
        self.skipped: list[LoadFailure] = []
        self.add_plugin(builtin_dialects, BUILTIN_DIALECTS)

    @classmethod
    def from_plugins(cls, *plugins: object | tuple[object, PluginInfo]) -> Registry:
        """A registry holding only the given plugin objects (for tests and embedding)."""
        registry = cls()
        for item in plugins:
            plugin, info = item if isinstance(item, tuple) else (item, PluginInfo(_object_name(item)))
            registry.add_plugin(plugin, info)
        return registry

    def add_plugin(self, plugin: object, info: PluginInfo) -> bool:
        """Register ``plugin`` and its models; a failure is recorded, not raised. Returns success."""
        try:
            self.manager.register(plugin, name=info.name)
            self.manager.check_pending()
        except Exception as error:  # a malformed plugin must not break the others
            self._drop(plugin)
            self.record_failure(info, error)
            return False
        declared: list[ModelSpec] = []

        def register(spec: ModelSpec) -> None:
            if not isinstance(spec, ModelSpec):
                raise TypeError(f"register() takes a ModelSpec, got {type(spec).__name__}")
            declared.append(spec)

        dialects: list[WireDialect] = []

        def register_dialect(dialect: WireDialect) -> None:
            if not isinstance(dialect, WireDialect) or not dialect.name:
                raise TypeError(f"register() takes a named WireDialect, got {dialect!r}")
            if dialect.name in self._dialects:
                raise PluginError(f"dialect {dialect.name!r} is already provided by {self._dialects[dialect.name][1]}")
            dialects.append(dialect)

        try:
            self._caller(plugin, info.name, "register_models")(register=register)
            self._caller(plugin, info.name, "register_dialects")(register=register_dialect)
        except Exception as error:
            self._drop(plugin)
            self.record_failure(info, error)
            return False
        self._objects[info.name] = plugin
        for spec in declared:
            self._add_model(ModelEntry(spec, info))
        for dialect in dialects:
            self._dialects[dialect.name] = (dialect, info)
        return True

    def _drop(self, plugin: object) -> None:
        if self.manager.is_registered(plugin):
            self.manager.unregister(plugin)
        self._callers.clear()

    def record_failure(self, info: PluginInfo, error: BaseException | str) -> None:
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}".splitlines()[0]
        self.failures.append(LoadFailure(info, message))

    def _add_model(self, entry: ModelEntry) -> None:
        for name in dict.fromkeys((entry.spec.id, *entry.spec.aliases)):
            claimants = self._names.setdefault(name, [])
            if all(other.plugin != entry.plugin for other in claimants):
                claimants.append(entry)

    # -- queries -----------------------------------------------------------------------------------

    def models(self) -> list[ModelEntry]:
        """Every usable model (its id claimed by one plugin only), sorted by id."""
        usable = (c[0] for name, c in self._names.items() if len(c) == 1 and c[0].spec.id == name)
        return sorted(usable, key=lambda entry: entry.spec.id)

    @property
    def conflicts(self) -> dict[str, tuple[PluginInfo, ...]]:
        """Names claimed by more than one plugin, with the claimants."""
        return {
            name: tuple(entry.plugin for entry in claimants)
            for name, claimants in self._names.items()
            if len(claimants) > 1
        }

    def dialects(self) -> list[WireDialect]:
        """Every registered dialect, the built-in ones first."""
        return [dialect for dialect, _ in self._dialects.values()]

    def dialect(self, name: str) -> WireDialect:
        """The dialect called ``name``; :class:`PluginError` if no plugin provides it."""
        found = self._dialects.get(str(name))
        if found is None:
            raise PluginError(f"no installed plugin provides the {name!r} dialect; install the plugin that does")
        return found[0]

    def dialect_of(self, entry: ModelEntry, profile: Profile) -> WireDialect:
        """The dialect whose rules apply to ``entry``'s tasks in ``profile``: the one its declaration names."""
        return self.dialect(entry.spec.wire(profile).dialect)

    def resolve(self, name: str) -> ModelEntry:
        """The model called ``name`` (id or alias). Raises :class:`ModelNotInstalledError` for a model of a kiecore
        plugin that is not loaded (:mod:`kiecore.catalog`), :class:`UnknownModelError` for any other name, and on
        a conflict :class:`PluginError`."""
        claimants = self._names.get(name)
        if claimants is None:
            folded = {key.lower(): key for key in self._names}
            claimants = self._names.get(folded.get(name.lower(), ""))
        if not claimants:
            raise self._unknown(name)
        if len(claimants) > 1:
            who = " and ".join(str(entry.plugin) for entry in claimants)
            raise PluginError(f"model name {name!r} is claimed by both {who}; uninstall or disable one of them")
        return claimants[0]

    def _unknown(self, name: str) -> UnknownModelError:
        distribution = distribution_of(name)
        if distribution is None:
            import difflib  # only for a name that is not found

            close = difflib.get_close_matches(name, list(self._names), n=3, cutoff=0.5)
            return UnknownModelError(name, tuple(close))
        failed = next((f for f in self.failures if f.plugin.distribution == distribution), None)
        if failed is not None:
            return ModelNotInstalledError(name, distribution, f"which failed to load: {failed.error}")
        skipped = next((f for f in self.skipped if f.plugin.distribution == distribution), None)
        if skipped is not None:
            return ModelNotInstalledError(name, distribution, f"which is installed but not loaded: {skipped.error}")
        return ModelNotInstalledError(name, distribution)

    # -- hooks ---------------------------------------------------------------------------------------

    def _caller(self, plugin: object, name: str, hook: str) -> Any:
        key = (name, hook)
        if key not in self._callers:
            others = [p for p in self.manager.get_plugins() if p is not plugin]
            self._callers[key] = self.manager.subset_hook_caller(hook, remove_plugins=others)
        return self._callers[key]

    def _call(self, entry: ModelEntry, hook: str, **kwargs: Any) -> Any:
        plugin = self._objects[entry.plugin.name]
        result = self._caller(plugin, entry.plugin.name, hook)(**kwargs)
        if result is None:
            raise PluginError(f"plugin {entry.plugin} does not implement {hook} for {entry.spec.id}")
        return result

    def build_request(
        self, entry: ModelEntry, profile: Profile, params: dict[str, Any], request: GenerationRequest
    ) -> WireRequest:
        try:
            result = self._call(
                entry, "build_request", model=entry.spec, profile=profile, params=params, request=request
            )
        except PluginError:
            raise
        except Exception as error:
            raise PluginError(
                f"plugin {entry.plugin} failed in build_request: {type(error).__name__}: {error}"
            ) from error
        request_: WireRequest = _checked(entry, "build_request", result, WireRequest)
        return request_

    def parse_submit(self, entry: ModelEntry, profile: Profile, reply: Any) -> str:
        result = self._parse(entry, "parse_submit", profile, reply)
        if not isinstance(result, str) or not result:
            raise ParseError(f"plugin {entry.plugin} found no task id in the create reply")
        return result

    def parse_status(self, entry: ModelEntry, profile: Profile, reply: Any) -> TaskStatus:
        status: TaskStatus = _checked(
            entry, "parse_status", self._parse(entry, "parse_status", profile, reply), TaskStatus
        )
        return status

    def extract_urls(self, entry: ModelEntry, profile: Profile, reply: Any) -> tuple[str, ...]:
        result = self._parse(entry, "extract_urls", profile, reply)
        if isinstance(result, str) or not isinstance(result, Sequence):
            raise PluginError(f"plugin {entry.plugin} returned {type(result).__name__} from extract_urls")
        urls = tuple(result)
        if not all(isinstance(url, str) and url.startswith(("http://", "https://")) for url in urls):
            raise ParseError(f"the reply for {entry.spec.id} holds a result URL that is not http(s)")
        return urls

    def reply_dialect(self, entry: ModelEntry, profile: Profile, reply: Any) -> WireDialect:
        """The dialect that reads ``reply`` (see :func:`kiecore.dialects.for_reply`)."""
        declared = self.dialect_of(entry, profile)
        data = reply.get("data") if isinstance(reply, Mapping) else None
        return for_reply(data, declared, self.dialects()) if isinstance(data, Mapping) else declared

    def _parse(self, entry: ModelEntry, hook: str, profile: Profile, reply: Any) -> Any:
        dialect = self.reply_dialect(entry, profile, reply)
        try:
            return self._call(entry, hook, model=entry.spec, profile=profile, reply=reply, dialect=dialect)
        except (ParseError, PluginError):
            raise
        except Exception as error:  # the contract says ParseError only; hold plugins to it
            raise ParseError(
                f"plugin {entry.plugin} could not parse the reply ({type(error).__name__}: {error})"
            ) from error


def _checked(entry: ModelEntry, hook: str, value: Any, expected: type) -> Any:
    if not isinstance(value, expected):
        raise PluginError(
            f"plugin {entry.plugin} returned {type(value).__name__} from {hook}; expected {expected.__name__}"
        )
    return value


def _object_name(plugin: object) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__ + f"-{id(plugin):x}"
