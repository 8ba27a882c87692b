"""Model declarations: what a plugin tells the core about each model it serves.

A plugin declares every parameter a model takes, per profile, under the wire name Kie's docs use. The
core validates requests against these declarations before anything is sent, the CLI lists them, and the
emulator checks request bodies against them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from kiecore.model import COMMON_PARAMETERS, Profile


class ParamKind(enum.StrEnum):
    """The type of a parameter's value as the caller gives it."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    URL = "url"
    URL_LIST = "url-list"


class Dialect(enum.StrEnum):
    """The names of the built-in wire dialects (:mod:`kiecore.dialects`); a plugin may register others."""

    MARKET = "market"  # /api/v1/jobs/* : state words, resultJson string
    GPT4O = "gpt4o"  # /api/v1/gpt4o-image/* : successFlag 0-2, response.resultUrls, progress "0.45"
    FLUX = "flux"  # /api/v1/flux/kontext/* : successFlag 0-3, response.resultImageUrl
    REFERENCE = "reference"  # the reference spec's generic status/imageUrl/progress 0-100


class BodyLayout(enum.StrEnum):
    """Where parameters go in a create body."""

    INPUT = "input"  # {"model": ..., "callBackUrl": ..., "input": {params}}
    FLAT = "flat"  # {"model"?: ..., "callBackUrl"?: ..., **params}


def _dialect_name(value: Any) -> str:
    """A built-in dialect's name as its :class:`Dialect` member, any other name as a plain string."""
    name = str(value)
    return Dialect(name) if name in Dialect.__members__.values() else name


def _choices(value: Any) -> tuple[Any, ...]:
    return tuple(value or ())


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class ParamSpec:
    """One parameter of a model, in one profile.

    ``name`` is the wire name (what ``-p`` takes). ``common`` names the common parameter it maps from, if any.
    ``value_map`` translates common values to wire values (e.g. ``"16:9" -> "landscape_16_9"``); wire values
    are always accepted too. ``as_string`` sends numbers as strings (``"num_images": "2"``). ``send_default``
    sends the default when the caller sets nothing; ``omit_default`` leaves the parameter out when it equals
    the default.
    """

    name: str
    kind: ParamKind = ParamKind.STRING
    common: str | None = attrs.field(default=None)
    description: str = ""
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = attrs.field(default=(), converter=_choices)
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    max_items: int | None = None
    value_map: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping, hash=False)
    as_string: bool = False
    send_default: bool = False
    omit_default: bool = False

    @common.validator
    def _check_common(self, _attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None and value not in COMMON_PARAMETERS:
            raise ValueError(f"{self.name}: unknown common parameter {value!r}")


@attrs.frozen(kw_only=True)
class WireSpec:
    """How a model is spoken to in one profile: paths, body layout, reply dialect and parameters.

    ``dialect`` names the wire dialect (a :class:`Dialect` or the name of one a plugin registers), which says
    how replies read, how status and fresh links are asked for, and what rate quirks apply. ``model_field`` is
    the value of the body's ``model`` key (``None``: no such key). ``status_path`` is polled with
    ``?taskId=<id>``. ``requires_any`` lists groups of parameter names of which at least one must be set.
    """

    dialect: str = attrs.field(converter=_dialect_name)
    submit_path: str
    status_path: str
    layout: BodyLayout = BodyLayout.FLAT
    model_field: str | None = None
    callback_field: str | None = "callBackUrl"
    params: tuple[ParamSpec, ...] = ()
    requires_any: tuple[tuple[str, ...], ...] = ()

    def param(self, name: str) -> ParamSpec | None:
        """The parameter with this wire name, or ``None``."""
        for spec in self.params:
            if spec.name == name:
                return spec
        return None

    def for_common(self, common: str) -> ParamSpec | None:
        """The parameter that a common parameter maps to, or ``None`` if it means nothing here."""
        for spec in self.params:
            if spec.common == common:
                return spec
        return None


@attrs.frozen(kw_only=True)
class ModelSpec:
    """A model as a plugin declares it.

    ``id`` follows the live service; ``aliases`` add short and reference-spec names. ``typical_seconds`` is how
    long a generation usually takes; it shapes polling and the default deadline. ``reference`` is ``None`` when
    the reference spec does not describe this model.
    """

    id: str
    title: str
    family: str
    live: WireSpec
    reference: WireSpec | None = None
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_names)
    typical_seconds: float = 30.0
    max_images: int = 1
    description: str = ""

    def wire(self, profile: Profile) -> WireSpec:
        """The wire spec for ``profile``; raises ``LookupError`` if the model has none there."""
        spec = self.live if profile is Profile.LIVE else self.reference
        if spec is None:
            raise LookupError(f"model {self.id} has no {profile.value} profile")
        return spec

    def profiles(self) -> tuple[Profile, ...]:
        """The profiles this model can be spoken to in."""
        return (Profile.LIVE,) if self.reference is None else (Profile.LIVE, Profile.REFERENCE)
