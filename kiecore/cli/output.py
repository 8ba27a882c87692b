"""What the commands print: progress on stderr, results on stdout, JSON when asked."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from kiecore.model import GenerationResult, TaskHandle, TaskStatus


def printable(text: str) -> str:
    """``text`` safe for a terminal: control and other non-printable characters (escape sequences a server
    might send) are shown escaped, e.g. ``\x1b``."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def print_json(value: Any, stream: TextIO | None = None) -> None:
    print(json.dumps(value, indent=2, sort_keys=False), file=stream or sys.stdout)


def print_json_line(value: Any, stream: TextIO | None = None) -> None:
    """``value`` as compact JSON on one line, flushed at once (a reader sees each line as it comes)."""
    print(json.dumps(value, separators=(", ", ": ")), file=stream or sys.stdout, flush=True)


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


class Progress:
    """Shows a task's state on stderr: one rewritten line on a terminal, a line per change otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = ""

    def submitted(self, handle: TaskHandle) -> None:
        self._line(f"submitted {handle.model} task {handle.task_id}", final=True)

    def update(self, status: TaskStatus) -> None:
        text = f"{status.state.value}"
        if status.progress is not None:
            text += f" {status.progress:.0%}"
        if text != self._last:
            self._line(text, final=status.state.terminal)
            self._last = text

    def _line(self, text: str, *, final: bool = False) -> None:
        if self.tty:
            self.stream.write(f"\r\033[K{text}" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()
            self._last = ""
