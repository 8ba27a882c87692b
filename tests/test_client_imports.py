"""The client never loads the emulator: importing it, and a whole generation, stay off ``kiecore.emulator``.

Each check runs in a fresh interpreter, so what other tests imported cannot hide (or fake) an import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kiecore.emulator import Emulator

IMPORTS = """
import json, sys
import kiecore
kiecore.Client
import kiecore.client, kiecore.download, kiecore.journal, kiecore.recorder, kiecore.transport, kiecore.wire
print(json.dumps(sorted(sys.modules)))
"""

GENERATION = """
import json, sys
import kiecore
with kiecore.Client(api_key="sk-imports", base_url=sys.argv[1], poll_interval=0.05) as client:
    result = client.generate("nano-banana-pro", "a red fox", output_dir=sys.argv[2], timeout=30)
assert result.files, result
print(json.dumps(sorted(sys.modules)))
"""


def _modules(code: str, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIE_")}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def _emulator_modules(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name == "kiecore.emulator" or name.startswith("kiecore.emulator."))


def test_importing_the_client_loads_no_emulator_module() -> None:
    modules = _modules(IMPORTS)
    assert "kiecore.client" in modules and "kiecore.transport" in modules
    assert _emulator_modules(modules) == []


def test_a_generation_loads_no_emulator_module(kie_emulator: Emulator, tmp_path: Path) -> None:
    modules = _modules(GENERATION, kie_emulator.base_url, str(tmp_path))
    assert "kiecore.download" in modules and any(path.is_file() for path in tmp_path.iterdir())
    assert _emulator_modules(modules) == []
    assert "PIL" not in modules  # the emulator's dependency
