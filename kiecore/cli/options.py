"""Turning command-line options into a client and a request."""

from __future__ import annotations

import argparse
from typing import Any

from kiecore.errors import UsageError


def parse_params(options: list[str]) -> dict[str, str]:
    """``-p KEY=VALUE`` options as a dict; values stay strings (the model's declaration converts them)."""
    params: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"malformed -p option {option!r}: use -p KEY=VALUE")
        if key in params:
            raise UsageError(f"-p {key} is given twice")
        params[key] = value
    return params


def request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """GenerationRequest fields from ``kie generate`` options (unset options left out); also ``kie batch``'s
    defaults for every line, which has no prompt option."""
    fields: dict[str, Any] = {
        "prompt": getattr(args, "prompt", None),
        "aspect_ratio": args.aspect_ratio,
        "num_images": args.num_images,
        "output_format": args.output_format,
        "resolution": args.resolution,
        "seed": args.seed,
        "negative_prompt": args.negative_prompt,
        "callback_url": args.callback_url,
    }
    fields = {name: value for name, value in fields.items() if value is not None}
    if args.image:
        fields["image_urls"] = tuple(args.image)
    fields["extra"] = parse_params(args.params)
    return fields
