"""``num_images`` beyond what one task makes: the requests of as many tasks as it takes.

Some models make one image per task (GPT-4o Image and Imagen 4 Fast since 2026, every Nano Banana), others a
fixed few, others up to a declared count. :func:`split_request` turns a request for ``N`` images into the
requests of ``ceil(N / per task)`` tasks, each asking for what its task can make, so ``kie generate -n 4``
means four images on every model.
"""

from __future__ import annotations

import attrs

from kiecore.declarations import ModelSpec
from kiecore.errors import InvalidParameterError
from kiecore.model import GenerationRequest, Profile

#: The most tasks one request is split into (a typo such as ``-n 400`` is refused, not run).
MAX_TASKS = 50


def split_request(model: ModelSpec, profile: Profile, request: GenerationRequest) -> tuple[GenerationRequest, ...]:
    """The requests of the tasks that make ``request.num_images`` images with ``model`` in ``profile``: the
    request itself when one task makes them all (or none is asked for), else one request per task, each
    asking for at most what one task makes (``num_images`` left out where the model takes no count).
    Raises :class:`InvalidParameterError` for fewer than one image or more than :data:`MAX_TASKS` tasks."""
    wanted = request.num_images
    if wanted is None:
        return (request,)
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
        raise _refused(f"num_images must be a whole number of at least 1, got {wanted!r}", wanted)
    per_task = model.task_images(profile)
    if wanted <= per_task:
        return (request,)
    tasks = -(-wanted // per_task)
    if tasks > MAX_TASKS:
        message = f"num_images={wanted} would take {tasks} tasks of {model.id} ({per_task} per task); at most "
        raise _refused(f"{message}{MAX_TASKS * per_task} in one go", wanted)
    count_param = model.wire(profile).for_common("num_images")
    if count_param is None:
        return tuple(attrs.evolve(request, num_images=None) for _ in range(tasks))
    allowed = sorted(int(choice) for choice in count_param.choices)
    requests = []
    left = wanted
    while left > 0:
        count = max((c for c in allowed if c <= left), default=allowed[0]) if allowed else min(per_task, left)
        requests.append(attrs.evolve(request, num_images=count))
        left -= count
    return tuple(requests)


def _refused(message: str, wanted: object) -> InvalidParameterError:
    """A refusal of the image count (``kie`` names it ``-n``)."""
    return InvalidParameterError(message, parameter="num_images", value=wanted, common="num_images", named="num_images")
