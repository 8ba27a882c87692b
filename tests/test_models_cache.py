"""`kie models` from its cache (kiecore/cli/models_cache.py): the same output without loading a plugin, while
nothing it depends on has changed; listed afresh when something has; failures never kept."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from kiecore.cli import main, models_cache, models_listing


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("KIECORE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time the listing itself runs (its variant), the cache not answering."""
    ran: list[str] = []
    real = models_listing.run

    def counted(args: argparse.Namespace) -> int:
        ran.append(models_cache.variant_of(args) or "")
        return real(args)

    monkeypatch.setattr(models_listing, "run", counted)
    return ran


def _kie_models(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["models", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_second_listing_comes_from_the_cache(
    cache: Path, listings: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = _kie_models(capsys)
    assert first[0] == 0 and "nano-banana-pro" in first[1] and listings == ["table"]
    assert _kie_models(capsys) == first and listings == ["table"]  # not listed again
    as_json = _kie_models(capsys, "--json")
    assert _kie_models(capsys, "--json") == as_json and listings == ["table", "json"]
    one = _kie_models(capsys, "nbp")
    assert _kie_models(capsys, "nbp") == one and "nano-banana-pro — Nano Banana Pro" in one[1]
    assert listings == ["table", "json", "table:nbp"]
    assert set(json.loads((cache / "models.json").read_text())["listings"]) == {"table", "json", "table:nbp"}


def test_a_changed_setting_or_source_lists_afresh(
    cache: Path, listings: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _kie_models(capsys)
    monkeypatch.setenv("KIECORE_DISABLE_PLUGINS", "nano-banana-pro")
    _, out, _ = _kie_models(capsys)
    assert listings == ["table", "table"] and "nano-banana-pro " not in out
    monkeypatch.delenv("KIECORE_DISABLE_PLUGINS")
    _kie_models(capsys)
    assert listings == ["table", "table", "table"]  # the cache keeps the newest facts only


def test_the_facts_follow_a_plugins_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "kiecore_fake_family"
    package.mkdir()
    (package / "__init__.py").write_text("MODELS = ()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = models_cache._sources("kiecore_fake_family")
    (package / "models.py").write_text("X = 1\n")
    assert models_cache._sources("kiecore_fake_family") != before  # a new file
    during = models_cache._sources("kiecore_fake_family")
    (package / "models.py").write_text("X = 22\n")
    assert models_cache._sources("kiecore_fake_family") != during  # an edit (its size, its time)
    assert models_cache._sources("kiecore_no_such_family") == ["(not found)"]
    assert "kiecore_fake_family" not in sys.modules  # found without importing it


def test_a_listing_with_a_problem_or_an_error_is_never_kept(
    cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def troubled(args: object) -> int:
        print("MODEL ...")
        print("kie: plugin broken failed to load", file=sys.stderr)
        return 0

    real = models_listing.run
    monkeypatch.setattr(models_listing, "run", troubled)
    assert _kie_models(capsys) == (0, "MODEL ...\n", "kie: plugin broken failed to load\n")
    assert not (cache / "models.json").exists()
    monkeypatch.setattr(models_listing, "run", real)
    code, _, err = _kie_models(capsys, "no-such-model")  # an error: raised, as without the cache
    assert code == 2 and "no-such-model" in err and not (cache / "models.json").exists()


def test_a_damaged_cache_is_ignored_and_an_empty_setting_keeps_none(
    cache: Path, listings: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.mkdir()
    (cache / "models.json").write_text("{not json")
    code, out, _ = _kie_models(capsys)
    assert code == 0 and "nano-banana-pro" in out and json.loads((cache / "models.json").read_text())["listings"]
    monkeypatch.setenv("KIECORE_CACHE_DIR", "")
    (cache / "models.json").unlink()
    _kie_models(capsys)
    _kie_models(capsys)
    assert listings == ["table", "table", "table"] and not (cache / "models.json").exists()
