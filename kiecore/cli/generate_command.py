"""``kie generate``: submit, show progress on stderr, save every result, print the paths (``--dry-run``: show
what would be sent, and send nothing)."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import sys
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

from kiecore.callback_receiver import HMAC_KEY_VARIABLE
from kiecore.cli import destination
from kiecore.cli.cost import credits_text
from kiecore.cli.gallery_command import Refresher, wants_gallery
from kiecore.cli.options import request_fields
from kiecore.cli.output import error_json, print_json, print_result
from kiecore.cli.progress import Progress
from kiecore.client import Client, PreparedRequest
from kiecore.errors import UsageError
from kiecore.hints import journal_option
from kiecore.journal import Journal
from kiecore.model import GenerationResult, TaskHandle
from kiecore.pricing import estimate

#: How long each emulated task runs, and how often to poll it, with --emulator.
EMULATOR_TASK_SECONDS = 1.0
EMULATOR_POLL_INTERVAL = 0.2


def run(args: argparse.Namespace) -> int:
    fields = request_fields(args)
    where = destination.options(args)
    gallery = wants_gallery(args, [destination.directory(where)])
    if args.dry_run:
        from kiecore.cli import dry_run

        with dry_run.dry_client(args) as client:
            prepared = _prepare_tasks(client, args, fields, where)
            client.timeout_for(prepared[0].model.spec.id, args.timeout)  # the checks a real run makes
            for one in prepared:
                destination.check_naming(one, where, download=not args.no_download)
            return dry_run.show_tasks(args, client, prepared)
    progress = Progress()
    submitted: list[TaskHandle] = []

    def on_submit(handle: TaskHandle) -> None:
        submitted.append(handle)
        progress.submitted(handle)

    with contextlib.ExitStack() as stack:
        client = stack.enter_context(client_for(args, stack))
        pages = Refresher(client.journal.entries if client.journal is not None else None) if gallery else None
        listen(args, client, stack)
        prepared = _prepare_tasks(client, args, fields, where)
        if progress.tty and not args.emulator:
            announce_cost(_total_cost(prepared))
        spec = prepared[0].model.spec  # its typical run time: what the progress line measures against
        typical = EMULATOR_TASK_SECONDS if args.emulator else spec.typical_seconds
        progress.begin(spec.id, typical, downloads=not args.no_download)
        options: dict[str, Any] = {
            **where,
            "timeout": args.timeout,
            "download": not args.no_download,
            "on_submit": on_submit,
            "on_status": progress.update,
            "on_retry": progress.retry,
        }
        try:
            futures = [client.start(args.model, one.request, **options) for one in prepared]
            outcomes = _wait_all(futures)
        except KeyboardInterrupt:
            progress.done()
            if submitted and not args.emulator:
                message = _interrupted(submitted, journal_option(args.journal))
                print(f"kie: {message}", file=sys.stderr)
                if args.json:
                    print_json(error_json(KeyboardInterrupt(), 130, message))
                return 130
            raise
        finally:
            progress.done()
        results = [outcome for outcome in outcomes if isinstance(outcome, GenerationResult)]
        if pages is not None:
            for result in results:
                pages.saved(result.files)
            pages.flush()
    for result in results:
        print_result(result, as_json=args.json)
    errors = [outcome for outcome in outcomes if not isinstance(outcome, GenerationResult)]
    if errors:
        if len(outcomes) > 1:
            print(f"kie: {len(errors)} of {len(outcomes)} tasks did not finish", file=sys.stderr)
        raise errors[0]
    return 0


def _interrupted(submitted: list[TaskHandle], journal: str) -> str:
    """What to say when Ctrl-C stops the wait for the tasks already ``submitted``."""
    if len(submitted) == 1:
        task = submitted[0].task_id
        return (
            f"interrupted; task {task} goes on at Kie and is in the journal: `kie resume {task}{journal}` finishes it"
        )
    tasks = ", ".join(handle.task_id for handle in submitted)
    return (
        f"interrupted; tasks {tasks} go on at Kie and are in the journal: `kie resume TASK_ID{journal}` finishes each"
    )


def _prepare_tasks(
    client: Client, args: argparse.Namespace, fields: dict[str, Any], where: dict[str, Any]
) -> list[PreparedRequest]:
    """The checked requests of every task ``-n`` takes (one, unless the model makes fewer images per task)."""
    requests = client.task_requests(args.model, **fields)
    if len(requests) > 1 and where["output_file"] is not None:
        raise UsageError(
            f"-O FILE saves one image, and -n {fields['num_images']} takes {len(requests)} tasks of {args.model}; "
            "use -o DIR"
        )
    return [client.prepare(args.model, request) for request in requests]


def _total_cost(prepared: list[PreparedRequest]) -> Decimal | None:
    """What every task should cost together (``None`` when one has no estimate)."""
    costs = [estimate(one) for one in prepared]
    known = [cost for cost in costs if cost is not None]
    return sum(known, Decimal(0)) if len(known) == len(costs) else None


def _wait_all(futures: list[Future[GenerationResult]]) -> list[GenerationResult | BaseException]:
    """Each future's result or error, in order, once all are done; interrupting (Ctrl-C) cancels them all."""
    try:
        concurrent.futures.wait(futures)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    outcomes: list[GenerationResult | BaseException] = []
    for future in futures:
        error = future.exception()
        outcomes.append(error if error is not None else future.result())
    return outcomes


def announce_cost(cost: Decimal | None, what: str = "estimated cost") -> None:
    """One line on stderr before anything is submitted, when the cost is known (callers: on a terminal only,
    so piped output stays as it was)."""
    if cost is not None:
        print(f"kie: {what}: {credits_text(cost)}", file=sys.stderr, flush=True)


def listen(args: argparse.Namespace, client: Client, stack: contextlib.ExitStack) -> None:
    """With ``--listen HOST:PORT``, receive Kie's callbacks there (for ``--callback-url``) until the command
    ends; refused before anything is sent without a callback URL or an HMAC key."""
    if getattr(args, "listen", None) is None:
        return
    from kiecore.callback_receiver import start_listening

    stack.callback(start_listening(client, args.callback_url, args.listen).stop)


def client_for(args: argparse.Namespace, stack: contextlib.ExitStack) -> Client:
    """The client the command's options ask for: the journal and ``--base-url``, or a built-in emulator."""
    if not args.emulator:
        journal = stack.enter_context(Journal(args.journal))
        return Client(base_url=args.base_url, profile=args.profile, poll_interval=args.poll_interval, journal=journal)
    from kiecore.emulator import Emulator
    from kiecore.loading import load_registry

    registry = load_registry()
    hmac_key = os.environ.get(HMAC_KEY_VARIABLE) or None  # signs its callbacks, as a Kie account with one would
    emulator = stack.enter_context(Emulator(registry, task_seconds=EMULATOR_TASK_SECONDS, webhook_hmac_key=hmac_key))
    return Client(  # no journal: an emulated task cannot be resumed once the emulator is gone
        api_key="emulator-key",  # never the real key: the emulator needs none
        base_url=emulator.base_url,
        upload_url=emulator.upload_url,  # local images go to the emulator's upload host, never to Kie's
        profile=args.profile,
        registry=registry,
        poll_interval=EMULATOR_POLL_INTERVAL,
    )
