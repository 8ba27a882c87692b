"""``kie emulator``: serve the Kie API emulator in the foreground."""

from __future__ import annotations

import argparse

from kiecore.emulator import parse_fault, serve
from kiecore.errors import UsageError


def run(args: argparse.Namespace) -> int:
    for text in args.fault:
        try:
            parse_fault(text)
        except ValueError as error:
            raise UsageError(f"bad --fault {text!r}: {error}") from None
    serve(args.host, args.port, task_seconds=args.task_seconds, faults=args.fault)
    return 0
