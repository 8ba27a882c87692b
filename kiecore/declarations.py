"""Model declarations: what a plugin tells the core about each model it serves.

A plugin declares every parameter a model takes, per profile, under the wire name Kie's docs use. The
core validates requests against these declarations before anything is sent, the CLI lists them, and the
emulator checks request bodies against them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
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
    the default. ``min_length``/``max_length`` bound a text's length in characters. ``max_file_bytes`` is the
    largest local image file a ``URL``/``URL_LIST`` parameter takes
    (``None``: :data:`kiecore.localimages.MAX_IMAGE_BYTES`); local files are uploaded before the create.
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
    min_length: int | None = None
    max_length: int | None = None
    max_items: int | None = None
    value_map: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping, hash=False)
    as_string: bool = False
    send_default: bool = False
    omit_default: bool = False
    max_file_bytes: int | None = None

    @common.validator
    def _check_common(self, _attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None and value not in COMMON_PARAMETERS:
            raise ValueError(f"{self.name}: unknown common parameter {value!r}")


def _same(value: Any, wanted: Any) -> bool:
    """Equal, and a bool only to a bool (``True == 1`` is no match)."""
    return value == wanted and isinstance(value, bool) == isinstance(wanted, bool)


@attrs.frozen(kw_only=True)
class Match:
    """A test of one parameter's wire value in a :class:`Rule`: one of ``values``, or within ``minimum`` ..
    ``maximum``; with neither, only that the parameter has a value."""

    values: tuple[Any, ...] = attrs.field(default=(), converter=_choices)
    minimum: float | None = None
    maximum: float | None = None

    @property
    def any_value(self) -> bool:
        """Whether the test is only that the parameter has a value."""
        return not self.values and self.minimum is None and self.maximum is None

    def holds(self, value: Any) -> bool:
        """Whether ``value`` (``None``: the parameter has none) passes."""
        if value is None:
            return False
        if self.values and not any(_same(value, wanted) for wanted in self.values):
            return False
        if self.minimum is None and self.maximum is None:
            return True
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)

    def describe(self) -> str:
        """What passes, for a person: ``1K or 2K``, ``0..2``, ``set``."""
        if self.values:
            words = [price_key(value) for value in self.values]
            return " or ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + f" or {words[-1]}"
        if self.any_value:
            return "set"
        low = "" if self.minimum is None else f"{self.minimum:g}"
        high = "" if self.maximum is None else f"{self.maximum:g}"
        return f"{low}..{high}"


def _matches(value: Mapping[str, Any] | None) -> Mapping[str, Match]:
    """``{name: Match | value | (values...)}`` with every test as a :class:`Match`."""
    tests: dict[str, Match] = {}
    for name, test in (value or {}).items():
        if isinstance(test, Match):
            tests[name] = test
        elif isinstance(test, (tuple, list, frozenset, set)):
            tests[name] = Match(values=tuple(test))
        else:
            tests[name] = Match(values=(test,))
    return tests


@attrs.frozen(kw_only=True)
class Rule:
    """A rule across parameters, on wire names and values: when every ``when`` test holds, each ``then`` test
    must hold too. ``reason`` says why, in the docs' words (``"1:1 cannot be 4K"``).

    Tests see a parameter's *effective* value: the one sent, else its declared default. A ``then`` parameter
    with neither is left to the service and passes; a ``when`` parameter with neither does not hold. Values
    may be given bare or as a tuple (one of them), or as a :class:`Match`::

        Rule(when={"aspect_ratio": "1:1"}, then={"resolution": ("1K", "2K")}, reason="1:1 cannot be 4K")
        Rule(when={"inputImage": Match()}, then={"safetyTolerance": Match(minimum=0, maximum=2)},
             reason="edit mode allows safetyTolerance 0-2")
    """

    when: Mapping[str, Match] = attrs.field(converter=_matches, hash=False)
    then: Mapping[str, Match] = attrs.field(converter=_matches, hash=False)
    reason: str

    def __attrs_post_init__(self) -> None:
        if not self.when or not self.then:
            raise ValueError("a rule needs at least one when= test and one then= test")

    def broken_by(self, values: Mapping[str, Any]) -> str | None:
        """The ``then`` parameter that ``values`` (effective wire values) break this rule with, or ``None``."""
        if not all(test.holds(values.get(name)) for name, test in self.when.items()):
            return None
        for name, test in self.then.items():
            if values.get(name) is not None and not test.holds(values[name]):
                return name
        return None

    def describe_when(self, values: Mapping[str, Any] | None = None) -> str:
        """The condition, for a person: ``aspect_ratio=1:1``, ``inputImage set``; with ``values`` (effective
        wire values that meet it), those values (``aspect_ratio=27:16``)."""
        parts = []
        for name, test in self.when.items():
            if test.any_value:
                parts.append(f"{name} set")
            else:
                shown = price_key(values[name]) if values is not None and name in values else test.describe()
                parts.append(f"{name}={shown}")
        return " and ".join(parts)


@attrs.frozen(kw_only=True)
class WireSpec:
    """How a model is spoken to in one profile: paths, body layout, reply dialect and parameters.

    ``dialect`` names the wire dialect (a :class:`Dialect` or the name of one a plugin registers), which says
    how replies read, how status and fresh links are asked for, and what rate quirks apply. ``model_field`` is
    the value of the body's ``model`` key (``None``: no such key). ``status_path`` is polled with
    ``?taskId=<id>``. ``requires_any`` lists groups of parameter names of which at least one must be set;
    ``rules`` are the rules across parameters the service enforces (:class:`Rule`).
    """

    dialect: str = attrs.field(converter=_dialect_name)
    submit_path: str
    status_path: str
    layout: BodyLayout = BodyLayout.FLAT
    model_field: str | None = None
    callback_field: str | None = "callBackUrl"
    params: tuple[ParamSpec, ...] = ()
    requires_any: tuple[tuple[str, ...], ...] = ()
    rules: tuple[Rule, ...] = ()

    def __attrs_post_init__(self) -> None:
        declared = {param.name for param in self.params}
        for rule in self.rules:
            unknown = sorted({*rule.when, *rule.then} - declared)
            if unknown:
                raise ValueError(f"a rule names {unknown[0]!r}, which is not a declared parameter")
        for group in self.requires_any:
            if not group:
                raise ValueError("a requires_any group is empty: it could never be satisfied")
            unknown = sorted(set(group) - declared)
            if unknown:
                raise ValueError(f"requires_any names {unknown[0]!r}, which is not a declared parameter")

    def effective(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` (wire values to send) with each declared default filled in where a parameter is left out:
        what the service works with."""
        values = {spec.name: spec.default for spec in self.params if spec.default is not None}
        values.update(params)
        return values

    def broken_rule(self, params: Mapping[str, Any]) -> tuple[Rule, str] | None:
        """The first rule ``params`` break, with the parameter that breaks it, or ``None``."""
        if not self.rules:
            return None
        values = self.effective(params)
        for rule in self.rules:
            name = rule.broken_by(values)
            if name is not None:
                return rule, name
        return None

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


class PriceUnit(enum.StrEnum):
    """What a :class:`Price` is counted in."""

    IMAGE = "image"  # credits per result image: times the request's image count
    REQUEST = "request"  # credits per task, however many images it makes


def credits_amount(value: Any) -> Decimal:
    """``value`` (an int, a decimal string, a :class:`~decimal.Decimal` or a float, read as written) as a finite
    :class:`~decimal.Decimal` of credits; ``ValueError`` otherwise (a bool is no amount)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"not an amount of credits: {value!r}")
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise ValueError(f"not an amount of credits: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount of credits: {value!r}")
    return amount


def price_key(value: Any) -> str:
    """How a parameter value is looked up in :attr:`Price.by_value`: ``true``/``false`` for booleans, else its
    text (``"2K"``, ``"4"``)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _optional_credits(value: Any) -> Decimal | None:
    return None if value is None else credits_amount(value)


def _credits_by_value(value: Mapping[Any, Any] | None) -> Mapping[str, Decimal]:
    return {price_key(key): credits_amount(amount) for key, amount in (value or {}).items()}


@attrs.frozen(kw_only=True)
class Price:
    """What a model costs, in Kie credits, as Kie's docs state it (1 credit is about $0.005).

    Either ``credits`` (a fixed amount) or ``by`` and ``by_value``: the live wire parameter whose value sets the
    price, and the credits for each of its values (``Price(by="resolution", by_value={"1K": 8, "2K": 12, "4K":
    18})``); a value missing from ``by_value`` has no known price. Amounts are :class:`~decimal.Decimal` (ints,
    decimal strings and floats are read as written); none may be negative. ``per`` says whether the amount is
    per result image (the default) or per task. ``source`` says where the docs state it.
    """

    credits: Decimal | None = attrs.field(default=None, converter=_optional_credits)
    per: PriceUnit = attrs.field(default=PriceUnit.IMAGE, converter=PriceUnit)
    by: str | None = None
    by_value: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_credits_by_value, hash=False)
    source: str = ""

    def __attrs_post_init__(self) -> None:
        if (self.credits is None) == (self.by is None) or (self.by is None) != (not self.by_value):
            raise ValueError("a price is either credits=..., or by=<parameter> with by_value={value: credits}")
        amounts = [self.credits] if self.credits is not None else list(self.by_value.values())
        if any(amount < 0 for amount in amounts):
            raise ValueError("a price cannot be negative")

    def credits_for(self, value: Any = None) -> Decimal | None:
        """The credits per unit: the fixed amount, or the amount for ``value`` of :attr:`by` (``None``: no
        price is stated for that value)."""
        if self.by is None:
            return self.credits
        return None if value is None else self.by_value.get(price_key(value))


@attrs.frozen(kw_only=True)
class ModelSpec:
    """A model as a plugin declares it.

    ``id`` follows the live service; ``aliases`` add short and reference-spec names. ``typical_seconds`` is how
    long a generation usually takes; it shapes polling and the default deadline. ``reference`` is ``None`` when
    the reference spec does not describe this model. ``max_images`` is the most images one task can be asked
    for; ``images_per_task`` is how many one task makes when the model takes no image count (Grok Imagine makes
    several). ``price`` is what Kie's docs say it costs (``None``: they state no price); a price that varies must
    name a parameter of the live profile, and only its values.
    """

    id: str
    title: str
    family: str
    live: WireSpec
    reference: WireSpec | None = None
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_names)
    typical_seconds: float = 30.0
    max_images: int = 1
    images_per_task: int = 1
    description: str = ""
    price: Price | None = attrs.field(default=None)

    @price.validator
    def _check_price(self, _attribute: attrs.Attribute[Any], value: Price | None) -> None:
        if value is None or value.by is None:
            return
        param = self.live.param(value.by)
        if param is None:
            raise ValueError(f"{self.id}: its price varies with {value.by!r}, which its live profile does not take")
        allowed = {price_key(choice) for choice in param.choices}
        unknown = sorted(set(value.by_value) - allowed) if allowed else []
        if unknown:
            raise ValueError(f"{self.id}: priced {value.by}={unknown[0]!r} is not one of its values")

    def wire(self, profile: Profile) -> WireSpec:
        """The wire spec for ``profile``; raises ``LookupError`` if the model has none there."""
        spec = self.live if profile is Profile.LIVE else self.reference
        if spec is None:
            raise LookupError(f"model {self.id} has no {profile.value} profile")
        return spec

    def task_images(self, profile: Profile) -> int:
        """The most images one task makes in ``profile``: its image count's limit, else :attr:`images_per_task`."""
        count = self.wire(profile).for_common("num_images")
        if count is None:
            return self.images_per_task
        if count.choices:
            return max(int(choice) for choice in count.choices)
        return int(count.maximum) if count.maximum is not None else self.max_images

    def profiles(self) -> tuple[Profile, ...]:
        """The profiles this model can be spoken to in."""
        return (Profile.LIVE,) if self.reference is None else (Profile.LIVE, Profile.REFERENCE)
