"""A model that takes no prompt (Topaz's upscaler): `kie generate MODEL --image FILE` with no PROMPT, a prompt
refused for it, and PROMPT still required by the models that need one."""

from __future__ import annotations

import json
from pathlib import Path

from kiecore.emulator import Emulator
from kiecore.testing.endtoend import check_image

from .conftest import KieRunner


def _photo(tmp_path: Path) -> Path:
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 24), (200, 10, 10)).save(photo)
    return photo


def test_a_model_without_a_prompt_generates_from_an_image_alone(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    code, out, err = kie("generate", "topaz", "--image", str(_photo(tmp_path)), "-o", str(tmp_path / "out"), "--json")
    assert code == 0, err
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert check_image(Path(result["files"][0]))
    (task,) = kie_emulator.tasks.values()
    assert "prompt" not in task.body["input"] and task.body["input"]["upscale_factor"] == "2"


def test_a_prompt_is_refused_by_a_model_that_takes_none(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    code, _, err = kie("generate", "topaz", "bigger", "--image", str(_photo(tmp_path)))
    assert code == 2 and "PROMPT is not supported by topaz/image-upscale" in err and kie_emulator.requests == []


def test_a_model_that_needs_a_prompt_still_says_so(kie: KieRunner, kie_emulator: Emulator) -> None:
    code, _, err = kie("generate", "nbp")
    assert (code, err) == (2, "kie: error: PROMPT is required by nano-banana-pro\n") and kie_emulator.requests == []
