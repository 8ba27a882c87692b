"""Plugin discovery and routing: broken plugins are reported, not fatal; names collide loudly."""

from __future__ import annotations

from typing import Any

import pytest

from kiecore import loading
from kiecore.declarative import DeclarativePlugin
from kiecore.errors import ParseError, PluginError, UnknownModelError
from kiecore.hookspecs import hookimpl
from kiecore.model import GenerationRequest, Profile
from kiecore.registry import PluginInfo, Registry
from tests.sample_plugin import FLUX, FOUR_O, MARKET


class FakeDist:
    def __init__(self, name: str) -> None:
        self.name = name
        self.version = "1.0"


class FakeEntryPoint:
    def __init__(self, name: str, target: Any, dist: str) -> None:
        self.name = name
        self._target = target
        self.dist = FakeDist(dist)

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> list[FakeEntryPoint]:
    points: list[FakeEntryPoint] = []
    monkeypatch.setattr(loading.importlib_metadata, "entry_points", lambda group: points)
    return points


def test_a_broken_plugin_is_reported_and_the_others_load(entry_points: list[FakeEntryPoint]) -> None:
    entry_points += [
        FakeEntryPoint("broken", ImportError("No module named 'missing_dep'"), "kiecore-broken"),
        FakeEntryPoint("good", DeclarativePlugin(MARKET), "kiecore-good"),
    ]
    registry = loading.load_registry({})
    assert [entry.spec.id for entry in registry.models()] == ["test/market"]
    assert registry.failures[0].plugin.distribution == "kiecore-broken"
    assert "missing_dep" in registry.failures[0].error


def test_allow_and_deny_lists(entry_points: list[FakeEntryPoint]) -> None:
    entry_points += [
        FakeEntryPoint("one", DeclarativePlugin(MARKET), "kiecore-one"),
        FakeEntryPoint("two", DeclarativePlugin(FLUX), "kiecore-two"),
    ]

    def ids(env: dict[str, str]) -> list[str]:
        return [entry.spec.id for entry in loading.load_registry(env).models()]

    assert ids({}) == ["test/flux", "test/market"]
    assert ids({"KIECORE_LOAD_PLUGINS": "two"}) == ["test/flux"]
    assert ids({"KIECORE_LOAD_PLUGINS": "kiecore-one"}) == ["test/market"]
    assert ids({"KIECORE_LOAD_PLUGINS": ""}) == []
    assert ids({"KIECORE_DISABLE_PLUGINS": "one, kiecore-two"}) == []


def test_a_name_claimed_twice_names_both_distributions() -> None:
    registry = Registry.from_plugins(
        (DeclarativePlugin(MARKET), PluginInfo("a", "kiecore-a", "1")),
        (DeclarativePlugin(MARKET, FLUX), PluginInfo("b", "kiecore-b", "2")),
    )
    with pytest.raises(PluginError, match="kiecore-a 1 and kiecore-b 2"):
        registry.resolve("test/market")
    with pytest.raises(PluginError):
        registry.resolve("market")  # the alias too
    assert registry.resolve("test/flux").plugin.distribution == "kiecore-b"
    assert set(registry.conflicts) == {"test/market", "market"}


def test_unknown_models_get_suggestions() -> None:
    registry = Registry.from_plugins(DeclarativePlugin(MARKET, FOUR_O))
    with pytest.raises(UnknownModelError, match="did you mean test/market"):
        registry.resolve("test/markt")
    assert registry.resolve("TEST/MARKET").spec is MARKET


class Misbehaving(DeclarativePlugin):
    @hookimpl
    def parse_status(self, reply: Any) -> Any:
        return reply["data"]["nope"]  # KeyError on anything else

    @hookimpl
    def build_request(self, model: Any, profile: Any, params: Any, request: Any) -> Any:
        return {"not": "a WireRequest"}


def test_hook_results_and_errors_are_checked() -> None:
    registry = Registry.from_plugins(Misbehaving(MARKET))
    entry = registry.resolve("test/market")
    with pytest.raises(ParseError, match="could not parse"):
        registry.parse_status(entry, Profile.LIVE, {"code": 200, "data": {}})
    with pytest.raises(PluginError, match="expected WireRequest"):
        registry.build_request(entry, Profile.LIVE, {"prompt": "x"}, GenerationRequest(prompt="x"))


class Typo:
    @hookimpl
    def parse_stauts(self, reply: Any) -> None:  # not a hook
        return None


class RaisesOnRegister:
    @hookimpl
    def register_models(self, register: Any) -> None:
        raise RuntimeError("bad declaration")


def test_malformed_plugins_fail_to_load_without_breaking_the_registry() -> None:
    registry = Registry.from_plugins(
        (Typo(), PluginInfo("typo")), (RaisesOnRegister(), PluginInfo("raises")), DeclarativePlugin(FLUX)
    )
    assert [failure.plugin.name for failure in registry.failures] == ["typo", "raises"]
    assert [entry.spec.id for entry in registry.models()] == ["test/flux"]


def test_hooks_are_routed_to_the_owning_plugin_only() -> None:
    calls: list[str] = []

    class Spy(DeclarativePlugin):
        @hookimpl
        def parse_submit(self, reply: Any) -> str:
            calls.append(self.models[0].id)
            return "id"

    registry = Registry.from_plugins(Spy(MARKET), Spy(FLUX))
    registry.parse_submit(registry.resolve("test/flux"), Profile.LIVE, {})
    assert calls == ["test/flux"]


@pytest.fixture
def kie_plugin() -> object:
    return DeclarativePlugin(FLUX)


def test_the_kit_gives_a_registry_of_the_plugin_under_test_only(kie_plugin_registry: Registry) -> None:
    assert [entry.spec.id for entry in kie_plugin_registry.models()] == ["test/flux"]
