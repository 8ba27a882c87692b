"""A local Kie API emulator on loopback, driven by the registry's model declarations.

    with Emulator(task_seconds=0.2) as emulator:
        client = Client(base_url=emulator.base_url, ...)
        emulator.inject("rate_limit", on="submit", times=2)

It speaks the three live dialects (market jobs, GPT-4o, Flux Kontext) and the reference shapes, checks
create bodies against each model's :class:`~kiecore.declarations.WireSpec` like the service would (more
strictly: unknown keys are refused), runs tasks on a clock, serves real result images from a second
loopback host, records every request and injects faults. Reply shapes are described in
:mod:`kiecore.emulator.replies`; in the reference profile a completed task with several images also carries
``imageUrls`` (an extension: the reference's ``imageUrl`` holds one URL). Pillow is needed to serve images.

It also serves the credit and download-url endpoints, can expire result URLs (the ``expire`` fault), POSTs
callbacks to loopback receivers (HMAC-signed with ``webhook_hmac_key``) and, with ``enforce_limits``,
answers the live rate limits' 429s. A third server is the upload host (``emulator.upload_url``): Kie's three
file uploads, served back from the file host. With ``run_times`` (:class:`RunTimes`) each task runs its own
duration, drawn around its model's typical seconds.

Modules, one job each (listed in docs/emulator.md): :mod:`~kiecore.emulator.emulator` holds :class:`Emulator`;
the API host is :mod:`~kiecore.emulator.api`, the upload host :mod:`~kiecore.emulator.uploads`, the file host
:mod:`~kiecore.emulator.files`. ``kie emulator`` (:mod:`kiecore.cli.emulator_command`) runs one in the
foreground.
"""

from kiecore.emulator.callbacks import CallbackDelivery
from kiecore.emulator.emulator import Emulator
from kiecore.emulator.faults import Fault, FaultKind, FaultPlan, parse_fault
from kiecore.emulator.requestlog import RecordedRequest
from kiecore.emulator.runtimes import RunTimes
from kiecore.emulator.tasks import EmulatedTask
from kiecore.emulator.uploads import EmulatedUpload
from kiecore.emulator.validate import body_problems

__all__ = [
    "CallbackDelivery",
    "EmulatedTask",
    "EmulatedUpload",
    "Emulator",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "RecordedRequest",
    "RunTimes",
    "body_problems",
    "parse_fault",
]
