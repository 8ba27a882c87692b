"""Plugin discovery and routing: broken plugins, and plugins built for another kiecore, are reported, not fatal;
names collide loudly; every hook call can be traced."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import kiecore.version
from kiecore import loading
from kiecore.errors import ParseError, PluginError, UnknownModelError
from kiecore.hookspecs import hookimpl
from kiecore.model import GenerationRequest, Profile
from kiecore.plugin import DeclarativePlugin
from kiecore.registry import PluginInfo, Registry
from tests.sample_plugin import FLUX, FOUR_O, MARKET


class FakeDist:
    """A distribution whose core metadata says ``name``, version 1.0 and ``requires`` (Requires-Dist lines)."""

    def __init__(self, name: str, requires: list[str] | None = None) -> None:
        lines = [f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {line}" for line in requires or ())]
        self.metadata = "Metadata-Version: 2.1\n" + "\n".join(lines) + "\n\nThe description.\nName: not a field\n"

    def read_text(self, filename: str) -> str | None:
        return self.metadata if filename == "METADATA" else None


class FakeEntryPoint:
    def __init__(self, name: str, target: Any, dist: str, requires: list[str] | None = None) -> None:
        self.name = name
        self._target = target
        self.dist = FakeDist(dist, requires)
        self.loaded = False

    def load(self) -> Any:
        self.loaded = True
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


@pytest.fixture
def core_version(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Pretend the running kiecore is another version."""
    return lambda value: monkeypatch.setattr(kiecore.version, "__version__", value)


def test_a_plugin_built_for_another_kiecore_is_refused_before_it_is_imported(
    entry_points: list[FakeEntryPoint], core_version: Callable[[str], None]
) -> None:
    core_version("0.2.0")
    old = FakeEntryPoint("old", DeclarativePlugin(MARKET), "kiecore-old", ["kiecore<0.2,>=0.1"])
    ahead = FakeEntryPoint("ahead", DeclarativePlugin(FOUR_O), "kiecore-ahead", ["attrs>=23", "kiecore (>=0.3)"])
    fits = FakeEntryPoint("fits", DeclarativePlugin(FLUX), "kiecore-fits", ["kiecore>=0.2,<0.3"])
    entry_points += [old, ahead, fits]
    registry = loading.load_registry({})
    assert [entry.spec.id for entry in registry.models()] == ["test/flux"]
    assert [failure.error for failure in registry.failures] == [
        "kiecore-old 1.0 needs kiecore <0.2,>=0.1; this is kiecore 0.2.0: upgrade the plugin",
        "kiecore-ahead 1.0 needs kiecore >=0.3; this is kiecore 0.2.0: upgrade kiecore",
    ]
    assert not old.loaded and not ahead.loaded and fits.loaded


@pytest.mark.parametrize(
    "requires",
    [
        None,  # no metadata at all
        [],
        ["attrs>=23.1"],  # no kiecore requirement
        ["kiecore"],  # any version
        ["kiecore-seedream<0.1"],  # another distribution
        ['kiecore<0.1; extra == "legacy"'],  # only with an extra
        ["kiecore>=0.1.0a1"],  # beyond the small check: the installer enforced it
        ["kiecore @ https://example.org/kiecore.whl"],
    ],
)
def test_ranges_that_do_not_exclude_this_kiecore_load(
    entry_points: list[FakeEntryPoint], core_version: Callable[[str], None], requires: list[str] | None
) -> None:
    core_version("0.2.0")
    entry_points.append(FakeEntryPoint("one", DeclarativePlugin(MARKET), "kiecore-one", requires))
    registry = loading.load_registry({})
    assert not registry.failures
    assert [entry.spec.id for entry in registry.models()] == ["test/market"]


def test_an_uninstalled_kiecore_refuses_no_plugin(
    entry_points: list[FakeEntryPoint], core_version: Callable[[str], None]
) -> None:
    core_version(kiecore.version.UNKNOWN_VERSION)
    entry_points.append(FakeEntryPoint("one", DeclarativePlugin(MARKET), "kiecore-one", ["kiecore>=0.1,<0.2"]))
    assert [entry.spec.id for entry in loading.load_registry({}).models()] == ["test/market"]


def test_a_disabled_plugin_is_not_checked_either(
    entry_points: list[FakeEntryPoint], core_version: Callable[[str], None]
) -> None:
    core_version("0.2.0")
    entry_points.append(FakeEntryPoint("old", DeclarativePlugin(MARKET), "kiecore-old", ["kiecore<0.1"]))
    assert not loading.load_registry({"KIECORE_DISABLE_PLUGINS": "old"}).failures


@pytest.mark.parametrize(
    ("requirement", "advice"),
    [
        ("kiecore<0.2", "upgrade the plugin"),
        ("kiecore~=0.1.0", "upgrade the plugin"),
        ("kiecore==0.1.*", "upgrade the plugin"),
        ("kiecore>0.2", "upgrade kiecore"),
        ("kiecore~=0.3", "upgrade kiecore"),
        ("kiecore!=0.2.0", "install another version of kiecore or of the plugin"),
    ],
)
def test_the_refusal_says_which_side_to_upgrade(requirement: str, advice: str) -> None:
    info = PluginInfo("foo", "kiecore-foo", "1.0")
    message = loading.incompatibility(info, [requirement], "0.2.0")
    assert message == f"kiecore-foo 1.0 needs kiecore {requirement[len('kiecore') :]}; this is kiecore 0.2.0: {advice}"


def test_the_installed_plugins_all_fit_this_kiecore() -> None:
    registry = loading.load_registry({})
    assert not [failure for failure in registry.failures if "needs kiecore" in failure.error]


def _trace_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "kiecore.plugins"]


def test_tracing_logs_every_hook_call_with_its_result(
    entry_points: list[FakeEntryPoint], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kiecore.plugins")
    entry_points += [
        FakeEntryPoint("market", DeclarativePlugin(MARKET), "kiecore-market"),
        FakeEntryPoint("bad", Misbehaving(FLUX), "kiecore-bad"),
    ]
    registry = loading.load_registry({"KIECORE_TRACE_PLUGINS": "1"})
    lines = _trace_lines(caplog)
    assert [line.split("(")[0] for line in lines] == ["register_models", "register_dialects"] * 2
    assert lines[0].endswith("[market] -> []")  # not a firstresult hook: the list of answers

    caplog.clear()
    registry.parse_submit(registry.resolve("test/market"), Profile.LIVE, {"code": 200, "data": {"taskId": "t-1"}})
    (line,) = _trace_lines(caplog)
    assert line.startswith("parse_submit(model=ModelSpec(id='test/market'")
    assert "reply={'code': 200, 'data': {'taskId': 't-1'}}" in line
    assert line.endswith("[market] -> 't-1'")

    caplog.clear()
    with pytest.raises(ParseError):
        registry.parse_status(registry.resolve("test/flux"), Profile.LIVE, {"code": 200, "data": {}})
    (line,) = _trace_lines(caplog)
    assert line.startswith("parse_status(") and line.endswith("[bad] raised KeyError: 'nope'")


def test_no_tracing_unless_asked(entry_points: list[FakeEntryPoint], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kiecore.plugins")
    entry_points.append(FakeEntryPoint("market", DeclarativePlugin(MARKET), "kiecore-market"))
    for value in (None, "", "0", "no"):
        registry = loading.load_registry({} if value is None else {"KIECORE_TRACE_PLUGINS": value})
        registry.parse_submit(registry.resolve("test/market"), Profile.LIVE, {"code": 200, "data": {"taskId": "t"}})
    assert _trace_lines(caplog) == []


def test_a_logger_turned_down_after_tracing_started_gets_nothing(
    entry_points: list[FakeEntryPoint], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kiecore.plugins")
    entry_points.append(FakeEntryPoint("market", DeclarativePlugin(MARKET), "kiecore-market"))
    registry = loading.load_registry({"KIECORE_TRACE_PLUGINS": "on"})
    caplog.clear()
    logging.getLogger("kiecore.plugins").setLevel(logging.INFO)
    registry.parse_submit(registry.resolve("test/market"), Profile.LIVE, {"code": 200, "data": {"taskId": "t"}})
    assert _trace_lines(caplog) == []


TRACE_PROBE = """
import kiecore.loading as loading
loading.load_registry({"KIECORE_TRACE_PLUGINS": "1"})
"""


def test_tracing_goes_to_stderr_when_logging_is_not_configured() -> None:
    done = subprocess.run([sys.executable, "-c", TRACE_PROBE], capture_output=True, text=True, check=True)
    assert "kiecore.plugins: register_models(register=" in done.stderr


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
