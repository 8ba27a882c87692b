"""`kie demo` (what `make demo` runs) writes one valid image per installed model."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiecore.cli import main
from kiecore.registry import Registry
from kiecore.testing.endtoend import check_image


def test_the_demo_writes_an_image_per_model(
    tmp_path: Path, kie_registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", str(tmp_path)]) == 0
    paths = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert len(paths) == len(kie_registry.models()) >= 11
    assert all(check_image(path) for path in paths)
    assert {path.parent.name for path in paths} == {m.spec.id.replace("/", "_") for m in kie_registry.models()}


def test_the_demo_command_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "demo" in capsys.readouterr().out
