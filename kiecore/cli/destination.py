"""``-o DIR``, ``-O FILE`` and ``--name TEMPLATE``: where a command saves results and how it names them, as the
keyword arguments of :meth:`Client.generate <kiecore.client.Client.generate>` and :meth:`Client.download
<kiecore.client.Client.download>`. The client checks the rest before anything is sent."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from kiecore.client import PreparedRequest, naming_for
from kiecore.errors import UsageError
from kiecore.naming import IMAGE_SUFFIXES
from kiecore.pricing import image_count


def folder(value: Any, *, option: str = "-o") -> str:
    """The output folder ``value`` gives (``.`` for ``None``). A name ending in an image extension that is not
    an existing folder is refused: ``-o fox.png`` almost always means ``-O fox.png``."""
    if value is None:
        return "."
    if not isinstance(value, str):
        raise UsageError(f'"{option}" must be a string, not {value!r}')
    if (
        os.path.splitext(value.rstrip("/" + os.sep))[1].lower() in IMAGE_SUFFIXES
        and not Path(value).expanduser().is_dir()
    ):
        file_option = "-O" if option == "-o" else '"output_file"'
        raise UsageError(
            f"{option} {value} names a folder, and looks like an image file: did you mean {file_option} {value}?"
        )
    return value


def options(args: argparse.Namespace) -> dict[str, Any]:
    """``output_dir``, ``output_file`` and ``name`` from the command's ``-o``, ``-O`` and ``--name``."""
    output_file = getattr(args, "output_file", None)
    if output_file is not None and args.output_dir is not None:
        raise UsageError("give -o DIR or -O FILE, not both: -O FILE names its folder too")
    return {"output_dir": folder(args.output_dir), "output_file": output_file, "name": args.name}


def directory(where: dict[str, Any]) -> Path:
    """The folder ``where`` (:func:`options`) saves into, resolved: ``-O FILE``'s, else ``-o DIR``."""
    if where["output_file"] is not None:
        return Path(os.fspath(where["output_file"])).expanduser().resolve().parent
    return Path(os.fspath(where["output_dir"])).expanduser().resolve()


def check_naming(prepared: PreparedRequest, where: dict[str, Any], *, download: bool) -> None:
    """What a real run checks of ``where`` (:func:`options`) before sending, writing nothing (a dry run creates
    no folder)."""
    if not download:
        return
    count = image_count(prepared.model.spec, prepared.profile, prepared.params)
    place, naming = naming_for(where["output_dir"], where["output_file"], where["name"], count=count)
    directory = Path(place).expanduser()
    taken = naming.occupied(directory) if directory.is_dir() else None
    if taken is not None:
        raise UsageError(f"{taken} already exists; not overwriting it (choose another -O file)")
