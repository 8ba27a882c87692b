"""`-n N` means N images on every model: a request for more than one task makes is split into several tasks
(kiecore/splitting.py), run together by `kie generate` and listed by `Client.task_requests`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiecore import Client, GenerationRequest, ModelSpec, Profile, stock
from kiecore.emulator import Emulator
from kiecore.errors import InvalidParameterError
from kiecore.splitting import MAX_TASKS, split_request

from .conftest import KieRunner

ONE = ModelSpec(id="t/one", title="t", family="t", live=stock.market_wire("t/one", stock.prompt()))
SEVERAL = ModelSpec(
    id="t/several", title="t", family="t", live=stock.market_wire("t/several", stock.prompt()), images_per_task=2
)
UP_TO_SIX = ModelSpec(
    id="t/six", title="t", family="t", live=stock.market_wire("t/six", stock.prompt(), stock.image_count(6))
)
CHOICES = ModelSpec(
    id="t/choices",
    title="t",
    family="t",
    live=stock.market_wire("t/choices", stock.prompt(), stock.image_count(choices=(1, 2, 4))),
)


def _counts(model: ModelSpec, images: int | None) -> list[int | None]:
    request = GenerationRequest(prompt="a fox", num_images=images)
    return [part.num_images for part in split_request(model, Profile.LIVE, request)]


@pytest.mark.parametrize(
    ("model", "images", "counts"),
    [
        (ONE, None, [None]),
        (ONE, 1, [1]),  # one task makes it: the request as it is
        (ONE, 3, [None, None, None]),  # no count to send
        (SEVERAL, 2, [2]),
        (SEVERAL, 3, [None, None]),  # two tasks of two: one image more than asked, none fewer
        (UP_TO_SIX, 6, [6]),
        (UP_TO_SIX, 8, [6, 2]),
        (UP_TO_SIX, 13, [6, 6, 1]),
        (CHOICES, 7, [4, 2, 1]),  # each task asks for a count the model takes
        (CHOICES, 8, [4, 4]),
    ],
)
def test_a_request_becomes_as_many_tasks_as_its_images_need(
    model: ModelSpec, images: int | None, counts: list[int | None]
) -> None:
    assert _counts(model, images) == counts


def test_every_task_keeps_the_rest_of_the_request() -> None:
    request = GenerationRequest(prompt="a fox", aspect_ratio="16:9", num_images=2, extra={"x": 1})
    first, second = split_request(ONE, Profile.LIVE, request)
    assert first == second == GenerationRequest(prompt="a fox", aspect_ratio="16:9", extra={"x": 1})


@pytest.mark.parametrize("images", [0, -1, MAX_TASKS + 1])
def test_no_images_or_too_many_tasks_is_refused(images: int) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        _counts(ONE, images)
    assert refused.value.parameter == "num_images" and "num_images" in str(refused.value)


def test_the_client_lists_the_tasks_of_a_request() -> None:
    with Client(api_key=None) as client:
        parts = client.task_requests("nano-banana-pro", "a fox", num_images=3)
        assert [part.prompt for part in parts] == ["a fox"] * 3
        assert client.task_requests("seedream", "a fox", num_images=8)[0].num_images == 6


def test_kie_generate_runs_a_task_per_image_on_a_one_image_model(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    code, out, err = kie("generate", "nbp", "a fox", "-n", "3", "-o", str(tmp_path), "--json")
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert len(results) == 3 and len({result["task_id"] for result in results}) == 3
    assert all(len(result["files"]) == 1 and Path(result["files"][0]).is_file() for result in results)
    assert len(kie_emulator.tasks) == 3


def test_a_dry_run_shows_each_task_and_their_total(kie: KieRunner, kie_emulator: Emulator) -> None:
    code, out, err = kie("generate", "nano-banana", "a fox", "-n", "3", "--dry-run")
    assert code == 0, err
    assert len(out.splitlines()) == 6  # a method and URL, then a body, per task
    assert "3 tasks of google/nano-banana, estimated cost 12 credits" in err and kie_emulator.requests == []


def test_one_output_file_for_several_tasks_is_refused(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    code, _, err = kie("generate", "nbp", "a fox", "-n", "2", "-O", str(tmp_path / "fox.png"))
    assert code == 2 and "-O FILE saves one image" in err and "use -o DIR" in err
    assert kie_emulator.requests == []
