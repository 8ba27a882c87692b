"""What the commands print: progress on stderr, results on stdout, JSON Lines when asked (``--json``: one
compact JSON object a line, errors included: :func:`error_json`)."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from kiecore.cli.text import printable
from kiecore.model import GenerationResult, TaskHandle

__all__ = ["error_json", "print_json", "print_result", "printable"]


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """``value`` as compact JSON on one line (stdout by default), flushed at once: a reader sees each line as
    it comes. Non-ASCII and control characters are escaped, so no line can drive a terminal."""
    print(json.dumps(value, separators=(",", ":")), file=stream or sys.stdout, flush=True)


def error_json(error: BaseException, code: int, message: str) -> dict[str, Any]:
    """``--json``'s form of an error: ``{"error": {"message", "exit_code", "meaning", "type"}}``, with the
    ``model`` and ``task_id`` of the task it concerns when it names one, and the ``option`` of a refused
    parameter. ``message`` and ``code`` are what :func:`kiecore.cli.describe` gives; ``meaning`` is the exit
    code's (:data:`kiecore.cli.EXIT_CODES`)."""
    from kiecore.cli import EXIT_CODES
    from kiecore.cli.options import option_of
    from kiecore.errors import InvalidParameterError

    detail: dict[str, Any] = {
        "message": message,
        "exit_code": code,
        "meaning": EXIT_CODES.get(code, EXIT_CODES[1]),
        "type": type(error).__name__,
    }
    handle = getattr(error, "handle", None)
    if isinstance(handle, TaskHandle):
        detail.update(model=handle.model, task_id=handle.task_id)
    if isinstance(error, InvalidParameterError) and option_of(error) is not None:
        detail["option"] = option_of(error)
    return {"error": detail}


def print_result(result: GenerationResult, *, as_json: bool) -> None:
    """A finished generation on stdout: its saved paths (else its URLs), one a line, or one JSON object."""
    if as_json:
        print_json(
            {
                "task_id": result.handle.task_id,
                "model": result.handle.model,
                "state": result.status.state.value,
                "urls": list(result.status.urls),
                "files": [str(path) for path in result.files],
            }
        )
        return
    for line in result.files or result.status.urls:
        print(line)
