"""Progress on stderr: a line a person can read on a terminal, and nothing but plain lines anywhere else.

On a terminal, one status line is rewritten in place at every change and every :data:`TICK_SECONDS`: a
spinner, what is happening, the time taken (for a task, against its model's typical time), and the retry under
way, if any (:class:`~kiecore.events.RetryEvent`: ``api.kie.ai unreachable, retrying in 1.0s (attempt 2)``).
Anywhere else (a pipe, a file) nothing is drawn: a task's changes of state are plain lines, and there is no
spinner, no timer and no carriage return. ``kie generate`` and ``kie resume`` show one task
(:class:`Progress`), ``kie batch`` its counts (:class:`BatchProgress`); both draw through :class:`StatusLine`.

``TERM=dumb`` counts as no terminal (plain lines). ``NO_COLOR`` (set, not empty), or a stream that cannot
encode the glyphs, keeps the line to ASCII without escape sequences: ``|/-\\`` for the spinner, ``...`` for an
ellipsis, and the old line overwritten with spaces instead of erased.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

import attrs

from kiecore.cli.text import printable
from kiecore.model import TaskState

if TYPE_CHECKING:
    from kiecore.events import RetryEvent
    from kiecore.model import TaskHandle, TaskStatus

#: How often the line is redrawn on a terminal, in seconds (the spinner turns once per tick).
TICK_SECONDS = 0.2
#: How long a retry stays on the line after it was due, unless progress shows the trouble is over first.
NOTICE_LINGER_SECONDS = 5.0
_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_ASCII_FRAMES = "|/-\\"
_GLYPHS = _FRAMES + "…·"


@attrs.frozen
class Style:
    """How a status line is drawn: ``live`` rewrites it in place (a terminal, not ``TERM=dumb``); ``ascii``
    keeps it to ASCII and uses no escape sequences (``NO_COLOR``, or a stream that cannot encode the glyphs)."""

    live: bool
    ascii: bool

    @property
    def frames(self) -> str:
        return _ASCII_FRAMES if self.ascii else _FRAMES

    @property
    def ellipsis(self) -> str:
        return "..." if self.ascii else "…"

    @property
    def separator(self) -> str:
        return " - " if self.ascii else " · "


def style_of(stream: TextIO, environ: Mapping[str, str]) -> Style:
    """The style for ``stream`` under the environment ``environ`` (see the module's description)."""
    live = is_terminal(stream) and environ.get("TERM", "") != "dumb"
    return Style(live=live, ascii=bool(environ.get("NO_COLOR")) or not _encodes(stream, _GLYPHS))


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def duration(seconds: float) -> str:
    """Whole seconds, for a person: ``14s``, ``2m05s``, ``1h02m``."""
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole // 60 % 60:02d}m"


def eta(left: int, finished: int, elapsed: float) -> str:
    """How long ``left`` more items take at ``finished`` items per ``elapsed`` seconds, e.g. ``2m05s``; ``?``
    before any finished."""
    if left == 0:
        return "0s"
    if finished == 0 or elapsed <= 0:
        return "?"
    return duration(math.ceil(left * elapsed / finished))


#: What a status line shows between its spinner and its retry: (what matters most, details). On a terminal too
#: narrow for the whole line, the details are left out first.
Render = Callable[[], tuple[str, str]]


class StatusLine:
    """One line of ``stream`` rewritten in place: a spinner, then ``render()`` (called under :attr:`lock`), then
    the latest retry while it is current, cut to the terminal's width. Drawn only when ``style.live``; otherwise
    only :meth:`print` writes. While shown it is redrawn at each change and every ``interval`` seconds by a
    daemon thread (``interval`` ``None``: only when :meth:`tick` is called, as tests do). Thread-safe; ``clock``
    is a monotonic clock."""

    def __init__(
        self,
        stream: TextIO,
        style: Style,
        render: Render,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float | None = TICK_SECONDS,
    ) -> None:
        self.stream = stream
        self.style = style
        self.lock = threading.RLock()
        self._render = render
        self._clock = clock
        self._interval = interval
        self._began = clock()
        self._shown = False  # drawn, and redrawn at each tick
        self._used = False  # drawn at least once
        self._ended = False
        self._width = 0  # of what is on the line now; 0: nothing
        self._notice: tuple[RetryEvent, float] | None = None  # the latest retry, and when it came
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def show(self) -> None:
        """Draw the line now, and keep it drawn (starting the timer) until :meth:`hide` or the end."""
        with self.lock:
            if not self.style.live or self._ended:
                return
            self._shown = self._used = True
            self._draw()
            if self._ticker is None and self._interval is not None:
                self._ticker = threading.Thread(target=self._tick_until_stopped, name="kie-progress", daemon=True)
                self._ticker.start()

    def hide(self) -> None:
        """Blank the line and leave it blank until :meth:`show` (to print something else)."""
        with self.lock:
            self._shown = False
            self._blank()

    def print(self, text: str) -> None:
        """Write ``text`` on a line of its own (live or not), in place of the status line; the line, if shown,
        comes back under it at the next :meth:`show` or tick."""
        with self.lock:
            self._blank()
            self._write(text + "\n")

    def retry(self, event: RetryEvent) -> None:
        """Show ``event`` after the line, counting down to its retry, until :meth:`settled` or a while after."""
        with self.lock:
            self._notice = (event, self._clock())
            if self._shown:
                self._draw()

    def settled(self) -> None:
        """The trouble of the last retry is over (a reply came): stop showing it."""
        with self.lock:
            self._notice = None

    def tick(self) -> None:
        """Redraw the line if it is shown (the timer calls this)."""
        with self.lock:
            if self._shown:
                self._draw()

    def finish(self, text: str | None) -> None:
        """End the line: ``text`` stays on it with a newline (``None``: it is blanked); nothing if it was never
        drawn. Later calls do nothing."""
        with self.lock:
            if self._ended:
                return
            self._ended = True
            self._stop.set()
            if not self._used:
                return
            self._shown = False
            if text is None:
                self._blank()
            else:
                self._put(self._fit(text), "\n")

    def close(self) -> None:
        """End the line, blanked."""
        self.finish(None)

    # -- drawing (under the lock) -----------------------------------------------------------------------

    def _tick_until_stopped(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(self._interval):
            self.tick()

    def _draw(self) -> None:
        now = self._clock()
        frames = self.style.frames
        frame = frames[int((now - self._began) / TICK_SECONDS) % len(frames)]
        essential, details = self._render()
        notice = self._notice_text(now)
        head = f"{frame} {essential}"
        tail = self.style.separator + notice if notice else ""
        text = head + (f"  {details}" if details else "") + tail
        if len(text) >= _columns(self.stream):
            text = head + tail
        self._put(self._fit(text), "")

    def _notice_text(self, now: float) -> str:
        if self._notice is None:
            return ""
        event, since = self._notice
        remaining = since + event.delay - now
        if remaining < -NOTICE_LINGER_SECONDS:
            self._notice = None
            return ""
        return printable(event.describe(remaining))

    def _fit(self, text: str) -> str:
        """``text`` in the style's characters, cut to less than the terminal's width (a line that wraps cannot be
        rewritten)."""
        text = text.encode("ascii", "replace").decode() if self.style.ascii else text
        columns = _columns(self.stream)
        if len(text) < columns:
            return text
        return text[: max(columns - 1 - len(self.style.ellipsis), 0)] + self.style.ellipsis

    def _put(self, text: str, end: str) -> None:
        """Write ``text`` over what is on the line, then ``end``."""
        if self.style.ascii:
            self._write("\r" + text + " " * max(self._width - len(text), 0) + end)
        else:
            self._write("\r\033[K" + text + end)
        self._width = 0 if end else len(text)

    def _blank(self) -> None:
        if self._width:
            self._write("\r" + " " * self._width + "\r" if self.style.ascii else "\r\033[K")
            self._width = 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: progress is not worth failing for
            self._shown, self._ended = False, True
            self._stop.set()


class Progress:
    """One task's progress on ``stream`` (default: standard error). Feed it from any thread: :meth:`begin`
    once the model is known (optional), then :meth:`submitted` (``on_submit``), :meth:`update`
    (``on_status``) and :meth:`retry` (``on_retry``); :meth:`done` at the end, whatever happened.

    On a terminal: ``submitted MODEL task ID`` on a line of its own, then the status line, e.g.
    ``⠹ running 40%  14s of ~30s  google/nano-banana  task 8f3a1c2d…``, left in place (without the spinner)
    once the task has ended. Elsewhere: today's plain lines, ``submitted ...`` and one per change of state
    (``queued``, ``running 40%``, ``succeeded``), and nothing else. ``environ`` stands for ``os.environ``,
    ``clock`` for the monotonic clock, ``interval`` is :class:`StatusLine`'s."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        environ: Mapping[str, str] | None = None,
        interval: float | None = TICK_SECONDS,
    ) -> None:
        self.stream = stream or sys.stderr
        #: Whether the stream is a terminal (what the cost line before a create is shown on).
        self.tty = is_terminal(self.stream)
        self.style = style_of(self.stream, os.environ if environ is None else environ)
        self._clock = clock
        self._line = StatusLine(self.stream, self.style, self._render, clock=clock, interval=interval)
        self._state = "submitting"
        self._final: str | None = None  # what the line says once over, when known before done()
        self._model: str | None = None
        self._task: str | None = None
        self._typical: float | None = None
        self._downloads = True
        self._since = clock()  # the start, then the submit
        self._stopped_at: float | None = None
        self._submitted = False
        self._last = ""  # the last state line written (plain output)
        self._over = False

    def begin(self, model: str, typical_seconds: float | None, *, downloads: bool = True) -> None:
        """The task about to be submitted: its model, the model's typical run time, and whether results are
        downloaded after it succeeds. On a terminal, the line starts here (``submitting``)."""
        with self._line.lock:
            self._model, self._typical, self._downloads = model, typical_seconds, downloads
            self._since = self._clock()
            self._line.show()

    def submitted(self, handle: TaskHandle) -> None:
        text = printable(f"submitted {handle.model} task {handle.task_id}")
        with self._line.lock:
            if self._over:
                return
            self._model, self._task, self._submitted = handle.model, handle.task_id, True
            self._state, self._since = "submitted", self._clock()
            if not self.style.live:
                self._plain(text)
                return
            self._line.settled()
            self._line.print(text)
            self._line.show()

    def update(self, status: TaskStatus) -> None:
        text = status.state.value + (f" {status.progress:.0%}" if status.progress is not None else "")
        with self._line.lock:
            if self._over:
                return
            if not self.style.live:
                if text != self._last:
                    self._plain(text)
                    self._last = text
                return
            self._submitted = True  # a task that is being waited for (resume knows no submit)
            self._line.settled()
            self._state = text
            if not status.state.terminal:
                self._line.show()
            elif status.state is TaskState.SUCCEEDED and self._downloads:
                self._state, self._final = "downloading", text
                self._line.show()
            else:
                self._end(text)

    def retry(self, event: RetryEvent) -> None:
        """A request is being retried: shown on the line until it is over (on a terminal only)."""
        with self._line.lock:
            if not self._over:
                self._line.retry(event)

    def done(self) -> None:
        """The end: on a terminal the line stays with the task's last state (blanked when no task was ever
        submitted); safe to call more than once."""
        with self._line.lock:
            if not self._over:
                self._end((self._final or self._state) if self._submitted else None)

    # -- under the line's lock ---------------------------------------------------------------------------

    def _end(self, state: str | None) -> None:
        self._over = True
        self._stopped_at = self._clock()
        self._state = state or self._state
        self._line.finish(self._text(final=True) if state is not None else None)

    def _render(self) -> tuple[str, str]:
        return self._parts(final=False)

    def _text(self, *, final: bool) -> str:
        return "  ".join(part for part in self._parts(final=final) if part)

    def _parts(self, *, final: bool) -> tuple[str, str]:
        """(the state and the time taken, the model and the task)."""
        now = self._stopped_at if self._stopped_at is not None else self._clock()
        elapsed = duration(now - self._since)
        waiting = self._state.split()[0] not in ("submitting", "downloading", "succeeded", "failed")
        if self._typical is not None and self._submitted and waiting and not final:
            elapsed += f" of ~{duration(self._typical)}"
        details = [self._model] if self._model is not None else []
        if self._task is not None:
            short = self._task if len(self._task) <= 9 else self._task[:8] + self.style.ellipsis
            details.append(f"task {short}")
        return printable(f"{self._state}  {elapsed}"), printable("  ".join(details))

    def _plain(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass


class BatchProgress:
    """``kie batch``'s line on a terminal: ``⠹ done D / failed F / in flight I / total T  ELAPSED, ETA ...``
    and the retry under way, if any; nothing at all elsewhere. The ETA comes from the rate at which this run's
    items have finished so far. :meth:`clear` blanks it before anything else is printed; :meth:`show` draws it
    again with new counts; :meth:`close` ends it. Arguments as :class:`Progress`'s."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        environ: Mapping[str, str] | None = None,
        interval: float | None = TICK_SECONDS,
    ) -> None:
        self.stream = stream
        #: Whether the stream is a terminal (what the cost line before the creates is shown on).
        self.tty = is_terminal(stream)
        self.style = style_of(stream, os.environ if environ is None else environ)
        self._clock = clock
        self._line = StatusLine(stream, self.style, self._render, clock=clock, interval=interval)
        self._began = clock()
        self._counts = (0, 0, 0, 0)
        self._finished = 0  # items this run finished (not those the journal already knew)

    def finished(self) -> None:
        with self._line.lock:
            self._finished += 1

    def show(self, counts: tuple[int, int, int, int]) -> None:
        """Draw the line with ``counts``: (done, failed, in flight, total)."""
        with self._line.lock:
            self._counts = counts
            self._line.show()

    def retry(self, event: RetryEvent) -> None:
        self._line.retry(event)

    def clear(self) -> None:
        self._line.hide()

    def close(self) -> None:
        self._line.close()

    def _render(self) -> tuple[str, str]:
        done, failed, in_flight, total = self._counts
        elapsed = self._clock() - self._began
        left = eta(max(total - done - failed, 0), self._finished, elapsed)
        return (
            f"done {done} / failed {failed} / in flight {in_flight} / total {total}",
            f"{duration(elapsed)}, ETA {left}",
        )


def _columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to (``COLUMNS``, else 80, when it cannot be asked)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = shutil.get_terminal_size().columns
    return columns if columns > 0 else 80


def _encodes(stream: TextIO, text: str) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True  # an in-memory stream takes any text
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
