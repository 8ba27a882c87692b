"""Create requests for every dialect, from a model's declared :class:`~kiecore.declarations.WireSpec`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiecore.declarations import BodyLayout, ModelSpec
from kiecore.model import GenerationRequest, Profile
from kiecore.wire.request import WireRequest


def build_create_request(
    model: ModelSpec, profile: Profile, params: Mapping[str, Any], request: GenerationRequest
) -> WireRequest:
    """The create request: ``{model?, callBackUrl?, input: {params}}`` or the flat form, per the declaration."""
    wire = model.wire(profile)
    body: dict[str, Any] = {}
    if wire.model_field is not None:
        body["model"] = wire.model_field
    if request.callback_url and wire.callback_field:
        body[wire.callback_field] = request.callback_url
    if wire.layout is BodyLayout.INPUT:
        body["input"] = dict(params)
    else:
        body.update(params)
    return WireRequest("POST", wire.submit_path, body=body)


def build_status_request(model: ModelSpec, profile: Profile, task_id: str) -> WireRequest:
    """The record-info request for a task (the default of every dialect; see ``WireDialect.status_request``)."""
    return status_query(model.wire(profile).status_path, task_id)


def status_query(status_path: str, task_id: str) -> WireRequest:
    """``GET <status_path>?taskId=<task_id>``."""
    return WireRequest("GET", status_path, query=(("taskId", task_id),))
