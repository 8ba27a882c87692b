"""``kie status``: one query of a task's state, progress and result URLs, asked where the journal says the task
lives unless ``--base-url``/``--profile`` say otherwise."""

from __future__ import annotations

import argparse

from kiecore.cli import known_task
from kiecore.cli.output import print_json, printable
from kiecore.client import Client
from kiecore.model import TaskHandle


def run(args: argparse.Namespace) -> int:
    base_url, profile = known_task.connection(args)  # the journal's, for a task it knows
    with Client(base_url=base_url, profile=profile) as client:
        model = client.model(args.model).spec.id
        handle = TaskHandle(model=model, task_id=args.task_id, profile=profile, submitted_at=0.0)
        status = client.status(handle)
    if args.json:
        print_json(
            {
                "task_id": handle.task_id,
                "model": model,
                "state": status.state.value,
                "progress": status.progress,
                "urls": list(status.urls),
                "fail_code": status.fail_code,
                "fail_message": status.fail_message,
            }
        )
        return 0
    line = f"{handle.task_id}: {status.state.value}"
    if status.progress is not None:
        line += f" {status.progress:.0%}"
    if status.fail_code or status.fail_message:
        line += printable(f" (code {status.fail_code}: {status.fail_message})")
    print(line)
    for url in status.urls:
        print(url)
    return 0
