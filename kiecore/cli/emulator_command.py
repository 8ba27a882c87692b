"""``kie emulator``: serve the Kie API emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import time

from kiecore.emulator import Emulator, FaultKind, parse_fault
from kiecore.errors import UsageError


def run(args: argparse.Namespace) -> int:
    faults = []
    for text in args.fault:
        try:
            faults.append(parse_fault(text))
        except ValueError as error:
            raise UsageError(f"bad --fault {text!r}: {error}") from None
    serve(args.host, args.port, task_seconds=args.task_seconds, faults=faults)
    return 0


def serve(host: str, port: int, *, task_seconds: float, faults: list[tuple[FaultKind, str, int]]) -> None:
    """Run an emulator with ``faults`` (``(kind, on, times)``, as :func:`~kiecore.emulator.parse_fault` gives them)
    injected, printing where it listens, until Ctrl-C."""
    emulator = Emulator(host=host, port=port, task_seconds=task_seconds)
    for kind, on, times in faults:
        emulator.inject(kind, on=on, times=times)
    with emulator:
        print(f"kie emulator: API at {emulator.base_url}", flush=True)
        print(f"kie emulator: files at {emulator.files_url}", flush=True)
        print(f"kie emulator: {len(emulator.registry.models())} models; Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
