"""The API host: auth, request-level faults, rate limits, then creates, status queries and the common endpoints.

A request with an ``X-API-KEY`` header speaks the reference profile and needs that header; any other speaks
the live profile and needs ``Authorization: Bearer <key>``. On a model route the order is: request-level fault,
auth, rate limit (with ``enforce_limits``), then the create or status query itself. Status queries find the
task by ``taskId`` and answer in the shapes of the profile it was created in. The credit and download-url
endpoints need the same auth but see no faults and no rate limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qs

import attrs

from kiecore.emulator import replies
from kiecore.emulator.callbacks import CallbackDispatcher
from kiecore.emulator.creation import new_task
from kiecore.emulator.faults import FaultKind, FaultPlan
from kiecore.emulator.http_replies import envelope_reply, fault_reply, json_reply, not_found, rate_limited
from kiecore.emulator.httpserver import Reply
from kiecore.emulator.limits import Check, SlidingLimiter
from kiecore.emulator.links import FreshLinks
from kiecore.emulator.routes import (
    COMMON_ROUTES,
    CREDIT_PATH,
    GPT4O_DOWNLOAD_URL_PATH,
    Route,
    path_message_key,
    pick_route,
    route_table,
)
from kiecore.emulator.runtimes import RunTimes
from kiecore.emulator.tasks import TaskStore
from kiecore.emulator.validate import body_problems
from kiecore.model import Profile
from kiecore.registry import Registry

_NO_ACCESS = "You do not have access permissions"


class ApiSettings(Protocol):
    """What the API host reads from the emulator at each request."""

    @property
    def api_key(self) -> str | None: ...

    @property
    def retry_after(self) -> float: ...

    @property
    def enforce_limits(self) -> bool: ...

    @property
    def create_limit(self) -> tuple[int, float]: ...

    @property
    def status_limit(self) -> tuple[int, float]: ...

    @property
    def gpt4o_task_status_limit(self) -> tuple[int, float]: ...

    @property
    def task_seconds(self) -> float: ...

    @property
    def run_times(self) -> RunTimes | None: ...

    @property
    def files_url(self) -> str: ...

    @property
    def credits(self) -> int: ...


@attrs.frozen
class ApiState:
    """The stores the API host reads and fills."""

    tasks: TaskStore
    faults: FaultPlan
    limiter: SlidingLimiter
    callbacks: CallbackDispatcher
    links: FreshLinks


class ApiHost:
    """Answers every request to the API server, for every model in ``registry``."""

    def __init__(self, registry: Registry, state: ApiState, settings: ApiSettings) -> None:
        self._registry = registry
        self._state = state
        self._settings = settings
        self._routes = route_table(registry)

    def respond(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """The reply to one request; ``headers`` have lower-case names."""
        profile = Profile.REFERENCE if "x-api-key" in headers else Profile.LIVE
        if (method, path) in COMMON_ROUTES:
            if not self._authorised(profile, headers):
                return envelope_reply(401, _NO_ACCESS)
            return self._common(path, body)
        routes = self._routes.get((method, path, profile))
        if not routes:
            return not_found()
        key = path_message_key(routes)
        faults = self._state.faults
        phase = "submit" if method == "POST" else "status"
        fault = faults.take(phase)
        delay, drip = faults.take_delay(phase), faults.take_drip(phase)
        if fault is not None and fault.kind is not FaultKind.DROP_AFTER_CREATE:
            return attrs.evolve(fault_reply(fault, key, self._settings.retry_after), delay=delay, drip=drip)
        if not self._authorised(profile, headers):
            reply = envelope_reply(401, _NO_ACCESS, key=key)
        elif self._settings.enforce_limits and not self._state.limiter.admit(
            self._limit_checks(method, query, routes, _api_key(profile, headers))
        ):
            reply = rate_limited(key, "1")
        elif method == "POST":
            reply = self._create(routes, profile, path, body, key)
        else:
            reply = self._status(path, query, routes, key)
        if fault is not None:  # drop_after_create: processed, but nobody hears about it
            reply = Reply(0, drop=True)
        return attrs.evolve(reply, delay=delay, drip=drip)

    def _authorised(self, profile: Profile, headers: Mapping[str, str]) -> bool:
        key = _api_key(profile, headers)
        expected = self._settings.api_key
        return bool(key) and (expected is None or key == expected)

    def _limit_checks(self, method: str, query: str, routes: list[Route], api_key: str) -> list[Check]:
        """The rate-limit windows a request to a model route counts in."""
        if method == "POST":
            return [("create", api_key, self._settings.create_limit)]
        checks: list[Check] = [("status", api_key, self._settings.status_limit)]
        task_id = _task_id(query, routes)
        if task_id and any(route.dialect.status_limited_per_task for route in routes):  # the client's own rule
            checks.append(("task-status", task_id, self._settings.gpt4o_task_status_limit))
        return checks

    def _create(self, routes: list[Route], profile: Profile, path: str, body: bytes, key: str) -> Reply:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            code = 400 if any(route.live_emulation.bad_json_code == 400 for route in routes) else 422
            return envelope_reply(code, "Request body is not valid JSON", key=key)
        if not isinstance(data, dict):
            return envelope_reply(422, "body: must be a JSON object", key=key)
        picked = pick_route(self._registry, routes, profile, path, data, key)
        if isinstance(picked, Reply):
            return picked
        problems = body_problems(picked.wire, data)
        if problems:
            return envelope_reply(422, problems[0], key=picked.emulation.message_key(picked.profile))
        task = new_task(picked, data, self._settings.files_url, self._state.faults, self._settings.run_times)
        self._state.tasks.add(task)
        if task.callback_url is not None:
            self._state.callbacks.schedule(task)
        return json_reply(200, replies.create_reply(task))

    def _status(self, path: str, query: str, routes: list[Route], key: str) -> Reply:
        task_id = _task_id(query, routes)
        if not task_id:
            return envelope_reply(400, f"{routes[0].emulation.task_query} parameter is required", key=key)
        tasks = self._state.tasks
        task = tasks.get(task_id)
        if task is None or task.wire.status_path != path:
            return envelope_reply(422, "recordInfo is null", key=key)
        task_key = replies.message_key(task)
        if not tasks.spend_query(task):
            fault = task.invisible_fault
            if fault is not None:
                self._state.faults.note_fired(fault)
                if fault.options.get("reply") == "null_data":  # the other answer seen live while processing
                    return json_reply(200, replies.envelope(200, "success", None, key=task_key))
            return envelope_reply(422, "recordInfo is null", key=task_key)
        reply = json_reply(200, replies.status_reply(task, self._settings.task_seconds))
        self._state.callbacks.poke(task)  # a finished task's callback goes out now if its timer is still waiting
        return reply

    def _common(self, path: str, body: bytes) -> Reply:
        if path == CREDIT_PATH:
            return json_reply(200, replies.envelope(200, "success", self._settings.credits))
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return envelope_reply(422, "Request body is not valid JSON")
        if not isinstance(data, dict):
            return envelope_reply(422, "body: must be a JSON object")
        if path == GPT4O_DOWNLOAD_URL_PATH:
            return self._state.links.gpt4o_download_url(data.get("taskId"), data.get("url"))
        return self._state.links.download_url(data.get("url"))


def _api_key(profile: Profile, headers: Mapping[str, str]) -> str:
    """The key a request carries in its profile's header (``""``: none)."""
    if profile is Profile.REFERENCE:
        key = headers.get("x-api-key", "")
    else:
        scheme, _, key = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            key = ""
    return key.strip()


def _task_id(query: str, routes: list[Route]) -> str:
    """The task a status query names, under the query parameter its dialect uses (``taskId``)."""
    params = parse_qs(query)
    for name in dict.fromkeys(route.emulation.task_query for route in routes):
        if params.get(name):
            return params[name][0].strip()
    return ""
