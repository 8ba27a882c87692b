"""``kie emulator``: the foreground runner (kiecore/cli/emulator_command.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import urllib3

from kiecore.cli import main


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
