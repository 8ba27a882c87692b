"""``kie credits``: the account's remaining credits."""

from __future__ import annotations

import argparse

from kiecore.cli.cost import credits_text
from kiecore.cli.output import print_json
from kiecore.client import Client
from kiecore.serialization import json_number


def run(args: argparse.Namespace) -> int:
    with Client(base_url=args.base_url, profile=args.profile) as client:
        balance = client.credits()
    if args.json:
        print_json({"credits": json_number(balance)})
    else:
        print(credits_text(balance))
    return 0
