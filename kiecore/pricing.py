"""What a request is expected to cost: the model's declared :class:`~kiecore.declarations.Price` times the
images it asks for, read from the parameters as they will be sent.

Every amount is a :class:`~decimal.Decimal` of Kie credits, as :meth:`Client.credits
<kiecore.client.Client.credits>` answers the balance. An estimate is only what the docs' price says; Kie's own
bill is what counts (the market callback's ``consumeCredits``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kiecore.declarations import ModelSpec, PriceUnit
from kiecore.model import Profile

if TYPE_CHECKING:
    from kiecore.engine.calls import PreparedRequest

__all__ = ["USD_PER_CREDIT", "estimate", "estimate_params", "image_count", "no_estimate_reason"]

#: What one credit costs, about (docs.kie.ai's pricing; docs/kie-api-notes.md §8).
USD_PER_CREDIT = Decimal("0.005")


def estimate(prepared: PreparedRequest) -> Decimal | None:
    """The credits sending ``prepared`` should cost (:func:`estimate_params` of its model, profile and wire
    parameters); ``None`` when that is unknown."""
    return estimate_params(prepared.model.spec, prepared.profile, prepared.params)


def estimate_params(model: ModelSpec, profile: Profile, params: Mapping[str, Any]) -> Decimal | None:
    """The credits a create of ``model`` with wire parameters ``params`` (as :func:`~kiecore.validation.
    resolve_params` gives them) should cost: the price per image times :func:`image_count`, or the price per
    request. A parameter left out counts at its declared default. ``None`` when the model declares no price,
    the price varies with a parameter this profile does not take or a value the docs give no price for, or the
    image count is unknown."""
    return _priced(model, profile, params)[0]


def _priced(model: ModelSpec, profile: Profile, params: Mapping[str, Any]) -> tuple[Decimal | None, str]:
    """:func:`estimate_params`'s figure, and when there is none, why (for :func:`no_estimate_reason`)."""
    price = model.price
    if price is None:
        return None, f"no price is declared for {model.id}"
    value = None
    if price.by is not None:
        spec = model.wire(profile).param(price.by)
        value = None if spec is None else params.get(spec.name, spec.default)
        if value is None:
            return None, f"{model.id}'s price depends on {price.by}, which is not set"
    unit = price.credits_for(value)
    if unit is None:
        return None, f"the docs give no price for {model.id} with {price.by}={value}"
    if price.per is PriceUnit.REQUEST:
        return unit, ""
    images = image_count(model, profile, params)
    if images is None:
        return None, f"{model.id}'s price is per image, and the image count is not set"
    return unit * images, ""


def image_count(model: ModelSpec, profile: Profile, params: Mapping[str, Any]) -> int | None:
    """How many images a create with wire parameters ``params`` asks for: its image-count parameter (the one
    mapped from ``num_images``: ``num_images``, ``max_images``, ``variants``, ...) as sent, else its declared
    default; the model's :attr:`~kiecore.declarations.ModelSpec.images_per_task` for a model without one;
    ``None`` when it is left out and has no default. (A maximum such as Seedream's ``max_images`` counts in full:
    the estimate is then an upper bound.)"""
    spec = model.wire(profile).for_common("num_images")
    if spec is None:
        return model.images_per_task
    value = params.get(spec.name, spec.default)
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def no_estimate_reason(prepared: PreparedRequest) -> str:
    """Why :func:`estimate` gives no figure for ``prepared``, for a person: ``no price is declared for X``, or
    what the declared price needs that the request does not say (empty when there is a figure)."""
    return _priced(prepared.model.spec, prepared.profile, prepared.params)[1]
