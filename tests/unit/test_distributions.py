"""Core metadata read by hand (kiecore.distributions) says what importlib_metadata's email parser says."""

from __future__ import annotations

import importlib_metadata
import pytest

from kiecore.distributions import facts_of, header_fields


def test_fields_are_read_up_to_the_description_with_folded_values_joined() -> None:
    text = (
        "Metadata-Version: 2.1\n"
        "Name: kiecore-x\n"
        "version: 1.2.3\n"
        "Requires-Dist: kiecore<0.2,>=0.1\n"
        "License: MIT\n"
        "        \n"
        "        and more\n"
        "Requires-Dist: attrs>=23;\n"
        "  python_version >= '3.11'\n"
        "no colon here\n"
        "\n"
        "Requires-Dist: not-a-field\n"
    )
    fields = header_fields(text)
    assert fields["name"] == ["kiecore-x"] and fields["version"] == ["1.2.3"]
    assert fields["requires-dist"] == ["kiecore<0.2,>=0.1", "attrs>=23; python_version >= '3.11'"]
    assert fields["license"] == ["MIT and more"]  # a line of white space only continues the value


class _Dist:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read_text(self, filename: str) -> str | None:
        return self.files.get(filename)


def test_an_egg_is_read_from_pkg_info_and_nothing_gives_empty_facts() -> None:
    assert facts_of(_Dist({"PKG-INFO": "Name: old\nVersion: 0.9\n"})).version == "0.9"
    empty = facts_of(_Dist({}))
    assert (empty.name, empty.version, empty.requires) == ("", "", ())


@pytest.mark.parametrize("dist", list(importlib_metadata.distributions()), ids=lambda dist: dist.name or "?")
def test_every_installed_distribution_reads_as_importlib_metadata_reads_it(
    dist: importlib_metadata.Distribution,
) -> None:
    facts = facts_of(dist)
    assert facts.name == dist.metadata["Name"]
    assert facts.version == dist.version
    assert list(facts.requires) == list(dist.requires or ())
