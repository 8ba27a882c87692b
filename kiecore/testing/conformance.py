"""A conformance suite every model plugin runs by subclassing :class:`PluginConformance`::

    from kiecore.testing.conformance import PluginConformance
    from my_plugin import plugin

    class TestMyPlugin(PluginConformance):
        plugin = plugin

It checks, for every model the plugin declares and every profile the model has: declarations are
consistent; any valid request maps to a create body the (emulated) service accepts; every documented state
maps to the right common state; terminal states stay terminal; ``extract_urls`` returns the absolute
http(s) URLs of the reply; the parse hooks on arbitrary JSON return a value or raise ``ParseError`` and
nothing else; and a whole generation against the emulator yields image files.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import importlib_metadata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiecore.declarations import ModelSpec
from kiecore.errors import ParseError
from kiecore.loading import ENTRY_POINT_GROUP
from kiecore.model import Profile, TaskState, TaskStatus
from kiecore.registry import ModelEntry, Registry
from kiecore.testing import strategies
from kiecore.validation import resolve_params
from kiecore.wire.request import WireRequest

# differing_executors: several plugins' subclasses share these test functions in one session.
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.differing_executors]
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=_SUPPRESSED)


class PluginConformance:
    """Subclass with ``plugin = <your plugin object or module>``."""

    plugin: ClassVar[object]
    _registries: ClassVar[dict[int, Registry]] = {}

    @classmethod
    def registry(cls) -> Registry:
        """A registry holding only this plugin (built once per class)."""
        key = id(cls.plugin)
        if key not in cls._registries:
            registry = Registry.from_plugins(cls.plugin)
            assert not registry.failures, f"plugin failed to load: {registry.failures}"
            cls._registries[key] = registry
        return cls._registries[key]

    @classmethod
    def cases(cls) -> list[tuple[ModelEntry, Profile]]:
        return [(entry, profile) for entry in cls.registry().models() for profile in entry.spec.profiles()]

    def _case(self, data: st.DataObject) -> tuple[ModelEntry, Profile]:
        return data.draw(st.sampled_from(self.cases()), label="model/profile")

    # -- declarations --------------------------------------------------------------------------------

    def test_declares_models(self) -> None:
        registry = self.registry()
        assert registry.models(), "the plugin registers no model"
        assert not registry.conflicts, f"names claimed twice: {registry.conflicts}"

    def test_an_installed_plugin_is_found_through_its_entry_point(self) -> None:
        """When the plugin's package is installed, a ``kiecore.plugins`` entry point of its distribution loads
        this very object (a plugin run from a source tree without installing has no metadata to check)."""
        distributions = _distributions_defining(self.plugin)
        if not distributions:
            return
        points = [
            point
            for point in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
            if point.dist is not None and point.dist.name in distributions
        ]
        assert any(point.load() is self.plugin for point in points), (
            f"no {ENTRY_POINT_GROUP} entry point of {', '.join(sorted(distributions))} loads this plugin"
        )

    def test_declarations_are_consistent(self) -> None:
        for entry, profile in self.cases():
            check_declaration(entry.spec, profile)

    # -- requests ------------------------------------------------------------------------------------

    @_SETTINGS
    @given(data=st.data())
    def test_valid_requests_map_inside_declared_constraints(self, data: st.DataObject) -> None:
        entry, profile = self._case(data)
        request = data.draw(strategies.valid_requests(entry.spec, profile), label="request")
        params = resolve_params(entry.spec, profile, request)
        wire_request = self.registry().build_request(entry, profile, params, request)
        problems = body_problems(entry.spec, profile, wire_request)
        assert not problems, problems

    # -- replies -------------------------------------------------------------------------------------

    @_SETTINGS
    @given(data=st.data())
    def test_documented_states_map_to_common_states(self, data: st.DataObject) -> None:
        entry, profile = self._case(data)
        dialect = entry.spec.wire(profile).dialect
        reply, expected, urls = data.draw(strategies.documented_status_replies(dialect))
        registry = self.registry()
        status = registry.parse_status(entry, profile, reply)
        assert status.state is expected
        if expected is TaskState.SUCCEEDED:
            assert list(registry.extract_urls(entry, profile, reply)) == urls
        if expected is TaskState.FAILED:
            assert status.fail_code or status.fail_message or dialect == "reference"

    @_SETTINGS
    @given(data=st.data(), noise=st.dictionaries(st.text(max_size=8), strategies.json_values, max_size=4))
    def test_terminal_states_stay_terminal(self, data: st.DataObject, noise: dict[str, Any]) -> None:
        entry, profile = self._case(data)
        dialect = entry.spec.wire(profile).dialect
        reply, expected, _ = data.draw(strategies.documented_status_replies(dialect))
        if not expected.terminal:
            return
        reserved = {"state", "status", "successFlag"}
        noisy = {**{k: v for k, v in noise.items() if k not in reserved}, **reply["data"]}
        status = self.registry().parse_status(entry, profile, {**reply, "data": noisy})
        assert status.state is expected

    @_SETTINGS
    @given(data=st.data())
    def test_extract_urls_returns_absolute_http_urls(self, data: st.DataObject) -> None:
        entry, profile = self._case(data)
        dialect = entry.spec.wire(profile).dialect
        reply, expected, _ = data.draw(strategies.documented_status_replies(dialect))
        if expected is not TaskState.SUCCEEDED:
            return
        for url in self.registry().extract_urls(entry, profile, reply):
            assert url.startswith(("http://", "https://")) and "://" in url and len(url) > len("https://")

    @settings(max_examples=150, deadline=None, suppress_health_check=_SUPPRESSED)
    @given(data=st.data(), reply=strategies.replies)
    def test_parse_hooks_accept_or_raise_parse_error(self, data: st.DataObject, reply: Any) -> None:
        entry, profile = self._case(data)
        registry = self.registry()
        for parse in (registry.parse_submit, registry.parse_status, registry.extract_urls):
            try:
                result = parse(entry, profile, reply)
            except ParseError:
                continue
            assert isinstance(result, (str, TaskStatus, tuple))

    # -- end to end ----------------------------------------------------------------------------------

    def test_generates_images_against_the_emulator(self, tmp_path: Path) -> None:
        from kiecore.testing.endtoend import generate_with_each_model

        files = generate_with_each_model(self.registry(), tmp_path)
        assert files, "no model produced a file"


def _distributions_defining(plugin: object) -> set[str]:
    """The installed distributions whose modules hold ``plugin`` as a module attribute."""
    if isinstance(plugin, types.ModuleType):
        modules = [plugin.__name__]
    else:
        modules = [
            name
            for name, module in list(sys.modules.items())
            if module is not None and any(value is plugin for value in list(vars(module).values()))
        ]
    packages = importlib_metadata.packages_distributions()
    return {dist for name in modules for dist in packages.get(name.split(".")[0], [])}


def check_declaration(model: ModelSpec, profile: Profile) -> None:
    """Assert that a model's declaration for ``profile`` is self-consistent."""
    wire = model.wire(profile)
    assert wire.submit_path.startswith("/") and wire.status_path.startswith("/")
    names = [param.name for param in wire.params]
    assert len(names) == len(set(names)), f"{model.id}: a parameter is declared twice"
    commons = [param.common for param in wire.params if param.common]
    assert len(commons) == len(set(commons)), f"{model.id}: a common parameter maps to two wire parameters"
    assert wire.for_common("prompt") is not None, f"{model.id}: no parameter takes the prompt"
    for param in wire.params:
        if param.default is not None and param.choices:
            assert param.default in param.choices, f"{model.id}.{param.name}: default {param.default!r} not allowed"
        for wire_value in param.value_map.values():
            assert not param.choices or wire_value in param.choices, f"{model.id}.{param.name}: {wire_value!r}"
    for group in wire.requires_any:
        assert all(wire.param(name) for name in group), f"{model.id}: requires_any names an undeclared parameter"
    assert model.typical_seconds > 0 and model.max_images >= 1


def body_problems(model: ModelSpec, profile: Profile, request: WireRequest) -> list[str]:
    """Why the emulated service would refuse this create request (empty when it would accept it)."""
    from kiecore.emulator.validate import body_problems as service_problems

    wire = model.wire(profile)
    problems = [] if request.method == "POST" else [f"method {request.method}"]
    if request.path != wire.submit_path:
        problems.append(f"path {request.path} is not {wire.submit_path}")
    return problems + service_problems(wire, request.body)
