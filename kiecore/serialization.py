"""JSON for the common model, through one cattrs converter."""

from __future__ import annotations

import enum
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import cattrs

from kiecore.declarations import BodyLayout, Dialect, ParamKind, PriceUnit, credits_amount
from kiecore.model import Profile, TaskState, TaskStatus

T = TypeVar("T")

converter = cattrs.Converter()


def json_number(value: Decimal) -> int | float:
    """A decimal as a JSON number: an int when it is whole (``4``), else the float it reads as (``60.62``)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _enum_value(member: enum.Enum) -> Any:
    return member.value


# str-valued enums would otherwise pass through as enum members; JSON wants their plain values.
for _enum in (Profile, TaskState, Dialect, BodyLayout, ParamKind, PriceUnit):
    converter.register_unstructure_hook(_enum, _enum_value)
converter.register_unstructure_hook(Path, str)
converter.register_structure_hook(Path, lambda value, _type: Path(value))
# Credits are exact decimals in kiecore and plain JSON numbers outside: 4, 6.5.
converter.register_unstructure_hook(Decimal, json_number)
converter.register_structure_hook(Decimal, lambda value, _type: credits_amount(value))
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
