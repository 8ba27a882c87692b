"""``--dry-run`` of ``kie generate`` and ``kie batch``: what would be sent and what it should cost, sending
nothing. Requests come from :meth:`Client.prepare <kiecore.client.Client.prepare>`, so what is shown is what a
real run sends; no key, journal, emulator or output folder is touched.

With ``--emulator`` the endpoint is shown as a path alone: an emulator's address exists only while it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from kiecore.cli.cost import credits_text
from kiecore.cli.output import print_json
from kiecore.client import Client, PreparedRequest
from kiecore.pricing import estimate, no_estimate_reason
from kiecore.serialization import json_number
from kiecore.transport import check_base_url


def dry_client(args: argparse.Namespace) -> Client:
    """A client that only prepares: no journal and no rate limits, and the base URL checked as a real run
    would check it."""
    client = Client(base_url=args.base_url, profile=args.profile, rate_limits=None)
    if not args.emulator:
        check_base_url(client.base_url)
    return client


def endpoint(prepared: PreparedRequest, base_url: str | None) -> str:
    """Where the create goes: ``https://api.kie.ai/api/v1/jobs/createTask`` (the path alone without a base URL)."""
    wire = prepared.wire
    query = f"?{urlencode(wire.query)}" if wire.query else ""
    return f"{(base_url or '').rstrip('/')}{wire.path}{query}"


def described(prepared: PreparedRequest, base_url: str | None) -> dict[str, Any]:
    """One request as JSON: ``method``, ``url`` (a path alone with ``--emulator``), ``body`` (a local image in it
    as its ``file:`` URL), ``uploads`` (those local images, uploaded first) and ``estimated_credits`` (``null``:
    unknown)."""
    cost = estimate(prepared)
    return {
        "model": prepared.model.spec.id,
        "method": prepared.wire.method,
        "url": endpoint(prepared, base_url),
        "body": prepared.wire.body,
        "uploads": list(prepared.uploads),
        "estimated_credits": None if cost is None else json_number(cost),
    }


def _uploads_note(prepared: Sequence[PreparedRequest]) -> str:
    """``; 2 local images would be uploaded first`` (their ``file:`` URLs in the bodies stand for the URLs)."""
    count = len({value for request in prepared for value in request.uploads})
    if not count:
        return ""
    return f"; {count} local image{'s' if count != 1 else ''} would be uploaded first (shown as file: URLs)"


def show_tasks(args: argparse.Namespace, client: Client, prepared: Sequence[PreparedRequest]) -> int:
    """``kie generate --dry-run``: for each task (``-n`` may take several), the method and URL, then the body as
    one line of JSON (``--json``: one object a line); the estimate on stderr."""
    base_url = None if args.emulator else client.base_url
    for one in prepared:
        if args.json:
            print_json(described(one, base_url))
        else:
            print(f"{one.wire.method} {endpoint(one, base_url)}")
            print(json.dumps(one.wire.body, ensure_ascii=False))
    costs = [estimate(one) for one in prepared]
    known = [cost for cost in costs if cost is not None]
    if len(known) == len(costs):
        what = f"estimated cost {credits_text(sum(known, Decimal(0)))}"
    else:
        what = f"{no_estimate_reason(prepared[costs.index(None)])}, so no estimate"
    if len(prepared) > 1:
        what = f"{len(prepared)} tasks of {prepared[0].model.spec.id}, {what}"
    print(f"kie: dry run: {what}{_uploads_note(prepared)}; nothing was sent", file=sys.stderr)
    return 0


def show_many(
    args: argparse.Namespace, client: Client, items: Sequence[tuple[int, PreparedRequest]], skipped: int
) -> None:
    """``kie batch --dry-run``: a line per item, ``line N: METHOD URL BODY`` (``--json``: one object a line,
    with ``line``); the total on stderr."""
    base_url = None if args.emulator else client.base_url
    for line, prepared in items:
        if args.json:
            print_json({"line": line, **described(prepared, base_url)})
        else:
            body = json.dumps(prepared.wire.body, ensure_ascii=False)
            print(f"line {line}: {prepared.wire.method} {endpoint(prepared, base_url)} {body}", flush=True)
    requests = [prepared for _, prepared in items]
    note = _uploads_note(requests)
    print(f"kie: batch: dry run: {total_text(requests, skipped)}{note}; nothing was sent", file=sys.stderr)


def total_text(prepared: Sequence[PreparedRequest], skipped: int = 0) -> str:
    """``3 items, estimated 12 credits (about $0.06)``, saying how many have no estimate and how many bad lines
    were skipped."""
    costs = [estimate(request) for request in prepared]
    known = [cost for cost in costs if cost is not None]
    count = f"{len(prepared)} item{'s' if len(prepared) != 1 else ''}"
    if not known:
        text = f"{count}, no estimate (no price is declared for their models)"
    else:
        text = f"{count}, estimated {credits_text(sum(known, Decimal(0)))}"
        if len(known) < len(costs):
            text += f" for {len(known)} of them (no price is declared for the others)"
    return text + (f", {skipped} bad line{'s' if skipped != 1 else ''} skipped" if skipped else "")
