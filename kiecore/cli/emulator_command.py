"""``kie emulator``: serve the Kie API emulator in the foreground."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from kiecore.emulator import serve

    serve(args.host, args.port, task_seconds=args.task_seconds, faults=args.fault)
    return 0
