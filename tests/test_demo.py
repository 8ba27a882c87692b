"""`kie demo` (what `make demo` runs) writes one valid image per installed model."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiecore.cli import generate_command, main
from kiecore.model import Profile
from kiecore.pricing import image_count
from kiecore.registry import Registry
from kiecore.testing.endtoend import check_image, example_request
from kiecore.validation import resolve_params


def test_the_demo_writes_an_image_per_model(
    tmp_path: Path, kie_registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emulator's time scale, not its demo pace: a tenth of a second per task, polled as often.
    monkeypatch.setattr(generate_command, "EMULATOR_TASK_SECONDS", 0.1)
    monkeypatch.setattr(generate_command, "EMULATOR_POLL_INTERVAL", 0.05)
    assert main(["demo", str(tmp_path)]) == 0
    paths = [Path(line) for line in capsys.readouterr().out.splitlines()]
    made = {  # one task per model, of the smallest request; some models make several images per task
        m.spec.id: image_count(
            m.spec, Profile.LIVE, resolve_params(m.spec, Profile.LIVE, example_request(m.spec, Profile.LIVE))
        )
        for m in kie_registry.models()
    }
    assert len(made) >= 11 and len(paths) == sum(count or 1 for count in made.values())
    assert all(check_image(path) for path in paths)
    assert {path.parent.name for path in paths} == {m.spec.id.replace("/", "_") for m in kie_registry.models()}


def test_the_demo_command_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "demo" in capsys.readouterr().out
