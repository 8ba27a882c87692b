"""Rules across parameters (`Rule`, `Match` in kiecore/declarations.py): refused before anything is sent,
shown by `kie models`, kept by the kit's valid requests, and, if a body that breaks one reaches the emulator,
taken and failed there as Kie takes, charges for and fails it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from kiecore import (
    DeclarativePlugin,
    GenerationRequest,
    Match,
    ModelSpec,
    ParamKind,
    ParamSpec,
    Profile,
    Rule,
    TaskHandle,
    stock,
)
from kiecore.emulator import Emulator
from kiecore.errors import InvalidParameterError, TaskFailedError
from kiecore.registry import PluginInfo, Registry
from kiecore.testing.endtoend import emulator_client
from kiecore.testing.strategies import valid_requests
from kiecore.validation import resolve_params

RULES = (
    Rule(when={"aspect_ratio": "1:1"}, then={"resolution": ("1K", "2K")}, reason="1:1 cannot be 4K"),
    Rule(when={"aspect_ratio": "auto"}, then={"resolution": "1K"}, reason="auto is 1K only"),
    Rule(
        when={"image": Match()},
        then={"tolerance": Match(minimum=0, maximum=2)},
        reason="edits allow tolerance 0-2",
    ),
)
MODEL = ModelSpec(
    id="t/ruled",
    title="t",
    family="t",
    live=stock.market_wire(
        "t/ruled",
        stock.prompt(),
        stock.aspect_ratio("auto", "1:1", "16:9", default="auto"),
        stock.resolution("1K", "2K", "4K", default="1K"),
        ParamSpec(name="image", kind=ParamKind.URL, common="image_urls"),
        ParamSpec(name="tolerance", kind=ParamKind.INTEGER, minimum=0, maximum=6, default=2),
        rules=RULES,
    ),
)
REGISTRY = Registry.from_plugins((DeclarativePlugin(MODEL), PluginInfo("test", "kiecore-test", "0")))


def _params(**fields: Any) -> dict[str, Any]:
    return resolve_params(MODEL, Profile.LIVE, GenerationRequest(prompt="x", **fields))


@pytest.mark.parametrize(
    ("fields", "accepted"),
    [
        ({"aspect_ratio": "16:9", "resolution": "4K"}, True),
        ({"aspect_ratio": "1:1", "resolution": "2K"}, True),
        ({"aspect_ratio": "1:1", "resolution": "4K"}, False),
        ({"resolution": "2K"}, False),  # the default ratio, auto, counts though it is not sent
        ({}, True),  # both defaults: auto at 1K
        ({"aspect_ratio": "16:9", "image_urls": ("https://e.example/a.png",), "extra": {"tolerance": 2}}, True),
        ({"aspect_ratio": "16:9", "image_urls": ("https://e.example/a.png",), "extra": {"tolerance": 5}}, False),
        ({"aspect_ratio": "16:9", "extra": {"tolerance": 5}}, True),  # no image: no edit
    ],
)
def test_a_request_that_breaks_a_rule_is_refused_naming_the_parameter(fields: dict[str, Any], accepted: bool) -> None:
    if accepted:
        _params(**fields)
        return
    with pytest.raises(InvalidParameterError) as refused:
        _params(**fields)
    error = refused.value
    assert error.parameter in ("resolution", "tolerance") and error.parameter in str(error)
    assert "is not accepted by t/ruled with" in str(error) and "allowed:" in str(error)


def test_the_message_shows_the_values_that_met_the_rule() -> None:
    with pytest.raises(InvalidParameterError) as refused:
        _params(resolution="4K", aspect_ratio="1:1")
    assert str(refused.value) == (
        "resolution='4K' is not accepted by t/ruled with aspect_ratio=1:1 (1:1 cannot be 4K); allowed: 1K or 2K"
    )
    assert refused.value.common == "resolution"  # `kie` names it --resolution


def test_nothing_is_sent_for_a_request_that_breaks_a_rule(kie_emulator_for: Callable[[Registry], Emulator]) -> None:
    emulator = kie_emulator_for(REGISTRY)
    with emulator_client(emulator.base_url, REGISTRY) as client, pytest.raises(InvalidParameterError):
        client.generate("t/ruled", "a fox", aspect_ratio="1:1", resolution="4K", download=False)
    assert emulator.requests == [] and emulator.tasks == {}


def test_the_emulator_takes_a_body_that_breaks_a_rule_and_fails_its_task(
    kie_emulator_for: Callable[[Registry], Emulator],
) -> None:
    emulator = kie_emulator_for(REGISTRY)
    body = {"model": "t/ruled", "input": {"prompt": "a fox", "aspect_ratio": "1:1", "resolution": "4K"}}
    reply = urllib3.request(
        "POST",
        f"{emulator.base_url}/api/v1/jobs/createTask",
        json=body,
        headers={"Authorization": "Bearer test-key"},
    ).json()
    assert reply["code"] == 200
    task_id = reply["data"]["taskId"]
    with emulator_client(emulator.base_url, REGISTRY) as client, pytest.raises(TaskFailedError) as failed:
        client.wait(TaskHandle(model="t/ruled", task_id=task_id), timeout=10)
    assert "resolution: 1:1 cannot be 4K" in str(failed.value)


@given(data=st.data())
def test_the_kits_valid_requests_keep_every_rule(data: st.DataObject) -> None:
    request = data.draw(valid_requests(MODEL))
    params = resolve_params(MODEL, Profile.LIVE, request)
    assert MODEL.live.broken_rule(params) is None


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: Rule(when={}, then={"resolution": "1K"}, reason="r"), "at least one"),
        (
            lambda: stock.market_wire(
                "t/x", stock.prompt(), rules=(Rule(when={"ratio": "1:1"}, then={"prompt": "x"}, reason="r"),)
            ),
            "'ratio', which is not a declared parameter",
        ),
    ],
)
def test_a_malformed_rule_is_refused(make: Callable[[], object], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        make()


def test_matches_describe_what_passes() -> None:
    assert Match(values=("1K", "2K")).describe() == "1K or 2K"
    assert Match(values=("a", "b", "c")).describe() == "a, b or c"
    assert Match(minimum=0, maximum=2).describe() == "0..2"
    assert Match().describe() == "set" and Match().holds(0) and not Match().holds(None)
    assert not Match(values=(1,)).holds(True)  # True == 1, but a flag is no count
    assert not Match(minimum=0, maximum=2).holds("1")


def test_kie_models_lists_a_models_rules(
    kie_emulator_for: Callable[[Registry], Emulator], capsys: pytest.CaptureFixture[str]
) -> None:
    from kiecore.cli import main

    assert main(["models", "gpt-image-2"]) == 0
    out = capsys.readouterr().out
    assert "(with aspect_ratio=1:1: resolution 1K or 2K only; 1:1 cannot be 4K)" in out
