"""kiecore/catalog.py says what the plugins declare: each installed plugin's ids and aliases, under the
distribution its entry point comes from, and one entry for every plugin of this repository."""

from __future__ import annotations

import tomllib
from pathlib import Path

from kiecore import catalog
from kiecore.loading import load_registry

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def test_the_catalog_agrees_with_every_installed_plugin() -> None:
    registry = load_registry({})
    assert registry.failures == []
    declared: dict[str, set[str]] = {}
    for entry in registry.models():
        declared.setdefault(entry.plugin.distribution, set()).update((entry.spec.id, *entry.spec.aliases))
    assert declared, "no plugin is installed: the check proves nothing"
    for distribution, names in declared.items():
        assert set(catalog.PLUGINS.get(distribution, ())) == names, distribution
        assert all(catalog.distribution_of(name) == distribution for name in names)


def test_every_plugin_of_the_repository_is_in_the_catalog() -> None:
    names = {tomllib.loads((path / "pyproject.toml").read_text())["project"]["name"] for path in PLUGINS.iterdir()}
    assert names == set(catalog.PLUGINS)


def test_no_name_is_in_two_plugins_and_lookups_ignore_case() -> None:
    every = [name.lower() for names in catalog.PLUGINS.values() for name in names]
    assert len(every) == len(set(every))
    assert catalog.distribution_of("Google/Nano-Banana") == "kiecore-nano-banana"
    assert catalog.distribution_of("nano-banana-bogus") is None


def test_every_plugin_of_the_repository_has_an_isolated_tox_environment() -> None:
    """`make isolation` tests each plugin alone with kiecore: one tox environment per plugin directory."""
    import configparser

    tox = configparser.ConfigParser()
    tox.read(PLUGINS.parent / "tox.ini")
    environments = set(tox["tox"]["env_list"].split())
    assert environments == {path.name for path in PLUGINS.iterdir() if (path / "pyproject.toml").is_file()}
