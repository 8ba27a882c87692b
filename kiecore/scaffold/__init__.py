"""``kie plugin new``: an out-of-tree plugin distribution, written so that it passes its own tests as generated.

:func:`plan` reads and renders everything first (:mod:`.openapi` reads a model's OpenAPI document into a draft,
:mod:`.render` writes the file texts), so a bad name or document writes nothing; :func:`new_plugin` then writes
the tree. Every refusal is a :class:`ScaffoldError` of one line.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import attrs

from kiecore.scaffold.drafts import EXAMPLE_MODEL, ModelDraft
from kiecore.scaffold.errors import ScaffoldError
from kiecore.scaffold.names import PluginNames
from kiecore.scaffold.render import Origin, render_files

__all__ = ["Scaffold", "ScaffoldError", "kiecore_range", "new_plugin", "plan"]


@attrs.frozen
class Scaffold:
    """A plugin distribution to write: its ``root`` folder (``DIR/kiecore-NAME``), its models, and the text of
    each file by its path inside ``root``."""

    root: Path
    names: PluginNames
    models: tuple[ModelDraft, ...]
    files: dict[str, str]

    def next_steps(self) -> list[str]:
        """The commands that install and test the written distribution."""
        return [f"cd {shlex.quote(str(self.root))}", "pip install -e '.[test]'", "pytest"]


def kiecore_range(version: str | None = None) -> str:
    """The kiecore versions a new plugin requires: this kiecore's minor release, ``>=0.1,<0.2`` for 0.1.3."""
    from kiecore.version import UNKNOWN_VERSION, __version__, release

    found = __version__ if version is None else version
    if found == UNKNOWN_VERSION:
        raise ScaffoldError("cannot tell which kiecore this is (it is not installed): pip install -e . first")
    major, minor = (*release(found), 0)[:2]
    return f">={major}.{minor},<{major}.{minor + 1}"


def plan(name: str, directory: Path, openapi: Path | None = None, *, version: str | None = None) -> Scaffold:
    """What :func:`new_plugin` would write, checked and rendered but not written."""
    names = PluginNames.parse(name)
    command = f"kie plugin new {names.name}"
    if openapi is None:
        models: tuple[ModelDraft, ...] = (EXAMPLE_MODEL,)
        origin = Origin(command=command)
    else:
        from kiecore.scaffold.documents import read_document
        from kiecore.scaffold.openapi import read_model

        document = read_document(openapi)
        models = (read_model(document, source=str(openapi), family=names.family),)
        origin = Origin(command=f"{command} --from-openapi {openapi.name}")
    root = directory / names.distribution
    if root.exists() or root.is_symlink():
        raise ScaffoldError(f"{root} already exists: choose another --directory, or remove it first")
    try:
        for model in models:
            model.spec()
    except ValueError as error:
        raise ScaffoldError(f"{openapi or command}: the declaration it makes is refused: {error}") from None
    return Scaffold(root, names, models, render_files(names, models, origin, kiecore_range(version)))


def new_plugin(name: str, directory: Path, openapi: Path | None = None, *, version: str | None = None) -> Scaffold:
    """Write the distribution ``kiecore-<name>`` into ``directory`` (created if missing), its models read from
    the OpenAPI document ``openapi`` or, without one, one example model to edit. Nothing is left behind when
    writing fails; :class:`ScaffoldError` for a bad name or document, an existing folder, a failed write."""
    scaffold = plan(name, directory, openapi, version=version)
    try:
        scaffold.root.mkdir(parents=True)
    except FileExistsError:
        raise ScaffoldError(f"{scaffold.root} already exists: choose another --directory, or remove it first") from None
    except OSError as error:
        raise ScaffoldError(f"cannot create {scaffold.root}: {error.strerror or error}") from None
    try:
        for relative, text in scaffold.files.items():
            path = scaffold.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as error:
        shutil.rmtree(scaffold.root, ignore_errors=True)
        raise ScaffoldError(f"cannot write {scaffold.root}: {error.strerror or error}") from None
    return scaffold
