"""``kie download MODEL TASK_ID``: save the results of a task made elsewhere (e.g. in Kie's web UI): one status
query, then its files into ``-o DIR`` (or ``-O FILE``) named as ``kie generate`` names them, and its sidecar.
Nothing is submitted and no journal entry is made; files already there under the same names are kept."""

from __future__ import annotations

import argparse

from kiecore.cli import destination, known_task
from kiecore.cli.gallery_command import Refresher, journal_reader, wants_gallery
from kiecore.cli.output import print_result, printable
from kiecore.client import Client
from kiecore.errors import KieError, TaskFailedError
from kiecore.model import GenerationResult, TaskHandle, TaskState


def run(args: argparse.Namespace) -> int:
    where = destination.options(args)
    gallery = wants_gallery(args, [destination.directory(where)])
    base_url, profile = known_task.connection(args)  # the journal's, for a task it knows
    entry = known_task.journalled(args.journal, args.task_id, base_url)
    with Client(base_url=base_url, profile=profile) as client:
        model = client.model(args.model).spec.id
        deadline = None if args.timeout is None else client.clock() + client.timeout_for(model, args.timeout)
        # 0: submitted elsewhere, at a time kiecore does not know ({date} is then today)
        handle = TaskHandle(model=model, task_id=args.task_id, profile=profile, submitted_at=0.0)
        status = client.status(handle)
        if status.state is TaskState.FAILED:
            raise TaskFailedError(handle, status)
        if status.state is not TaskState.SUCCEEDED:
            progress = f" {status.progress:.0%}" if status.progress is not None else ""
            raise KieError(
                f"task {handle.task_id} is {printable(status.state.value)}{progress}: it has no results yet;"
                " try again once it has finished"
            )
        files = client.download(
            handle,
            status,
            **where,
            request=entry.request if entry is not None else None,
            if_exists="error" if where["output_file"] is not None else "keep",
            deadline=deadline,
        )
    if gallery:
        pages = Refresher(journal_reader(args.journal))
        pages.saved(files)
        pages.flush()
    print_result(GenerationResult(handle=handle, status=status, files=files), as_json=args.json)
    return 0
