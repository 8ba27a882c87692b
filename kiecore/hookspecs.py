"""The hook contract between the core and model plugins.

Plugins implement these with ``@kiecore.hookimpl``. The core calls them with keyword arguments, and only
on the plugin that registered the model in question, so an implementation never sees another plugin's
models. An implementation may accept fewer arguments than the spec names.

Every hook is pure: it maps data and never does I/O, keeps no state between calls, and may be called from
several threads at once. The core validates parameters before ``build_request``, checks the reply envelope
(HTTP status, body ``code``) before the parse hooks, and checks the type of everything a hook returns. A
``firstresult`` hook that returns ``None`` means "not implemented for this model": the core reports it as a
plugin error. The core itself builds the status and fresh-link requests (from the model's dialect), not a hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from kiecore.declarations import ModelSpec
from kiecore.model import GenerationRequest, Profile, TaskStatus
from kiecore.wire.request import WireRequest

if TYPE_CHECKING:
    from kiecore.dialects.base import WireDialect

PROJECT = "kiecore"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Declare the models this plugin serves by calling ``register(ModelSpec(...))`` once per model.

    Called once, when the plugin is loaded. The core owns ids, aliases and collisions: a name claimed by
    two plugins becomes an error naming both distributions. May raise anything; a plugin whose
    registration raises is reported as failed to load and the others carry on.
    """


@hookspec
def register_dialects(register: Callable[[WireDialect], None]) -> None:
    """Bring wire dialects of this plugin's own by calling ``register(dialect)`` once per dialect object.

    A dialect (:class:`kiecore.dialects.WireDialect`) is everything the core needs to speak one family of
    endpoints: how its status records look and read, where result URLs sit, which body codes mean the task
    failed, its rate quirks, how to ask for a fresh link, and where its emulation lives. Models name it in
    ``WireSpec.dialect``. The built-in ``market``, ``gpt4o``, ``flux`` and ``reference`` dialects are
    registered through this same hook; a name registered twice is reported as a load failure of the second
    plugin. Called once, when the plugin is loaded.
    """


@hookspec(firstresult=True)
def build_request(
    model: ModelSpec, profile: Profile, params: Mapping[str, Any], request: GenerationRequest
) -> WireRequest | None:
    """Build the create request for one generation.

    ``params`` maps wire names to wire values, already validated against ``model.wire(profile)``, with
    common parameters translated and defaults applied; ``request`` is the caller's original request (for
    ``callback_url`` and anything a plugin needs beyond ``params``). Image values are URLs to copy, never to
    open: a local image is its ``file:`` URL while the request is prepared, and the request sent is built again
    with the http(s) URL it was uploaded to. Return a :class:`WireRequest` whose path is relative to the API
    base URL. Must not raise for valid ``params``.

    Example (market dialect)::

        WireRequest("POST", "/api/v1/jobs/createTask",
                    body={"model": "nano-banana-pro", "input": {"prompt": "a fox", "resolution": "2K"}})
    """


@hookspec(firstresult=True)
def parse_submit(model: ModelSpec, profile: Profile, reply: Any) -> str | None:
    """Return the task id from a create reply.

    ``reply`` is the decoded JSON body, already known to carry a success code, e.g.
    ``{"code": 200, "msg": "success", "data": {"taskId": "abc"}}``; accept both ``taskId`` and ``task_id``.
    Raise :class:`kiecore.errors.ParseError` (and nothing else) when no task id can be found.
    """


@hookspec(firstresult=True)
def parse_status(model: ModelSpec, profile: Profile, reply: Any, dialect: WireDialect) -> TaskStatus | None:
    """Map a status (record-info) reply to a :class:`TaskStatus`, leaving ``urls`` empty.

    ``reply`` is the decoded JSON body with a success code, in either profile's shape whatever ``profile``
    is. ``dialect`` is the one the core chose to read it: the model's declared dialect, or the one the reply
    clearly belongs to (:func:`kiecore.dialects.for_reply`); ``dialect.parse_status(reply["data"])`` is the
    usual answer. Documented states map to the common states; an unrecognised state word maps to ``UNKNOWN``
    (the core keeps polling). Progress is normalised to 0..1. Failure code and message are copied from the
    reply. Raise :class:`kiecore.errors.ParseError` (and nothing else) for a malformed reply.
    """


@hookspec(firstresult=True)
def extract_urls(model: ModelSpec, profile: Profile, reply: Any, dialect: WireDialect) -> Sequence[str] | None:
    """Return the result URLs of a finished task from a status or callback reply, in order.

    Called only after ``parse_status`` said the task succeeded (and on callback bodies); ``dialect`` as for
    ``parse_status``. Return absolute http(s) URLs; an empty sequence when there are none. Raise
    :class:`kiecore.errors.ParseError` (and nothing else) for a malformed reply.
    """
