"""Packaging: the version in one place, the kiecore range check, and the metadata every distribution carries."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import kiecore
from kiecore import version
from kiecore.version import Mismatch, admits, mismatch, release, required_range

ROOT = Path(__file__).resolve().parent.parent
CORE = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PLUGINS = sorted((ROOT / "plugins").glob("*/pyproject.toml"))


# -- the version -------------------------------------------------------------------------------------------


def test_the_version_is_pyprojects_read_through_the_installed_metadata() -> None:
    assert kiecore.__version__ == version.__version__ == metadata.version("kiecore") == CORE["version"]


def test_a_distribution_that_is_not_installed_has_the_unknown_version() -> None:
    assert version.installed_version("kiecore-no-such-distribution") == version.UNKNOWN_VERSION == "0+unknown"


def test_the_transport_takes_the_version_from_the_version_module() -> None:
    from kiecore import transport

    tree = ast.parse((ROOT / "kiecore" / "transport.py").read_text())
    face_imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "kiecore"]
    assert not face_imports
    assert transport.USER_AGENT.split("/") == ["kiecore", version.__version__]


# -- the range check ---------------------------------------------------------------------------------------

TOO_OLD, TOO_NEW, EXCLUDED = Mismatch.TOO_OLD, Mismatch.TOO_NEW, Mismatch.EXCLUDED


@pytest.mark.parametrize(
    ("specifier", "installed", "expected"),
    [
        (">=0.1,<0.2", "0.1.0", None),
        (">=0.1,<0.2", "0.1.9", None),
        (">=0.1,<0.2", "0.2.0", TOO_NEW),
        (">=0.1,<0.2", "0.0.9", TOO_OLD),
        ("<0.2, >=0.1", "0.2", TOO_NEW),  # metadata's order, spaces
        ("<=0.2", "0.2.0", None),
        ("<=0.2", "0.2.1", TOO_NEW),
        (">0.2", "0.2.0", TOO_OLD),  # equal is not above
        (">0.2", "0.2.1", None),
        ("==0.1", "0.1.0", None),  # missing parts are zero
        ("==0.1.0", "0.1.1", TOO_NEW),
        ("==0.1.1", "0.1.0", TOO_OLD),
        ("==0.1.*", "0.1.7", None),
        ("==0.1.*", "0.2.0", TOO_NEW),
        ("==0.1.*", "0.0.9", TOO_OLD),
        ("!=0.1.3", "0.1.3", EXCLUDED),
        ("!=0.1.3", "0.1.4", None),
        ("!=0.1.*", "0.1.4", EXCLUDED),
        ("!=0.1.*", "0.2", None),
        ("~=0.1", "0.9", None),  # >=0.1, ==0.*
        ("~=0.1", "1.0", TOO_NEW),
        ("~=0.1.2", "0.1.5", None),  # >=0.1.2, ==0.1.*
        ("~=0.1.2", "0.1.1", TOO_OLD),
        ("~=0.1.2", "0.2.0", TOO_NEW),
        (">=0.1,<0.2", "0.1.0rc1", None),  # suffixes and local labels are ignored
        (">=0.1,<0.2", "0.2.0.dev3", TOO_NEW),
        (">=0.1,<0.2", "0.1.0+local.7", None),
        (">=0.1,<0.2", "v0.1.0", None),
        ("", "9.9", None),  # no range
        (">=0.3,<0.2", "0.2.5", TOO_OLD),  # an empty range: the first clause failed is reported
    ],
)
def test_mismatch(specifier: str, installed: str, expected: Mismatch | None) -> None:
    assert mismatch(specifier, installed) is expected
    assert admits(specifier, installed) is (expected is None)


@pytest.mark.parametrize(
    ("specifier", "installed"),
    [
        (">=0.1.0a1", "0.1.0"),  # pre-release bounds are beyond the small check
        ("===0.1", "0.1"),
        (">=0.1,", "0.1"),  # an empty clause
        ("~=1", "1.0"),  # ~= needs two parts
        (">=0.*", "0.1"),  # a wildcard only with == and !=
        ("0.1", "0.1"),  # no operator
        (">=0.1", "1!2.0"),  # epochs
        (">=0.1", "unknown"),
        (">=0.1", ""),
    ],
)
def test_what_the_check_cannot_read_raises_value_error(specifier: str, installed: str) -> None:
    with pytest.raises(ValueError):
        mismatch(specifier, installed)


def test_release() -> None:
    assert release("0.2.0rc1") == (0, 2, 0)
    assert release("1.10.3.post2") == (1, 10, 3)
    assert release(version.UNKNOWN_VERSION) == (0,)


_numbers = st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=3)
_versions = _numbers.map(lambda parts: ".".join(map(str, parts)))
_operators = st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "~=", "==*", "!=*"])


def _clause(operator: str, parts: list[int]) -> str:
    if operator.endswith("*"):
        return f"{operator[:-1]}{'.'.join(map(str, parts))}.*"
    if operator == "~=" and len(parts) < 2:
        parts = [*parts, 0]
    return f"{operator}{'.'.join(map(str, parts))}"


@given(st.lists(st.tuples(_operators, _numbers), min_size=1, max_size=3), _versions)
def test_the_check_agrees_with_packaging(clauses: list[tuple[str, list[int]]], installed: str) -> None:
    specifiers: Any = pytest.importorskip("packaging.specifiers")  # pytest needs packaging, so tests have it
    specifier = ",".join(_clause(operator, parts) for operator, parts in clauses)
    assert admits(specifier, installed) is specifiers.SpecifierSet(specifier).contains(installed)


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("kiecore<0.2,>=0.1", "<0.2,>=0.1"),
        ("kiecore (>=0.1, <0.2)", ">=0.1, <0.2"),
        ("KieCore_ >=0.1", None),  # not a requirement line
        ("Kie.Core>=0.1", None),  # another distribution once normalised (kie-core)
        ("kiecore[testing]>=0.1; python_version >= '3.11'", ">=0.1"),  # markers other than extras count
        ('kiecore>=0.1; extra == "dev"', None),
        ("kiecore", None),
        ("kiecore @ https://example.org/kiecore-0.1.0-py3-none-any.whl", None),
        ("kiecore-seedream>=0.1", None),
        ("attrs>=23", None),
    ],
)
def test_required_range(requirement: str, expected: str | None) -> None:
    assert required_range(requirement, "kiecore") == expected


def test_required_range_normalises_names() -> None:
    assert required_range("Kiecore_Seedream>=1", "kiecore-seedream") == ">=1"


# -- distribution metadata ---------------------------------------------------------------------------------


def _pyproject(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(path.read_text())
    return data


@pytest.mark.parametrize("path", PLUGINS, ids=lambda path: path.parent.name)
def test_each_plugin_declares_a_bounded_kiecore_range_that_admits_this_kiecore(path: Path) -> None:
    dependencies = _pyproject(path)["project"]["dependencies"]
    (wanted,) = [r for r in (required_range(line, "kiecore") for line in dependencies) if r is not None]
    assert admits(wanted, CORE["version"])
    assert re.search(r"<\s*\d", wanted), "an upper bound, so that a kiecore with another hook contract refuses it"


@pytest.mark.parametrize("path", [ROOT / "pyproject.toml", *PLUGINS], ids=lambda path: path.parent.name)
def test_each_distribution_carries_the_projects_metadata(path: Path) -> None:
    data = _pyproject(path)
    project = data["project"]
    assert data["build-system"]["requires"] == ["setuptools>=77"]  # the SPDX license string needs 77
    assert project["license"] == "MIT"
    assert project["authors"] == [{"name": "kiecore contributors"}]
    assert project["requires-python"] == ">=3.11"
    classifiers = set(project["classifiers"])
    assert {
        "Development Status :: 3 - Alpha",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Typing :: Typed",
    } <= classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # setuptools refuses them beside `license`
    urls = project["urls"]
    assert urls["Homepage"] == urls["Source"] == "https://github.com/kiecore/kiecore"
    assert urls["Issues"] == "https://github.com/kiecore/kiecore/issues"


def test_the_license_is_mit_and_ships_with_the_core() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 kiecore contributors" in text
    assert CORE["license-files"] == ["LICENSE"]


@pytest.mark.parametrize("path", PLUGINS, ids=lambda path: path.parent.name)
def test_each_plugin_ships_the_projects_license_in_its_wheel(path: Path) -> None:
    # A wheel can carry only files inside its own project folder, so each plugin keeps a copy; this keeps the
    # copies the root's, and the isolated tox env checks that the installed wheel holds it.
    assert (path.parent / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    assert _pyproject(path)["project"]["license-files"] == ["LICENSE"]


def test_pre_commit_runs_what_make_lint_runs_with_the_venvs_tools() -> None:
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    makefile = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert lint is not None
    for command in re.findall(r"\$\(BIN\)/(\w+(?: [a-z]+)*(?: --[a-z-]+)*)", lint.group(1)):
        assert f".venv/bin/{command}" in config, command
    assert ".venv/bin/mypy" in config
    assert re.findall(r"^\s*- repo: (\S+)", config, re.MULTILINE) == ["local"]  # nothing to download
    assert config.count("language: system") == config.count("- id:") == 4


def test_kie_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from kiecore.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code in (0, None)
    assert capsys.readouterr().out == f"kie {version.__version__}\n"
