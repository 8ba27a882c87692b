"""docs/writing-a-plugin.md builds a working plugin: its code blocks are extracted, installed as an
entry point, listed by `kie models`, and its tests (the conformance suite over its recorded cases) pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

GUIDE = Path(__file__).parent.parent / "docs" / "writing-a-plugin.md"
BLOCK = re.compile(r"^```\w+ file=(\S+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kiecore-nano-banana-2")
    blocks = BLOCK.findall(GUIDE.read_text())
    assert {name for name, _ in blocks} == {
        "pyproject.toml",
        "kiecore_nano_banana_2/__init__.py",
        "tests/test_nano_banana_2.py",
        "tests/replies/nano_banana_2.json",
    }
    for name, text in blocks:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _env(*paths: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KIE_", "KIECORE_"))}
    environ["KIECORE_JOURNAL"] = os.environ["KIECORE_JOURNAL"]
    return {**environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}


def test_the_guides_tests_pass(plugin_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-v", "-p", "no:cacheprovider"],
        cwd=plugin_dir,
        env=_env(plugin_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout
    for test in ("test_recorded_case[", "test_recorded_model[", "test_recorded_refusal["):
        assert test in done.stdout, f"the guide's recorded cases give no {test}...]"


def test_the_guides_entry_point_makes_kie_list_the_model(plugin_dir: Path) -> None:
    project = tomllib.loads((plugin_dir / "pyproject.toml").read_text())["project"]
    ((name, target),) = project["entry-points"]["kiecore.plugins"].items()
    dist_info = plugin_dir / f"kiecore_nano_banana_2-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[kiecore.plugins]\n{name} = {target}\n")
    done = subprocess.run(
        [sys.executable, "-m", "kiecore", "models", "nb2"],
        env=_env(plugin_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "nano-banana-2" in done.stdout and "kiecore-nano-banana-2 0.1.0" in done.stdout
    assert "failed to load" not in done.stderr
