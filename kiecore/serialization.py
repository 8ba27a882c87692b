"""JSON for the common model, through one cattrs converter."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, TypeVar

import cattrs

from kiecore.declarations import BodyLayout, Dialect, ParamKind
from kiecore.model import Profile, TaskState, TaskStatus

T = TypeVar("T")

converter = cattrs.Converter()


def _enum_value(member: enum.Enum) -> Any:
    return member.value


# str-valued enums would otherwise pass through as enum members; JSON wants their plain values.
for _enum in (Profile, TaskState, Dialect, BodyLayout, ParamKind):
    converter.register_unstructure_hook(_enum, _enum_value)
converter.register_unstructure_hook(Path, str)
converter.register_structure_hook(Path, lambda value, _type: Path(value))
# ``raw`` is whatever JSON the service sent: pass it through untouched.
converter.register_unstructure_hook(
    TaskStatus,
    cattrs.gen.make_dict_unstructure_fn(
        TaskStatus, converter, raw=cattrs.gen.override(unstruct_hook=lambda value: value)
    ),
)
converter.register_structure_hook(
    TaskStatus,
    cattrs.gen.make_dict_structure_fn(
        TaskStatus, converter, raw=cattrs.gen.override(struct_hook=lambda value, _type: value)
    ),
)


def to_json(obj: Any) -> Any:
    """A JSON-ready value (dicts, lists, strings, numbers) for any kiecore data object."""
    return converter.unstructure(obj)


def from_json(cls: type[T], data: Any) -> T:
    """The ``cls`` instance described by ``data``; raises ``cattrs`` errors for malformed data."""
    return converter.structure(data, cls)
