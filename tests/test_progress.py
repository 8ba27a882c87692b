"""The progress display (kiecore/cli/progress.py): a timed status line on a terminal, plain lines elsewhere; and
`kie generate` showing a retry through it, end to end against the emulator."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from kiecore.cli.progress import Progress, StatusLine, Style, duration
from kiecore.emulator import Emulator
from kiecore.events import RetryCause, RetryEvent
from kiecore.model import TaskHandle, TaskState, TaskStatus
from tests.conftest import CLI_KEY, KieRunner

TERMINAL = {"TERM": "xterm-256color"}
HANDLE = TaskHandle(model="google/nano-banana", task_id="8f3a1c2d9e7b")
UNREACHABLE = RetryEvent(
    what="query",
    host="api.kie.ai",
    cause=RetryCause.UNREACHABLE,
    attempt=2,
    delay=1.0,
    error="connection to api.kie.ai failed: Connection refused",
)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake terminal is as wide as ``COLUMNS`` says: wide enough for every line here but the cut one."""
    monkeypatch.setenv("COLUMNS", "200")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def last_line(stream: io.StringIO) -> str:
    """What the terminal shows on its last line: the text after the last rewrite."""
    return stream.getvalue().rsplit("\r\033[K", 1)[-1]


def status(state: TaskState, progress: float | None = None) -> TaskStatus:
    return TaskStatus(state=state, progress=progress)


def test_on_a_terminal_the_line_shows_elapsed_time_against_the_typical_time_and_updates_over_time() -> None:
    terminal, clock = FakeTerminal(), FakeClock()
    progress = Progress(terminal, clock=clock, environ=TERMINAL, interval=None)
    progress.begin("google/nano-banana", 30.0)
    assert last_line(terminal) == "⠋ submitting  0s  google/nano-banana"
    clock.now += 1.5
    progress.submitted(HANDLE)
    assert (
        "\r\033[Ksubmitted google/nano-banana task 8f3a1c2d9e7b\n\r\033[K⠧ submitted  0s of ~30s" in terminal.getvalue()
    )
    progress.update(status(TaskState.QUEUED))
    clock.now += 14.2
    progress._line.tick()
    first = last_line(terminal)
    assert first.endswith("queued  14s of ~30s  google/nano-banana  task 8f3a1c2d…")
    clock.now += 0.2
    progress.update(status(TaskState.RUNNING, 0.4))
    second = last_line(terminal)
    assert second.endswith("running 40%  14s of ~30s  google/nano-banana  task 8f3a1c2d…")
    assert first[0] != second[0]  # the spinner turned
    clock.now += 40
    progress._line.tick()
    assert "running 40%  54s of ~30s" in last_line(terminal)  # late is shown as it is
    assert "\n" not in terminal.getvalue().split("task 8f3a1c2d9e7b\n", 1)[1]  # one line, rewritten


def test_a_retry_is_shown_with_its_countdown_until_a_reply_or_a_while_after() -> None:
    terminal, clock = FakeTerminal(), FakeClock()
    progress = Progress(terminal, clock=clock, environ=TERMINAL, interval=None)
    progress.begin("google/nano-banana", 30.0)
    progress.submitted(HANDLE)
    progress.retry(UNREACHABLE)
    assert last_line(terminal).endswith(" · api.kie.ai unreachable, retrying in 1.0s (attempt 2)")
    clock.now += 0.6
    progress._line.tick()
    assert last_line(terminal).endswith(" · api.kie.ai unreachable, retrying in 0.4s (attempt 2)")
    clock.now += 1.0
    progress._line.tick()
    assert last_line(terminal).endswith(" · api.kie.ai unreachable, retrying (attempt 2)")
    clock.now += 10
    progress._line.tick()
    assert "unreachable" not in last_line(terminal)  # it lingers only a while
    progress.retry(UNREACHABLE)
    assert "unreachable" in last_line(terminal)
    progress.update(status(TaskState.RUNNING))
    assert "unreachable" not in last_line(terminal)  # a reply came: the trouble is over


def test_the_line_ends_with_the_final_state_and_a_newline() -> None:
    terminal, clock = FakeTerminal(), FakeClock()
    progress = Progress(terminal, clock=clock, environ=TERMINAL, interval=None)
    progress.begin("google/nano-banana", 30.0)
    progress.submitted(HANDLE)
    clock.now += 25
    progress.update(status(TaskState.SUCCEEDED))
    assert "downloading  25s  google/nano-banana" in last_line(terminal)  # no "of ~30s": the wait is over
    clock.now += 3
    progress.done()
    assert last_line(terminal) == "succeeded  28s  google/nano-banana  task 8f3a1c2d…\n"
    written = terminal.getvalue()
    progress.done()
    progress.update(status(TaskState.SUCCEEDED))
    progress.retry(UNREACHABLE)
    assert terminal.getvalue() == written  # over: nothing more is drawn


def test_a_failed_task_ends_the_line_at_once_and_without_a_submit_the_line_is_blanked() -> None:
    terminal, clock = FakeTerminal(), FakeClock()
    progress = Progress(terminal, clock=clock, environ=TERMINAL, interval=None)
    progress.begin("google/nano-banana", 30.0)
    progress.submitted(HANDLE)
    clock.now += 3
    progress.update(status(TaskState.FAILED))
    assert last_line(terminal) == "failed  3s  google/nano-banana  task 8f3a1c2d…\n"
    progress.done()
    assert last_line(terminal) == "failed  3s  google/nano-banana  task 8f3a1c2d…\n"

    refused = FakeTerminal()
    progress = Progress(refused, clock=clock, environ=TERMINAL, interval=None)
    progress.begin("google/nano-banana", 30.0)
    progress.done()  # e.g. the create was refused: no task, nothing to leave on the screen
    assert refused.getvalue().endswith("\r\033[K") and "\n" not in refused.getvalue()


def test_off_a_terminal_only_the_changes_of_state_are_written() -> None:
    plain, clock = io.StringIO(), FakeClock()
    progress = Progress(plain, clock=clock, environ=TERMINAL, interval=None)
    progress.begin("google/nano-banana", 30.0)
    progress.submitted(HANDLE)
    progress.retry(UNREACHABLE)
    for state, share in [
        (TaskState.QUEUED, None),
        (TaskState.QUEUED, None),
        (TaskState.RUNNING, 0.4),
        (TaskState.RUNNING, 0.4),
        (TaskState.SUCCEEDED, None),
    ]:
        clock.now += 5
        progress._line.tick()
        progress.update(status(state, share))
    progress.done()
    assert plain.getvalue() == "submitted google/nano-banana task 8f3a1c2d9e7b\nqueued\nrunning 40%\nsucceeded\n"


def test_term_dumb_is_no_terminal_and_no_color_keeps_to_ascii_without_escapes() -> None:
    dumb = FakeTerminal()
    progress = Progress(dumb, environ={"TERM": "dumb"}, interval=None)
    progress.begin("google/nano-banana", 30.0)
    progress.submitted(HANDLE)
    progress.update(status(TaskState.RUNNING))
    progress.done()
    assert progress.tty and dumb.getvalue() == "submitted google/nano-banana task 8f3a1c2d9e7b\nrunning\n"

    plain, clock = FakeTerminal(), FakeClock()
    progress = Progress(plain, clock=clock, environ={**TERMINAL, "NO_COLOR": "1"}, interval=None)
    progress.begin("google/nano-banana", 30.0)
    progress.submitted(HANDLE)
    progress.retry(UNREACHABLE)
    clock.now += 0.2
    progress._line.tick()
    progress.update(status(TaskState.SUCCEEDED))
    progress.done()
    written = plain.getvalue()
    assert written.isascii() and "\033" not in written
    assert "\r/ submitted  0s of ~30s  google/nano-banana  task 8f3a1c2d... - api.kie.ai unreachable" in written
    final = written.rsplit("\r", 1)[1]  # over the old line, blanked with spaces
    assert final.endswith("\n") and final[:-1].rstrip(" ") == "succeeded  0s  google/nano-banana  task 8f3a1c2d..."


def test_a_stream_that_cannot_encode_the_glyphs_gets_ascii() -> None:
    class Latin1Terminal(FakeTerminal):
        encoding = "latin-1"

    terminal = Latin1Terminal()
    progress = Progress(terminal, environ=TERMINAL, interval=None)
    assert progress.style == Style(live=True, ascii=True)
    progress.begin("google/nano-banana", 30.0)
    assert terminal.getvalue().startswith("\r| submitting")


def test_the_line_is_cut_to_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    terminal = FakeTerminal()
    progress = Progress(terminal, environ=TERMINAL, interval=None)
    progress.begin("google/nano-banana", 30.0)
    progress.submitted(HANDLE)
    progress.retry(UNREACHABLE)
    shown = last_line(terminal)
    assert len(shown) == 39 and shown.endswith("…")


def test_server_text_cannot_drive_the_terminal() -> None:
    terminal = FakeTerminal()
    progress = Progress(terminal, environ=TERMINAL, interval=None)
    progress.submitted(TaskHandle(model="m", task_id="\x1b[2Jx"))
    assert "\x1b[2J" not in terminal.getvalue() and "\\x1b[2Jx" in terminal.getvalue()


def test_the_timer_redraws_the_line_until_the_end() -> None:
    terminal = FakeTerminal()
    progress = Progress(terminal, environ=TERMINAL, interval=0.01)
    progress.begin("google/nano-banana", 30.0)
    deadline = time.monotonic() + 5
    while terminal.getvalue().count("\r\033[K") < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert terminal.getvalue().count("\r\033[K") >= 4
    progress.done()
    ended = terminal.getvalue()
    time.sleep(0.05)
    assert terminal.getvalue() == ended
    assert progress._line._ticker is not None
    progress._line._ticker.join(1)
    assert not progress._line._ticker.is_alive()


def test_a_status_line_that_is_not_live_draws_nothing() -> None:
    plain = io.StringIO()
    line = StatusLine(plain, Style(live=False, ascii=False), lambda: ("text", ""), interval=0.01)
    line.show()
    line.retry(UNREACHABLE)
    line.tick()
    line.finish("the end")
    assert plain.getvalue() == "" and line._ticker is None


def test_durations_for_a_person() -> None:
    assert [duration(0.4), duration(14.9), duration(125), duration(3725), duration(-1)] == [
        "0s",
        "14s",
        "2m05s",
        "1h02m",
        "0s",
    ]


# -- end to end ---------------------------------------------------------------------------------------------


def test_generate_on_a_terminal_shows_a_failed_status_query_being_retried(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kie_emulator.inject("drop", on="status", times=1)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, _ = kie("generate", "nano-banana-pro", "a red fox", "-o", str(tmp_path))
    shown = terminal.getvalue()
    assert code == 0, shown
    assert len(out.splitlines()) == 1
    host = kie_emulator.base_url.split("//", 1)[1]
    assert f"{host} unreachable, retrying" in shown and "(attempt 2)" in shown
    assert "\r\033[K" in shown and shown.endswith("\n")
    assert last_line(terminal).startswith("succeeded  ")
    assert CLI_KEY not in shown


def test_generate_piped_writes_plain_lines_only(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.inject("drop", on="status", times=1)
    code, out, err = kie("generate", "nano-banana-pro", "a red fox", "-o", str(tmp_path))
    assert code == 0, err
    assert "\r" not in err + out and "\033" not in err + out
    assert "retrying" not in err
    lines = err.splitlines()
    assert lines[0].startswith("submitted nano-banana-pro task ") and lines[-1] == "succeeded"
    assert set(lines[1:]) <= {"queued", "running", "succeeded"}
    assert len(out.splitlines()) == 1 and Path(out.strip()).is_file()


def test_batch_on_a_terminal_shows_its_counts_on_a_timer_and_the_retry(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kie_emulator.inject("drop", on="status", times=1)
    file = tmp_path / "prompts.txt"
    file.write_text("a red fox\na lighthouse\n", encoding="utf-8")
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, _ = kie("batch", str(file), "--model", "nano-banana-pro", "-o", str(tmp_path))
    shown = terminal.getvalue()
    assert code == 0, shown
    assert len(out.splitlines()) == 2
    assert "done 0 / failed 0 / in flight 2 / total 2  0s, ETA ?" in shown
    assert "unreachable, retrying" in shown
    assert shown.endswith("\r\033[Kkie: batch: 2 delivered, 0 failed, 0 skipped (of 2)\n")  # the line blanked first
