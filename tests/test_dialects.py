"""Dialects as objects: the built-in ones are registered like plugins, and a plugin can bring its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiecore import hookimpl
from kiecore.client import Client
from kiecore.dialects import BUILTIN, WireDialect, for_reply
from kiecore.emulator import Emulator
from kiecore.errors import ParseError, PluginError, RateLimitedError
from kiecore.model import Profile, TaskState
from kiecore.registry import PluginInfo, Registry
from kiecore.retry import RetryPolicy
from kiecore.testing import strategies
from kiecore.testing.endtoend import check_image, emulator_client
from tests import acme_dialect, sample_plugin


@pytest.fixture
def registry() -> Registry:
    return Registry.from_plugins(
        (sample_plugin.plugin, PluginInfo("sample", "kiecore-sample-plugin", "0")),
        (acme_dialect.plugin, PluginInfo("acme", "kiecore-acme", "1.0")),
    )


def test_every_registry_holds_the_built_in_dialects() -> None:
    registry = Registry()
    assert [dialect.name for dialect in registry.dialects()] == list(BUILTIN)
    assert not registry.failures and registry.models() == []


def test_which_dialect_applies_is_answered_once(registry: Registry, kie_registry: Registry) -> None:
    four_o = kie_registry.resolve("gpt4o-image")
    assert kie_registry.dialect_of(four_o, Profile.LIVE) is BUILTIN["gpt4o"]
    assert kie_registry.dialect_of(four_o, Profile.REFERENCE) is BUILTIN["reference"]
    assert BUILTIN["gpt4o"].status_limited_per_task and not BUILTIN["reference"].status_limited_per_task
    assert registry.dialect_of(registry.resolve("acme/rocket"), Profile.LIVE) is acme_dialect.ACME


def test_a_plugin_brings_a_dialect_of_its_own(registry: Registry) -> None:
    rocket = registry.resolve("acme/rocket")
    done = {"code": 200, "msg": "ok", "data": {"job": "j1", "phase": "done", "images": ["https://cdn.acme/1.png"]}}
    assert registry.parse_status(rocket, Profile.LIVE, done).state is TaskState.SUCCEEDED
    assert registry.extract_urls(rocket, Profile.LIVE, done) == ("https://cdn.acme/1.png",)
    failed = {"code": 200, "data": {"job": "j1", "phase": "error", "reason": "melted"}}
    assert registry.parse_status(rocket, Profile.LIVE, failed).fail_message == "melted"
    with pytest.raises(ParseError):
        registry.parse_status(rocket, Profile.LIVE, {"code": 200, "data": {"job": "j1"}})


def test_a_dialect_name_cannot_be_claimed_twice() -> None:
    class Impostor(acme_dialect.AcmeDialect):
        name = "market"

    class Plugin:
        @hookimpl
        def register_dialects(self, register: Callable[[WireDialect], None]) -> None:
            register(Impostor())

    registry = Registry.from_plugins((Plugin(), PluginInfo("impostor", "kiecore-impostor", "1")))
    (failure,) = registry.failures
    assert "already provided by kiecore" in failure.error and registry.dialect("market") is BUILTIN["market"]


def test_a_model_naming_an_unknown_dialect_is_a_clear_plugin_error() -> None:
    registry = Registry.from_plugins((sample_plugin.plugin, PluginInfo("sample", "kiecore-sample-plugin", "0")))
    registry_without_acme = Registry.from_plugins(acme_dialect.DeclarativePlugin(acme_dialect.ROCKET))
    rocket = registry_without_acme.resolve("acme/rocket")
    with pytest.raises(PluginError, match="'acme' dialect"):
        registry_without_acme.parse_status(rocket, Profile.LIVE, {"code": 200, "data": {"phase": "done"}})
    assert registry.dialect("market") is BUILTIN["market"]


def test_the_declared_dialect_reads_first_and_a_clearly_other_shape_falls_back() -> None:
    live_market = {"state": "success", "successFlag": 1, "response": {"resultUrls": []}}
    assert for_reply(live_market, BUILTIN["market"], BUILTIN.values()) is BUILTIN["market"]
    four_o = {"successFlag": 1, "status": "SUCCESS", "progress": "1.00"}
    assert for_reply(four_o, BUILTIN["reference"], BUILTIN.values()) is BUILTIN["gpt4o"]
    callback = {"taskId": "t", "info": {"result_urls": ["https://c/x.png"]}}
    assert for_reply(callback, BUILTIN["gpt4o"], BUILTIN.values()) is BUILTIN["gpt4o"]


DIALECTS = [*BUILTIN.values(), acme_dialect.ACME]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_every_dialect_reads_its_own_examples(dialect: WireDialect) -> None:
    assert {state for _, state in dialect.examples()} >= {TaskState.SUCCEEDED, TaskState.FAILED}
    for data, state in dialect.examples():
        assert dialect.matches(data) and dialect.parse_status(data).state is state
        if state is TaskState.SUCCEEDED:
            urls = ["https://cdn.example/a.png"]
            assert dialect.extract_urls(dialect.with_result_urls(data, urls)) == urls


@given(data=st.data())
def test_the_kit_draws_documented_replies_of_any_dialect(data: st.DataObject) -> None:
    dialect = data.draw(st.sampled_from(DIALECTS))
    reply, state, urls = data.draw(strategies.documented_status_replies(dialect))
    assert dialect.parse_status(reply["data"]).state is state
    if state is TaskState.SUCCEEDED:
        assert dialect.extract_urls(reply["data"]) == urls


def test_a_plugins_dialect_generates_end_to_end_against_the_emulator(registry: Registry, tmp_path: Path) -> None:
    with Emulator(registry, task_seconds=0.2) as emulator, emulator_client(emulator.base_url, registry) as client:
        result = client.generate("acme/rocket", "a rocket", output_dir=tmp_path)
        queries = [r for r in emulator.requests if r.method == "GET" and r.path == "/acme/jobs/status"]
    assert result.handle.task_id.startswith("acme-") and len(result.files) == 1 and check_image(result.files[0])
    assert queries and all(r.query.startswith("job=") for r in queries)


@pytest.mark.parametrize(("profile", "limited"), [(Profile.LIVE, True), (Profile.REFERENCE, False)])
def test_the_emulator_limits_status_per_task_exactly_where_the_client_does(
    kie_emulator: Emulator, kie_registry: Registry, profile: Profile, limited: bool
) -> None:
    entry = kie_registry.resolve("gpt4o-image")
    assert kie_registry.dialect_of(entry, profile).status_limited_per_task is limited
    kie_emulator.enforce_limits = True
    try:
        with Client(
            api_key="sk-limits",
            base_url=kie_emulator.base_url,
            registry=kie_registry,
            rate_limits=None,
            retry=RetryPolicy(attempts=1),
            profile=profile,
        ) as client:
            handle = client.submit("gpt4o-image", prompt="a fox")
            refused = 0
            for _ in range(5):  # the per-task limit is 3 per second; the per-key one, 10
                try:
                    client.status(handle)
                except RateLimitedError:
                    refused += 1
    finally:
        kie_emulator.enforce_limits = False
    assert (refused > 0) is limited
