"""The names of a scaffolded plugin distribution, all derived from the one NAME given to ``kie plugin new``."""

from __future__ import annotations

import re

import attrs

from kiecore.scaffold.errors import ScaffoldError

#: A distribution name (PEP 508): letters, digits, ``-``, ``_``, ``.``, starting and ending with a letter or digit.
_DISTRIBUTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_PREFIX = "kiecore-"


@attrs.frozen
class PluginNames:
    """Every name of a plugin called ``name`` (normalised: lower case, runs of ``-_.`` as one ``-``)::

    name "nano-banana": distribution kiecore-nano-banana, package kiecore_nano_banana, entry point nano-banana,
    tests/test_nano_banana.py with class TestNanoBanana, tests/replies/nano_banana.json, family "Nano Banana"
    """

    name: str

    @classmethod
    def parse(cls, text: str) -> PluginNames:
        """The names for ``text`` (a leading ``kiecore-`` is dropped); :class:`ScaffoldError` when it is not a
        valid distribution name."""
        if not _DISTRIBUTION_NAME.match(text):
            raise ScaffoldError(
                f"{text!r} is not a valid distribution name: use letters, digits and '-', '_' or '.' between them"
            )
        name = re.sub(r"[-_.]+", "-", text).lower()
        if name.startswith(_PREFIX):
            name = name[len(_PREFIX) :]
        if not name or name == "kiecore":
            raise ScaffoldError(f"{text!r} names no plugin: give the family's name, e.g. kie plugin new wan")
        return cls(name)

    @property
    def distribution(self) -> str:
        return f"{_PREFIX}{self.name}"

    @property
    def package(self) -> str:
        return f"kiecore_{self.snake}"

    @property
    def snake(self) -> str:
        return self.name.replace("-", "_")

    @property
    def entry_point(self) -> str:
        return self.name

    @property
    def family(self) -> str:
        return " ".join(part.capitalize() for part in self.name.split("-"))

    @property
    def test_class(self) -> str:
        return "Test" + "".join(part.capitalize() for part in self.name.split("-"))

    @property
    def test_file(self) -> str:
        return f"tests/test_{self.snake}.py"

    @property
    def replies_file(self) -> str:
        return f"tests/replies/{self.snake}.json"
