"""``kie plugin new NAME [--from-openapi FILE] [--directory DIR]``: scaffold an out-of-tree plugin distribution
(:mod:`kiecore.scaffold`). A bad name, an existing folder or an unreadable document is one line and exit 2."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from kiecore.scaffold import new_plugin

    openapi = Path(args.from_openapi) if args.from_openapi else None
    scaffold = new_plugin(args.name, Path(args.directory), openapi)
    print(f"wrote {scaffold.root}:")
    for relative in scaffold.files:
        print(f"  {scaffold.root / relative}")
    print("next:")
    for step in scaffold.next_steps():
        print(f"  {step}")
    return 0
