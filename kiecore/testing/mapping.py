"""Helpers for a plugin's own mapping tests: the create request a request becomes, or why it is refused."""

from __future__ import annotations

from typing import Any

import pytest

from kiecore.errors import InvalidParameterError
from kiecore.model import GenerationRequest, Profile
from kiecore.registry import ModelEntry, Registry
from kiecore.validation import resolve_params


def create_request(
    registry: Registry, entry: ModelEntry, profile: Profile, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """``(path, body)`` of the create request for ``GenerationRequest(**fields)``; it must be a POST with a body."""
    request = GenerationRequest(**fields)
    params = resolve_params(entry.spec, profile, request)
    wire_request = registry.build_request(entry, profile, params, request)
    assert wire_request.method == "POST"
    assert wire_request.body is not None
    return wire_request.path, dict(wire_request.body)


def refusal(entry: ModelEntry, profile: Profile, **fields: Any) -> InvalidParameterError:
    """The error ``GenerationRequest(**fields)`` is refused with (the test fails if it is accepted)."""
    with pytest.raises(InvalidParameterError) as caught:
        resolve_params(entry.spec, profile, GenerationRequest(**fields))
    return caught.value
