"""`kie --help` imports no plugin and no heavy library (its speed is measured in bench/, not here)."""

from __future__ import annotations

import json
import subprocess
import sys

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
