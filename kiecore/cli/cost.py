"""How credits, prices and estimates read in ``kie``'s output."""

from __future__ import annotations

from decimal import Decimal

from kiecore.declarations import Price, PriceUnit
from kiecore.pricing import USD_PER_CREDIT


def amount(credits: Decimal) -> str:
    """``credits`` as plain text: ``4``, ``6.5``, ``60.62`` (no exponent, no trailing zeros)."""
    text = format(credits, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def credits_text(credits: Decimal) -> str:
    """``12 credits (about $0.06)``: the dollars at :data:`~kiecore.pricing.USD_PER_CREDIT`, in cents, or to a
    tenth of a cent where that shows (``$0.303``)."""
    dollars = f"{credits * USD_PER_CREDIT:.3f}"
    unit = "credit" if credits == 1 else "credits"
    return f"{amount(credits)} {unit} (about ${dollars[:-1] if dollars.endswith('0') else dollars})"


def price_summary(price: Price | None) -> str:
    """A price in a table cell: ``4/image``, ``8-18/image`` (varies), ``-`` (none declared)."""
    if price is None:
        return "-"
    if price.credits is not None:
        return f"{amount(price.credits)}/{price.per.value}"
    low, high = min(price.by_value.values()), max(price.by_value.values())
    span = amount(low) if low == high else f"{amount(low)}-{amount(high)}"
    return f"{span}/{price.per.value}"


def price_detail(price: Price | None) -> str:
    """A price in full: ``4 credits per image``, ``8 credits per image at resolution=1K, 12 at 2K, 18 at 4K``."""
    if price is None:
        return "no price declared"
    per = "per image" if price.per is PriceUnit.IMAGE else "per request"
    if price.credits is not None:
        return f"{amount(price.credits)} credits {per}"
    first, *others = price.by_value.items()
    rest = "".join(f", {amount(credits)} at {value}" for value, credits in others)
    return f"{amount(first[1])} credits {per} at {price.by}={first[0]}{rest}"
