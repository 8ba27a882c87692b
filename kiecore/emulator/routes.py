"""What each host serves: the models' routes (from the registry), the common endpoints and the file host's paths.

Every model's ``submit_path`` (POST) and ``status_path`` (GET) is served in each of its profiles. Creates on a
shared path are dispatched by the body's ``model``; the credit and download-url endpoints are the same in both
profiles; result files live at ``/files/<task id>/<name>`` on the file host.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from kiecore.declarations import WireSpec
from kiecore.dialects import WireDialect
from kiecore.emulator.dialects import EmulatedDialect, emulation_of
from kiecore.emulator.http_replies import envelope_reply, not_found
from kiecore.emulator.httpserver import Reply
from kiecore.errors import KieError
from kiecore.model import Profile
from kiecore.registry import ModelEntry, Registry

CREDIT_PATH = "/api/v1/chat/credit"
DOWNLOAD_URL_PATH = "/api/v1/common/download-url"
GPT4O_DOWNLOAD_URL_PATH = "/api/v1/gpt4o-image/download-url"
COMMON_ROUTES = frozenset({("GET", CREDIT_PATH), ("POST", DOWNLOAD_URL_PATH), ("POST", GPT4O_DOWNLOAD_URL_PATH)})

#: A result file's path on the file host: task id, file name.
FILE_PATH = re.compile(r"^/files/([^/]+)/([^/]+)$")


def files_base(files_url: str, task_id: str) -> str:
    """The URL a task's result files sit under."""
    return f"{files_url}/files/{task_id}"


@attrs.frozen
class Route:
    """One model served at one path in one profile: its dialect there, that dialect's emulation, and the
    emulation of the model's live dialect (which shapes its callbacks whatever the profile)."""

    entry: ModelEntry
    profile: Profile
    wire: WireSpec
    dialect: WireDialect
    emulation: EmulatedDialect
    live_emulation: EmulatedDialect


#: Routes by ``(method, path, profile)``.
RouteTable = dict[tuple[str, str, Profile], list[Route]]


def route_table(registry: Registry) -> RouteTable:
    """Every model's routes in every profile whose dialect can be emulated (others are simply not served)."""
    table: RouteTable = {}
    for entry in registry.models():
        for profile in entry.spec.profiles():
            wire = entry.spec.wire(profile)
            try:
                dialect = registry.dialect_of(entry, profile)
                emulation = emulation_of(dialect)
                live_emulation = emulation_of(registry.dialect_of(entry, Profile.LIVE))
            except (LookupError, KieError, ImportError):
                continue
            route = Route(entry, profile, wire, dialect, emulation, live_emulation)
            table.setdefault(("POST", wire.submit_path, profile), []).append(route)
            status_routes = table.setdefault(("GET", wire.status_path, profile), [])
            status_routes.append(route)
    return table


def path_message_key(routes: list[Route]) -> str:
    """The envelope's message key for replies not yet tied to one model: ``message`` only if every route says so."""
    keys = {route.emulation.message_key(route.profile) for route in routes}
    return "message" if keys == {"message"} else "msg"


def pick_route(
    registry: Registry, routes: list[Route], profile: Profile, path: str, data: Any, key: str
) -> Route | Reply:
    """The route a create body is for, by its ``model`` (or an error reply)."""
    model = data.get("model") if isinstance(data, dict) else None
    for route in routes:
        if route.wire.model_field is not None and route.wire.model_field == model:
            return route
    if model is not None and any(
        entry.spec.wire(other).model_field == model for entry in registry.models() for other in entry.spec.profiles()
    ):  # a known model, but not at this path in this profile
        return not_found(f"Not Found: {model} is not served at {path} in the {profile.value} profile", key)
    unkeyed = [route for route in routes if route.wire.model_field is None]
    if len(unkeyed) == 1:
        return unkeyed[0]
    if len(routes) == 1:
        return routes[0]
    reason = "is required" if model is None else f"unknown model {model!r}"
    return envelope_reply(422, f"model: {reason}", key=key)
