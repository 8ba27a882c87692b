"""`kie --help` imports no plugin and no heavy library, and neither does `kie models` once its listing is cached
(their speed is measured in bench/, not here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import contextlib, io, json, sys
from kiecore.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(["--help"])
print(json.dumps(sorted(sys.modules)))
"""


def test_help_imports_no_plugin_and_no_http_library() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    modules = set(json.loads(out))
    heavy = {"urllib3", "attrs", "cattrs", "pluggy", "importlib_metadata", "hypothesis", "PIL"}
    assert not heavy & modules
    assert not [name for name in modules if name.startswith("kiecore_")]
    assert not [name for name in modules if name.startswith("kiecore.") and name not in {"kiecore.cli"}]


MODELS_PROBE = """
import contextlib, io, json, sys
from kiecore.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["models"])
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(probe: str, env: dict[str, str]) -> set[str]:
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(done.stdout))


def test_a_cached_models_listing_imports_no_plugin_and_no_declaration(tmp_path: Path) -> None:
    env = {**os.environ, "KIECORE_CACHE_DIR": str(tmp_path)}
    first, again = _modules_after(MODELS_PROBE, env), _modules_after(MODELS_PROBE, env)
    assert [name for name in first if name.startswith("kiecore_")]  # the first run loads the plugins
    assert not [name for name in again if name.startswith("kiecore_")]
    assert not {"attrs", "pluggy", "kiecore.declarations", "kiecore.cli.models_listing"} & again
