"""Mutation scores for docs/testing.md: mutmut over each module that decides something, against the tests that
check it, one module at a time in a copy of the tree under build/mutation/. Prints a Markdown table. Run with
`make mutation` (every module: hours on two cores, the engine's 2,247 mutants the most) or name modules:
`python bench/mutation.py transport journal` (a few minutes to half an hour each).

The score is (killed + timed out) / all mutants: a mutant no selected test runs counts as surviving.

Usage: python bench/mutation.py [--children N] [MODULE ...]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"

# module -> (what mutmut mutates, the tests whose failures count as kills)
MODULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "transport": (("kiecore/transport.py", "kiecore/timed_reads.py"), ("tests/unit/", "tests/test_transport.py")),
    "retry": (("kiecore/retry.py",), ("tests/unit/",)),
    "polling": (("kiecore/polling.py",), ("tests/unit/",)),
    "download": (("kiecore/download.py",), ("tests/unit/", "tests/test_download.py")),
    "validation": (("kiecore/validation.py",), ("tests/unit/", "tests/test_validation.py", "tests/test_rules.py")),
    "wire": (
        ("kiecore/wire/",),
        ("tests/unit/", "tests/test_wire.py", "tests/test_uploads.py", "tests/test_credits.py"),
    ),
    "client": (("kiecore/client.py",), ("tests/unit/", "tests/test_client.py", "tests/test_resume.py")),
    "journal": (
        ("kiecore/journal.py",),
        ("tests/unit/", "tests/test_journal.py", "tests/test_journal_failures.py", "tests/test_resume.py"),
    ),
    "webhooks": (("kiecore/webhooks.py",), ("tests/unit/test_webhook_checks.py", "tests/test_webhooks.py")),
    "engine": (("kiecore/engine/",), ("tests/unit/", "tests/engine/")),
}
KILLED = ("killed", "timeout")


def tree_files() -> list[str]:
    """The files a fresh clone has, plus new ones not yet committed (what `git status` would show)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def prepare(name: str, files: list[str]) -> Path:
    """A copy of the tree whose pyproject.toml points mutmut at one module and its tests."""
    sources, tests = MODULES[name]
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    for file in files:
        (work / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / file, work / file)
    pyproject = work / "pyproject.toml"
    text = re.sub(r"\n\[tool\.mutmut\]\n(?:[^\[].*\n|\s*\n)*", "\n", pyproject.read_text())
    # The whole package is copied so that `import kiecore` runs its __init__ (plugins import names from it);
    # only the module's files are mutated.
    patterns = [f"{s}*" if s.endswith("/") else s for s in sources]
    text += (
        '\n[tool.mutmut]\nsource_paths = ["kiecore"]\n'
        f"only_mutate = {_toml_list(patterns)}\npytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
    )
    pyproject.write_text(text)
    return work


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def run(name: str, files: list[str], children: int) -> collections.Counter[str]:
    work = prepare(name, files)
    mutmut = [sys.executable, "-m", "mutmut"]
    with (work / "mutmut.log").open("w") as log:
        subprocess.run([*mutmut, "run", "--max-children", str(children)], cwd=work, stdout=log, stderr=log)
    listed = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=work, check=True, capture_output=True, text=True
    ).stdout
    return collections.Counter(line.rsplit(": ", 1)[1] for line in listed.splitlines() if ": " in line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"any of {', '.join(MODULES)} (default all)")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}: choose from {', '.join(MODULES)}")
    files = tree_files()
    print("| module | mutants | killed | timed out | survived | no tests | other | score | minutes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.modules or MODULES:
        started = time.monotonic()
        counts = run(name, files, args.children)
        total = sum(counts.values())
        killed = sum(counts[s] for s in KILLED)
        other = total - killed - counts["survived"] - counts["no tests"]
        score = f"{100 * killed / total:.0f} %" if total else "-"
        minutes = (time.monotonic() - started) / 60
        print(
            f"| {name} | {total} | {counts['killed']} | {counts['timeout']} | {counts['survived']} "
            f"| {counts['no tests']} | {other} | {score} | {minutes:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
