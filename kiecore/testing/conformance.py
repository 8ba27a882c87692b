"""A conformance suite every model plugin runs by subclassing :class:`PluginConformance`::

    from pathlib import Path

    from kiecore.testing import PluginConformance
    from my_plugin import plugin

    class TestMyPlugin(PluginConformance):
        plugin = plugin
        replies = Path(__file__).parent / "replies"  # the recorded cases: replies/*.json

For every model the plugin declares and every profile the model has, it checks: the declaration is consistent;
any valid request (drawn by hypothesis) maps to a create body the emulator's independent checker accepts; every
documented state maps to the right common state, and terminal states stay terminal; ``extract_urls`` returns the
absolute http(s) URLs of a successful reply; the parse hooks answer arbitrary JSON with a value or
``ParseError``, nothing else. It checks every recorded case, model fact and refusal (:mod:`kiecore.testing.mapping`
describes the format), and a whole generation against the emulator must yield image files.

Test ids name the model, the profile and the case: ``test_recorded_case[nano-banana-pro:live:success]``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import importlib_metadata
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiecore.catalog import ENTRY_POINT_GROUP
from kiecore.declarations import ModelSpec
from kiecore.errors import InvalidParameterError, ParseError
from kiecore.model import Profile, TaskState, TaskStatus
from kiecore.registry import ModelEntry, Registry
from kiecore.serialization import from_json, to_json
from kiecore.testing import strategies
from kiecore.testing.mapping import (
    Recorded,
    RecordedCase,
    RecordedModel,
    RecordedRefusal,
    check_case,
    check_model,
    check_refusal,
    load_recorded,
)
from kiecore.validation import resolve_params
from kiecore.wire.request import WireRequest

# differing_executors: several plugins' subclasses share these test functions in one session.
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.differing_executors, HealthCheck.filter_too_much]


def _examples(count: int) -> settings:
    """Hypothesis settings: ``count`` examples for each model and profile."""
    return settings(max_examples=count, deadline=None, suppress_health_check=_SUPPRESSED)


class PluginConformance:
    """Subclass with ``plugin = <your plugin object or module>`` and ``replies = <directory of recorded cases>``.
    Tests of the plugin's own quirks go in the subclass too: its ``kie_plugin_registry`` fixture holds only this
    plugin."""

    plugin: ClassVar[object]
    replies: ClassVar[Path | None] = None
    _registries: ClassVar[dict[int, Registry]] = {}
    _loaded: ClassVar[dict[type, Recorded]] = {}

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
    def models_and_profiles(cls) -> list[tuple[ModelEntry, Profile]]:
        """Every declared model in every profile it has."""
        return [(entry, profile) for entry in cls.registry().models() for profile in entry.spec.profiles()]

    @pytest.fixture
    def kie_plugin(self) -> object:
        """The plugin under test, for the kit's ``kie_plugin_registry`` fixture."""
        return self.plugin

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise by model and profile, by recorded case and by refusal, with readable ids."""
        cls = type(self)
        if "model_profile" in metafunc.fixturenames:
            targets = cls.models_and_profiles()
            metafunc.parametrize("model_profile", targets, ids=[f"{e.spec.id}:{p.value}" for e, p in targets])
        if {"recorded_case", "recorded_model", "recorded_refusal"} & set(metafunc.fixturenames):
            recorded = cls._recorded()
            for name, found, missing in (
                ("recorded_case", recorded.cases, "no recorded cases: set replies to their directory"),
                ("recorded_model", recorded.models, "the recorded cases state nothing about the models"),
                ("recorded_refusal", recorded.refusals, "the recorded cases hold no refusals"),
            ):
                if name in metafunc.fixturenames:
                    _parametrize(metafunc, name, found, missing)

    @classmethod
    def _recorded(cls) -> Recorded:
        if cls not in cls._loaded:
            cls._loaded[cls] = Recorded() if cls.replies is None else load_recorded(cls.replies, cls.registry())
        return cls._loaded[cls]

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

    def test_declarations_are_consistent(self, model_profile: tuple[ModelEntry, Profile]) -> None:
        entry, profile = model_profile
        check_declaration(entry.spec, profile)

    def test_declarations_survive_json(self) -> None:
        """Each model reads back from its JSON (what ``kie models --json`` prints) as the same declaration."""
        for entry in self.registry().models():
            assert from_json(ModelSpec, to_json(entry.spec)) == entry.spec, f"{entry.spec.id} changes through JSON"

    def test_recorded_model(self, kie_plugin_registry: Registry, recorded_model: RecordedModel) -> None:
        """What the recorded cases state about a model (names, profiles, image count, defaults, limits) holds."""
        check_model(kie_plugin_registry, recorded_model)

    # -- requests ------------------------------------------------------------------------------------

    @_examples(40)
    @given(data=st.data())
    def test_valid_requests_map_inside_declared_constraints(
        self, model_profile: tuple[ModelEntry, Profile], data: st.DataObject
    ) -> None:
        entry, profile = model_profile
        request = data.draw(strategies.valid_requests(entry.spec, profile), label="request")
        params = resolve_params(entry.spec, profile, request)
        wire_request = self.registry().build_request(entry, profile, params, request)
        problems = body_problems(entry.spec, profile, wire_request)
        assert not problems, problems

    def test_recorded_refusal(self, kie_plugin_registry: Registry, recorded_refusal: RecordedRefusal) -> None:
        """A row of a recorded refusal table: the request is refused, naming the parameter."""
        check_refusal(kie_plugin_registry, recorded_refusal)

    # -- replies -------------------------------------------------------------------------------------

    def test_recorded_case(self, kie_plugin_registry: Registry, recorded_case: RecordedCase) -> None:
        """A recorded reply, callback, request or status request maps to what the case expects."""
        check_case(kie_plugin_registry, recorded_case)

    @_examples(25)
    @given(data=st.data())
    def test_documented_states_map_to_common_states(
        self, model_profile: tuple[ModelEntry, Profile], data: st.DataObject
    ) -> None:
        entry, profile = model_profile
        registry = self.registry()
        dialect = registry.dialect_of(entry, profile)
        reply, expected, urls = data.draw(strategies.documented_status_replies(dialect))
        status = registry.parse_status(entry, profile, reply)
        assert status.state is expected
        if expected is TaskState.SUCCEEDED:
            assert list(registry.extract_urls(entry, profile, reply)) == urls
        if expected is TaskState.FAILED:
            assert status.fail_code or status.fail_message or not dialect.states_failure_reason

    @_examples(25)
    @given(data=st.data(), noise=st.dictionaries(st.text(max_size=8), strategies.json_values, max_size=4))
    def test_terminal_states_stay_terminal(
        self, model_profile: tuple[ModelEntry, Profile], data: st.DataObject, noise: dict[str, Any]
    ) -> None:
        entry, profile = model_profile
        documented = strategies.documented_status_replies(self.registry().dialect_of(entry, profile))
        reply, expected, _ = data.draw(documented.filter(lambda drawn: drawn[1].terminal))
        reserved = {"state", "status", "successFlag"}
        noisy = {**{k: v for k, v in noise.items() if k not in reserved}, **reply["data"]}
        status = self.registry().parse_status(entry, profile, {**reply, "data": noisy})
        assert status.state is expected

    @_examples(20)
    @given(data=st.data())
    def test_extract_urls_returns_absolute_http_urls(
        self, model_profile: tuple[ModelEntry, Profile], data: st.DataObject
    ) -> None:
        entry, profile = model_profile
        documented = strategies.documented_status_replies(self.registry().dialect_of(entry, profile))
        reply, _, urls = data.draw(documented.filter(lambda drawn: drawn[1] is TaskState.SUCCEEDED))
        extracted = self.registry().extract_urls(entry, profile, reply)
        assert extracted, "a successful reply gave no result URL"
        for url in extracted:
            parts = urlsplit(url)
            assert parts.scheme in ("http", "https") and parts.netloc, f"{url!r} is not an absolute http(s) URL"
        assert list(extracted) == urls

    @_examples(20)  # per model and profile; the core fuzzes its reply parsers at length in its own tests
    @given(reply=strategies.replies)
    def test_parse_hooks_accept_or_raise_parse_error(
        self, model_profile: tuple[ModelEntry, Profile], reply: Any
    ) -> None:
        entry, profile = model_profile
        registry = self.registry()
        for parse in (registry.parse_submit, registry.parse_status, registry.extract_urls):
            try:
                result = parse(entry, profile, reply)
            except ParseError:
                continue
            assert isinstance(result, (str, TaskStatus, tuple))

    # -- end to end ----------------------------------------------------------------------------------

    def test_each_rule_is_refused_before_anything_is_sent(self, tmp_path: Path) -> None:
        """A request breaking one of a model's rules across parameters (:func:`~kiecore.testing.endtoend.
        rule_breaking_requests`) is refused by the client, naming the parameter, and the emulator hears nothing."""
        from kiecore.emulator import Emulator
        from kiecore.testing.endtoend import emulator_client, rule_breaking_requests

        registry = self.registry()
        cases = [
            (entry, profile, case)
            for entry in registry.models()
            for profile in entry.spec.profiles()
            for case in rule_breaking_requests(entry.spec, profile)
        ]
        if not cases:
            return  # no model of the plugin declares a rule across parameters
        with Emulator(registry) as emulator:
            for entry, profile, (rule, name, request) in cases:
                client = emulator_client(emulator.base_url, registry, profile)
                with client, pytest.raises(InvalidParameterError) as refused:
                    client.generate(entry.spec.id, request, output_dir=tmp_path)
                assert refused.value.parameter == name, (entry.spec.id, rule.reason)
            assert emulator.requests == []

    def test_generates_images_against_the_emulator(self, tmp_path: Path) -> None:
        from kiecore.testing.endtoend import generate_with_each_model

        files = generate_with_each_model(self.registry(), tmp_path)
        assert files, "no model produced a file"


def _parametrize(metafunc: pytest.Metafunc, name: str, values: Sequence[Any], missing: str) -> None:
    """Parametrise ``name`` by ``values`` (ids from their ``id``); skipped, saying why, when there are none."""
    if values:
        metafunc.parametrize(name, values, ids=[value.id for value in values])
    else:
        metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=missing))], ids=["none"])


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
    for param in wire.params:
        if param.default is not None and param.choices:
            assert param.default in param.choices, f"{model.id}.{param.name}: default {param.default!r} not allowed"
        for wire_value in param.value_map.values():
            assert not param.choices or wire_value in param.choices, f"{model.id}.{param.name}: {wire_value!r}"
    assert model.typical_seconds > 0 and model.max_images >= 1


def body_problems(model: ModelSpec, profile: Profile, request: WireRequest) -> list[str]:
    """Why the emulated service would refuse this create request (empty when it would accept it)."""
    from kiecore.emulator.validate import body_problems as service_problems

    wire = model.wire(profile)
    problems = [] if request.method == "POST" else [f"method {request.method}"]
    if request.path != wire.submit_path:
        problems.append(f"path {request.path} is not {wire.submit_path}")
    return problems + service_problems(wire, request.body)
