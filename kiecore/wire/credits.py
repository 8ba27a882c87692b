"""The account's remaining credits (docs/kie-api-notes.md §8): ``GET /api/v1/chat/credit``, whose reply's
``data`` is a number, an integer (``100``) or a decimal (``60.62``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kiecore.declarations import credits_amount
from kiecore.errors import ParseError
from kiecore.wire.request import WireRequest

CREDIT_PATH = "/api/v1/chat/credit"


def credit_request() -> WireRequest:
    """The balance query (the same in both profiles)."""
    return WireRequest("GET", CREDIT_PATH)


def parse_credit_reply(reply: Any) -> Decimal:
    """The balance in a credit reply, exactly as written (``60.62`` is ``Decimal("60.62")``); a numeric string
    is read too. :class:`ParseError` when ``data`` holds no finite number."""
    data = reply.get("data") if isinstance(reply, Mapping) else None
    try:
        return credits_amount(data)
    except ValueError:
        raise ParseError(f"the credit reply holds no number of credits (its data is {type(data).__name__})") from None
