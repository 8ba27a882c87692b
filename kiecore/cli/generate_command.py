"""``kie generate``: submit, show progress on stderr, save every result, print the paths."""

from __future__ import annotations

import argparse
import contextlib
import sys

from kiecore.cli.options import request_fields
from kiecore.cli.output import Progress, print_result
from kiecore.client import Client
from kiecore.journal import Journal
from kiecore.model import TaskHandle

#: How long each emulated task runs, and how often to poll it, with --emulator.
EMULATOR_TASK_SECONDS = 1.0
EMULATOR_POLL_INTERVAL = 0.2


def run(args: argparse.Namespace) -> int:
    fields = request_fields(args)
    progress = Progress()
    submitted: list[TaskHandle] = []

    def on_submit(handle: TaskHandle) -> None:
        submitted.append(handle)
        progress.submitted(handle)

    with contextlib.ExitStack() as stack:
        client = stack.enter_context(_client(args, stack))
        try:
            result = client.generate(
                args.model,
                output_dir=args.output_dir,
                timeout=args.timeout,
                download=not args.no_download,
                on_submit=on_submit,
                on_status=progress.update,
                **fields,
            )
        except KeyboardInterrupt:
            progress.done()
            if submitted and not args.emulator:
                handle = submitted[0]
                print(
                    f"kie: interrupted; task {handle.task_id} goes on at Kie and is in the journal: "
                    "`kie resume` finishes it",
                    file=sys.stderr,
                )
                return 130
            raise
        finally:
            progress.done()
    print_result(result, as_json=args.json)
    return 0


def _client(args: argparse.Namespace, stack: contextlib.ExitStack) -> Client:
    if not args.emulator:
        journal = stack.enter_context(Journal(args.journal))
        return Client(base_url=args.base_url, profile=args.profile, poll_interval=args.poll_interval, journal=journal)
    from kiecore.emulator import Emulator
    from kiecore.loading import load_registry

    registry = load_registry()
    emulator = stack.enter_context(Emulator(registry, task_seconds=EMULATOR_TASK_SECONDS))
    return Client(  # no journal: an emulated task cannot be resumed once the emulator is gone
        api_key="emulator-key",  # never the real key: the emulator needs none
        base_url=emulator.base_url,
        profile=args.profile,
        registry=registry,
        poll_interval=EMULATOR_POLL_INTERVAL,
    )
