"""Turning command-line options into a request, and naming a request's parameters by their options."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kiecore.errors import InvalidParameterError, UsageError

#: The ``kie generate`` option of each common parameter, where it is not simply ``--<name>`` (``aspect_ratio``:
#: ``--aspect-ratio``). A model-specific parameter is ``-p NAME``.
COMMON_OPTIONS = {"prompt": "PROMPT", "image_urls": "--image", "num_images": "-n/--num-images"}
#: The PROMPT that means "read the prompt from standard input".
STDIN = "-"


def common_option(common: str) -> str:
    """The option that gives the common parameter ``common``: ``--image``, ``--aspect-ratio``, ..."""
    return COMMON_OPTIONS.get(common, "--" + common.replace("_", "-"))


def option_of(error: InvalidParameterError) -> str | None:
    """The option a person gave the refused parameter with: a common one's (:func:`common_option`), else
    ``-p NAME``; ``None`` when the error names no parameter."""
    if error.common is not None:
        return common_option(error.common)
    return f"-p {error.parameter}" if error.parameter else None


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
    """GenerationRequest fields from ``kie generate`` options (unset options left out; a PROMPT of ``-`` is
    read from standard input: :func:`read_prompt`); also ``kie batch``'s defaults for every line, which has no
    prompt option."""
    prompt = getattr(args, "prompt", None)
    fields: dict[str, Any] = {
        "prompt": read_prompt() if prompt == STDIN else prompt,
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


def read_prompt() -> str:
    """The whole of standard input, stripped: the prompt of ``kie generate MODEL -``. :class:`UsageError` when it
    is empty or cannot be read."""
    try:
        text = sys.stdin.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UsageError(f"cannot read the prompt from standard input: {reason}") from None
    prompt = text.strip()
    if not prompt:
        raise UsageError("the prompt on standard input is empty (PROMPT - reads it from there)")
    return prompt
