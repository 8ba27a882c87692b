"""``kie emulator``: the foreground runner (kiecore/cli/emulator_command.py)."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from typing import Any

import pytest
import urllib3

from kiecore.cli import _parser, emulator_command, main
from kiecore.cli.emulator_command import run_times_of
from kiecore.emulator import Emulator, RunTimes
from kiecore.errors import UsageError


def test_a_bad_fault_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--port", "0", "--fault", "explode"]) == 2
    assert "bad --fault 'explode'" in capsys.readouterr().err


def test_it_serves_with_the_faults_asked_for_until_interrupted() -> None:
    argv = [sys.executable, "-m", "kiecore", "emulator", "--port", "0", "--fault", "rate_limit:submit:1"]
    process = subprocess.Popen(  # Ctrl-C as a terminal sends it, even where this test runs with SIGINT ignored
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        api = process.stdout.readline().strip()
        assert api.startswith("kie emulator: API at http://127.0.0.1:"), api
        assert process.stdout.readline().startswith("kie emulator: files at http://")
        assert process.stdout.readline().startswith("kie emulator: uploads at http://127.0.0.1:")
        assert "models; Ctrl-C to stop" in process.stdout.readline()
        body = json.dumps({"model": "nano-banana-pro", "input": {"prompt": "a fox"}}).encode()
        headers = {"Authorization": "Bearer any", "Content-Type": "application/json"}
        url = api.rsplit(" ", 1)[-1] + "/api/v1/jobs/createTask"
        first = urllib3.request("POST", url, body=body, headers=headers, retries=False)
        second = urllib3.request("POST", url, body=body, headers=headers, retries=False)
        assert first.status == 429 and second.status == 200 and second.json()["code"] == 200
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)  # drains both pipes, so a chatty stderr cannot block the exit
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _args(**options: Any) -> argparse.Namespace:
    """``kie emulator``'s arguments: the defaults, then ``options``."""
    defaults: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "task_seconds": 2.0, "fault": []}
    defaults.update(time_scale=None, spread=None, seed=None)
    return argparse.Namespace(**{**defaults, **options})


def test_run_times_come_from_the_options() -> None:
    assert run_times_of(_args()) is None
    assert run_times_of(_args(time_scale=None, spread=None, seed=None)) is None
    assert run_times_of(_args(time_scale=0.1)) == RunTimes(scale=0.1)
    assert run_times_of(_args(spread=0.3, seed=None)) == RunTimes(spread=0.3, seed=0)
    assert run_times_of(_args(time_scale=2.0, spread=0.5, seed=9)) == RunTimes(scale=2.0, spread=0.5, seed=9)
    with pytest.raises(UsageError, match="scale"):
        run_times_of(_args(time_scale=0.0))
    with pytest.raises(UsageError, match="spread"):
        run_times_of(_args(spread=-1.0))


class _Interrupt:
    """Stands in for the command's ``time``: the first sleep is Ctrl-C."""

    @staticmethod
    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt


def test_the_options_reach_the_emulator(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    made: list[Emulator] = []

    def emulator(*args: Any, **kwargs: Any) -> Emulator:
        made.append(Emulator(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(emulator_command, "Emulator", emulator)
    monkeypatch.setattr(emulator_command, "time", _Interrupt)
    assert emulator_command.run(_args(time_scale=0.5, spread=0.2, seed=4)) == 0
    assert made[-1].run_times == RunTimes(scale=0.5, spread=0.2, seed=4)
    assert "tasks run 0.5 x their model's typical seconds, spread 0.2, seed 4" in capsys.readouterr().out
    assert emulator_command.run(_args()) == 0
    plain = made[-1]
    assert plain.run_times is None and plain.task_seconds == 2.0
    assert "tasks run" not in capsys.readouterr().out


def test_the_command_line_declares_the_run_time_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["emulator", "--time-scale", "0.1", "--spread", "0.5", "--seed", "3"])
    assert run_times_of(args) == RunTimes(scale=0.1, spread=0.5, seed=3)
    assert run_times_of(_parser().parse_args(["emulator"])) is None
    assert main(["emulator", "--port", "0", "--time-scale", "0"]) == 2
    assert "bad run times" in capsys.readouterr().err
