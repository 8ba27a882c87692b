"""docs/writing-a-plugin.md builds a working plugin: `kie plugin new wan` writes what the guide says it writes, the
guide's code blocks go in over it, and the result is listed by `kie models` through its entry point and passes its
tests (the conformance suite over its recorded cases)."""

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
#: The output the guide shows for `kie plugin new wan`.
OUTPUT = re.compile(r"^```sh\nkie plugin new wan\n```\n\n```text\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _env(*paths: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KIE_", "KIECORE_"))}
    environ["KIECORE_JOURNAL"] = os.environ["KIECORE_JOURNAL"]
    return {**environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """``kie plugin new wan`` run as the guide runs it: the folder it wrote, and each file's text as written."""
    where = tmp_path_factory.mktemp("walkthrough")
    done = subprocess.run(
        [sys.executable, "-m", "kiecore", "plugin", "new", "wan"],
        cwd=where,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    shown = OUTPUT.search(GUIDE.read_text())
    assert shown is not None, "the guide shows no output of `kie plugin new wan`"
    assert done.stdout == shown.group(1)
    root = where / "kiecore-wan"
    files = {str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*")) if path.is_file()}
    return root, files


@pytest.fixture(scope="module")
def plugin_dir(generated: tuple[Path, dict[str, str]]) -> Path:
    """The generated distribution with the guide's files in place of the generated ones."""
    root, files = generated
    blocks = BLOCK.findall(GUIDE.read_text())
    assert {name for name, _ in blocks} == {
        "pyproject.toml",
        "kiecore_wan/__init__.py",
        "tests/test_wan.py",
        "tests/replies/wan.json",
    }
    for name, text in blocks:
        assert name in files, f"the guide shows {name}, which kie plugin new does not write"
        (root / name).write_text(text)
    return root


def test_the_guide_shows_the_pyproject_and_the_tree_kie_plugin_new_writes(
    generated: tuple[Path, dict[str, str]],
) -> None:
    _, files = generated
    guide = GUIDE.read_text()
    assert dict(BLOCK.findall(guide))["pyproject.toml"] == files["pyproject.toml"]
    tree = re.search(r"^```\nkiecore-wan/\n(.*?)^```", guide, re.MULTILINE | re.DOTALL)
    assert tree is not None
    assert sorted(line.split()[0] for line in tree.group(1).splitlines()) == sorted(files)


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
    dist_info = plugin_dir / f"kiecore_wan-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[kiecore.plugins]\n{name} = {target}\n")
    done = subprocess.run(
        [sys.executable, "-m", "kiecore", "models", "wan-image"],
        env=_env(plugin_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "wan/2-7-image" in done.stdout and "kiecore-wan 0.1.0" in done.stdout
    assert "failed to load" not in done.stderr
