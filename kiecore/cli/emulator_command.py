"""``kie emulator``: serve the Kie API emulator in the foreground until Ctrl-C.

Every task runs ``--task-seconds``, unless any of ``--time-scale X``, ``--spread CV`` or ``--seed N`` is given:
then each task draws its own duration, X (default 1) times its model's typical seconds at the median, spread
lognormally with coefficient of variation CV (default 0) from a stream seeded with N (default 0); see
:class:`~kiecore.emulator.RunTimes`.
"""

from __future__ import annotations

import argparse
import contextlib
import time

from kiecore.emulator import Emulator, FaultKind, RunTimes, parse_fault
from kiecore.errors import UsageError


def run(args: argparse.Namespace) -> int:
    faults = []
    for text in args.fault:
        try:
            faults.append(parse_fault(text))
        except ValueError as error:
            raise UsageError(f"bad --fault {text!r}: {error}") from None
    serve(args.host, args.port, task_seconds=args.task_seconds, faults=faults, run_times=run_times_of(args))
    return 0


def run_times_of(args: argparse.Namespace) -> RunTimes | None:
    """The :class:`~kiecore.emulator.RunTimes` that ``--time-scale``, ``--spread`` and ``--seed`` ask for
    (``None`` when none is given); :class:`~kiecore.errors.UsageError` for a value it refuses."""
    scale, spread, seed = args.time_scale, args.spread, args.seed
    if scale is None and spread is None and seed is None:
        return None
    try:
        return RunTimes(scale=1.0 if scale is None else scale, spread=0.0 if spread is None else spread, seed=seed or 0)
    except (TypeError, ValueError) as error:
        raise UsageError(f"bad run times: {error}") from None


def serve(
    host: str,
    port: int,
    *,
    task_seconds: float,
    faults: list[tuple[FaultKind, str, int]],
    run_times: RunTimes | None = None,
) -> None:
    """Run an emulator with ``faults`` (``(kind, on, times)``, as :func:`~kiecore.emulator.parse_fault` gives them)
    injected and ``run_times`` (``None``: every task runs ``task_seconds``), printing where it listens, until
    Ctrl-C. :class:`~kiecore.errors.UsageError` (exit 2, one line) when the address cannot be bound, e.g. a port
    already in use."""
    emulator = Emulator(host=host, port=port, task_seconds=task_seconds, run_times=run_times)
    for kind, on, times in faults:
        emulator.inject(kind, on=on, times=times)
    try:
        emulator.start()
    except OSError as error:
        raise UsageError(
            f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --port (or --host)"
        ) from None
    with emulator:
        print(f"kie emulator: API at {emulator.base_url}", flush=True)
        print(f"kie emulator: files at {emulator.files_url}", flush=True)
        print(f"kie emulator: uploads at {emulator.upload_url} (KIE_UPLOAD_URL)", flush=True)
        if run_times is not None:
            print(
                f"kie emulator: tasks run {run_times.scale:g} x their model's typical seconds,"
                f" spread {run_times.spread:g}, seed {run_times.seed}",
                flush=True,
            )
        print(f"kie emulator: {len(emulator.registry.models())} models; Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
