"""The output of ``kie models``, kept between runs while nothing it depends on has changed.

Listing the models imports every plugin and builds its declarations, which costs several times an interpreter's
start-up. What the listing depends on is known without importing anything: the distributions installed on
``sys.path`` (with their ``kiecore.plugins`` entry points and metadata files), the files of each plugin's
package and of kiecore, the interpreter, and the ``KIECORE_*`` settings. Those facts are gathered on each run
(file metadata only: names, sizes and modification times) and compared, whole, with the ones the output was
recorded under; only when they are equal is the recorded output written again. So installing, removing,
upgrading or editing a plugin (an editable install too), or changing kiecore, lists afresh.

Only clean listings are kept: a run that reports a plugin failing to load or a name claimed twice, or that ends
with an error, is never recorded, since its cause may lie outside the facts (a missing dependency installed
since). The cache is one JSON file, ``models.json``, in :data:`CACHE_ENV`'s folder, else
``$XDG_CACHE_HOME/kiecore``, else ``~/.cache/kiecore``; ``KIECORE_CACHE_DIR=`` (empty) turns it off. A cache
that cannot be read or written is ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kiecore.catalog import ENTRY_POINT_GROUP

#: The folder the cache is kept in; set to an empty value, no cache is kept.
CACHE_ENV = "KIECORE_CACHE_DIR"
CACHE_FILE = "models.json"
#: The most listings kept at once (``kie models``, ``--json``, one per model asked about).
MAX_VARIANTS = 32
_FORMAT = 1


def variant_of(args: argparse.Namespace) -> str | None:
    """Which listing ``args`` asks for, as the cache names it (``None``: one it does not keep)."""
    model = getattr(args, "model", None)
    if model is not None and not isinstance(model, str):
        return None
    return ("json" if args.json else "table") + (f":{model}" if model else "")


def cache_folder(environ: Mapping[str, str]) -> Path | None:
    """Where the cache lives, or ``None`` when it is turned off."""
    if CACHE_ENV in environ:
        chosen = environ[CACHE_ENV]
        return Path(chosen).expanduser() if chosen else None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kiecore"


def facts(environ: Mapping[str, str]) -> dict[str, Any]:
    """Everything the listing depends on, as plain data (compared whole, so any change lists afresh)."""
    settings = {name: value for name, value in environ.items() if name.startswith("KIECORE_")}
    core = Path(__file__).resolve().parent.parent
    return {
        "format": _FORMAT,
        "python": [sys.executable, sys.version],
        "settings": dict(sorted(settings.items())),
        "kiecore": [str(core), _tree(core)],
        "installed": [_installed(entry) for entry in sys.path],
    }


def _installed(entry: str) -> list[Any]:
    """What one ``sys.path`` entry holds that the listing reads: the name of every distribution's metadata
    folder (a name holds the version, so installing, removing or upgrading one changes it), and of each that
    declares :data:`ENTRY_POINT_GROUP` entry points, those entry points, its metadata file and its plugins'
    package files. (Read by hand: importing ``importlib_metadata`` and scanning with it costs more than the rest
    of a cached run.) A file on the path (a zip) is named with its size and time."""
    try:
        items = sorted(os.scandir(entry or "."), key=lambda item: item.name)
    except NotADirectoryError:
        return [entry, *_stat(Path(entry))]
    except OSError:
        return [entry]
    found: list[Any] = [entry]
    for item in items:
        if not item.name.endswith((".dist-info", ".egg-info")):
            continue
        folder = Path(item.path)
        points = _plugin_entry_points(_text(folder / "entry_points.txt"))
        if not points:
            found.append(item.name)
            continue
        metadata = folder / ("METADATA" if item.name.endswith(".dist-info") else "PKG-INFO")
        plugins = [
            [point, _sources(point.partition("=")[2].strip().partition(":")[0].split(".")[0])] for point in points
        ]
        found.append([item.name, _stat(metadata), plugins])
    return found


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _plugin_entry_points(text: str) -> list[str]:
    """The ``name = module:object`` lines of an ``entry_points.txt`` in its ``[kiecore.plugins]`` section."""
    points: list[str] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == ENTRY_POINT_GROUP
        elif inside and "=" in line and not line.startswith(("#", ";")):
            points.append(" = ".join(part.strip() for part in line.split("=", 1)))
    return points


def _sources(module: str) -> list[Any]:
    """The files of top-level ``module`` (its package's whole tree), found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return ["(not found)"]
    if spec is None:
        return ["(not found)"]
    if spec.submodule_search_locations:
        return [[location, _tree(Path(location))] for location in spec.submodule_search_locations]
    return [[spec.origin, _stat(Path(spec.origin))] if spec.origin else "(no file)"]


def _tree(folder: Path) -> list[Any]:
    """``[relative path, size, mtime in ns]`` of every Python source and data file under ``folder``."""
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if name != "__pycache__")
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                path = Path(root) / name
                found.append([str(path.relative_to(folder)), *_stat(path)])
    return found


def _stat(path: Path) -> list[int]:
    try:
        status = path.stat()
    except OSError:
        return [-1, -1]
    return [status.st_size, status.st_mtime_ns]


def run_cached(variant: str, environ: Mapping[str, str], produce: Callable[[], int]) -> int:
    """Write the ``variant`` listing: the recorded one when the facts are unchanged, else what ``produce`` (the
    listing itself) writes, recorded when it is clean. Returns the exit code."""
    folder = cache_folder(environ)
    if folder is None:
        return produce()
    now = facts(environ)
    recorded = _read(folder / CACHE_FILE)
    listings: dict[str, Any] = recorded.get("listings", {}) if recorded.get("facts") == now else {}
    known = listings.get(variant)
    if isinstance(known, dict) and isinstance(known.get("out"), str):
        sys.stdout.write(known["out"])
        return 0
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = produce()
    finally:  # an error (an unknown MODEL) is raised after what was written before it
        sys.stdout.write(out.getvalue())
        sys.stderr.write(err.getvalue())
    if code == 0 and not err.getvalue():
        kept = dict(list(listings.items())[-(MAX_VARIANTS - 1) :])
        kept[variant] = {"out": out.getvalue()}
        _write(folder / CACHE_FILE, {"facts": now, "listings": kept})
    return code


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    """Replace the cache file at once (a concurrent reader sees the old one or the new one), or leave it."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".models-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(data, stream, separators=(",", ":"))
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
