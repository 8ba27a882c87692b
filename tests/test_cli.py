"""`kie` end to end against the emulator, with the installed plugins, in both profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kiecore.cli import main
from kiecore.emulator import Emulator
from kiecore.testing.endtoend import check_image
from tests.conftest import CLI_KEY as KEY


@pytest.mark.parametrize("profile", ["live", "reference"])
@pytest.mark.parametrize(
    ("model", "options", "count"),
    [
        ("nano-banana-pro", ["--aspect-ratio", "16:9", "--output-format", "png"], 1),
        ("gpt4o-image", ["-n", "2", "--aspect-ratio", "3:2"], 2),
    ],
)
def test_generate_saves_files_and_prints_their_paths(
    kie: Any, tmp_path: Path, profile: str, model: str, options: list[str], count: int
) -> None:
    code, out, err = kie("generate", model, "a red fox", "-o", str(tmp_path), "--profile", profile, *options)
    assert code == 0, err
    paths = [Path(line) for line in out.splitlines()]
    assert len(paths) == count
    assert all(path.parent == tmp_path and check_image(path) for path in paths)
    assert "submitted" in err and "succeeded" in err


def test_generate_json(kie: Any, tmp_path: Path) -> None:
    code, out, _ = kie("generate", "nbp", "a fox", "-o", str(tmp_path), "--json", "-p", "resolution=2K")
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"task_id", "model", "state", "urls", "files"}
    assert result["model"] == "nano-banana-pro" and result["state"] == "succeeded"
    assert len(result["files"]) == len(result["urls"]) == 1


def test_model_specific_parameters_are_converted(kie: Any, kie_emulator: Emulator, tmp_path: Path) -> None:
    code, _, err = kie(
        "generate",
        "gpt4o-image",
        "a fox",
        "-o",
        str(tmp_path),
        "-p",
        "isEnhance=true",
        "-p",
        "fallbackModel=GPT_IMAGE_1",
    )
    assert code == 0, err
    (task,) = kie_emulator.tasks.values()
    assert task.body["isEnhance"] is True and task.body["fallbackModel"] == "GPT_IMAGE_1"


def test_no_download_prints_urls(kie: Any, tmp_path: Path) -> None:
    code, out, _ = kie("generate", "nano-banana-pro", "a fox", "-o", str(tmp_path / "out"), "--no-download")
    assert code == 0
    assert out.strip().startswith("http://") and not (tmp_path / "out").exists()
    code, _, err = kie("resume")
    assert code == 0 and "nothing to resume" in err  # the URLs were all that was asked for


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["generate", "nano-banana-pro", "x", "--aspect-ratio", "7:3"], "--aspect-ratio='7:3' is not accepted"),
        (["generate", "nano-banana-pro", "x", "-p", "resolution"], "malformed -p option"),
        (["generate", "nano-banana-pro", "x", "-p", "bogus=1"], "unknown parameter 'bogus'"),
        (["generate", "nano-banana-pro", "x", "--image", "ftp://a/b.png"], "http(s) URL"),
        (["generate", "nano-banana-pro", "x", "--negative-prompt", "blur"], "--negative-prompt is not supported"),
        (["generate", "nano-banana-prp", "x"], "did you mean nano-banana-pro"),
        (["generate", "seedream", "x", "-n", "0"], "-n/--num-images must be a whole number of at least 1"),
        (["generate", "nano-banana-pro", "x", "-p", "resolution=8K"], "-p resolution='8K' is not accepted"),
    ],
)
def test_bad_input_exits_2_and_sends_nothing(kie: Any, kie_emulator: Emulator, args: list[str], fragment: str) -> None:
    code, _, err = kie(*args)
    assert code == 2
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err
    assert kie_emulator.requests == []


@pytest.mark.parametrize(
    ("fault", "code", "fragment"),
    [
        ("auth", 3, "refused the API key"),
        ("credits", 3, "not enough Kie credits"),
        ("fail_task", 4, "failed at Kie"),
        ("drop_after_create", 1, "may have been created"),
        ("drop", 1, "may have been created"),
        ("non_json", 1, "may have been created"),
    ],
)
def test_service_failures_have_exit_codes(
    kie: Any, kie_emulator: Emulator, tmp_path: Path, fault: str, code: int, fragment: str
) -> None:
    kie_emulator.inject(fault, on="submit" if fault != "fail_task" else "any")
    exit_code, _, err = kie("generate", "nano-banana-pro", "a fox", "-o", str(tmp_path))
    assert exit_code == code
    assert fragment in err and "Traceback" not in err
    assert len([r for r in kie_emulator.requests if r.method == "POST"]) == 1  # never resubmitted


@pytest.mark.parametrize(
    ("fault", "on"),
    [
        ("rate_limit", "submit"),
        ("server_error", "status"),
        ("drop", "status"),
        ("non_json", "status"),
        ("invisible", "status"),
    ],
)
@pytest.mark.parametrize("profile", ["live", "reference"])
def test_cli_survives_recoverable_faults(
    kie: Any, kie_emulator: Emulator, tmp_path: Path, fault: str, on: str, profile: str
) -> None:
    kie_emulator.inject(fault, on=on, times=2)
    code, out, err = kie("generate", "gpt4o-image", "a fox", "-o", str(tmp_path), "--profile", profile)
    assert code == 0, err
    assert len(out.splitlines()) == 1 and len(kie_emulator.tasks) == 1


def test_a_slow_service_runs_into_the_deadline(kie: Any, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.inject("slow", on="status", times=5, seconds=0.5)
    code, _, err = kie("generate", "gpt4o-image", "a fox", "-o", str(tmp_path), "--timeout", "0.4")
    assert code == 5 and "did not finish within" in err


def test_timeout_exits_5_and_names_the_task(kie: Any, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.task_seconds = 30
    code, _, err = kie("generate", "nano-banana-pro", "a fox", "-o", str(tmp_path), "--timeout", "0.3")
    (task_id,) = kie_emulator.tasks
    assert code == 5 and f"kie status nano-banana-pro {task_id}" in err


def test_status(kie: Any, kie_emulator: Emulator, tmp_path: Path) -> None:
    code, out, _ = kie("generate", "nano-banana-pro", "a fox", "-o", str(tmp_path), "--json")
    task_id = json.loads(out)["task_id"]
    code, out, _ = kie("status", "nano-banana-pro", task_id, "--json")
    assert code == 0 and json.loads(out)["state"] == "succeeded"
    code, out, _ = kie("status", "nano-banana-pro", task_id)
    assert out.startswith(f"{task_id}: succeeded") and "http://" in out
    code, _, err = kie("status", "nano-banana-pro", "no-such-task")
    assert code == 1 and "recordInfo is null" in err


def test_models_lists_installed_plugins(kie: Any) -> None:
    code, out, _ = kie("models")
    assert code == 0 and "nano-banana-pro" in out and "kiecore-gpt4o-image" in out
    code, out, _ = kie("models", "gpt4o-image")
    assert "isEnhance (boolean" in out and "reference profile" in out
    assert "variants (integer)" in out and "nVariants" not in out  # the live profile dropped it
    code, out, _ = kie("models", "--json")
    ids = {model["id"] for model in map(json.loads, out.splitlines()) if model["kind"] == "model"}
    assert {"nano-banana-pro", "gpt4o-image"} <= ids


def _kie(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KIE_", "KIECORE_"))}
    environ["KIECORE_JOURNAL"] = os.environ["KIECORE_JOURNAL"]  # the tests' own journal
    return subprocess.run(
        [sys.executable, "-m", "kiecore", *args],
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def test_the_real_command_with_the_built_in_emulator(tmp_path: Path) -> None:
    done = _kie(
        "generate",
        "nano-banana-pro",
        "a lighthouse",
        "--emulator",
        "-o",
        str(tmp_path),
        "--profile",
        "reference",
        "--output-format",
        "webp",
    )
    assert done.returncode == 0, done.stderr
    (path,) = [Path(line) for line in done.stdout.splitlines()]
    assert check_image(path) == "WEBP"


def test_a_missing_key_mentions_the_emulator() -> None:
    done = _kie("generate", "nano-banana-pro", "a fox")
    assert done.returncode == 2
    assert "KIE_API_KEY" in done.stderr and "--emulator" in done.stderr and "Traceback" not in done.stderr


def test_a_broken_plugin_is_shown_and_others_still_work(tmp_path: Path) -> None:
    broken = tmp_path / "site"
    (broken / "kiecore_broken-1.0.dist-info").mkdir(parents=True)
    (broken / "kiecore_broken-1.0.dist-info" / "METADATA").write_text("Name: kiecore-broken\nVersion: 1.0\n")
    (broken / "kiecore_broken-1.0.dist-info" / "entry_points.txt").write_text(
        "[kiecore.plugins]\nbroken = kiecore_broken_missing:plugin\n"
    )
    done = _kie("models", env={"PYTHONPATH": str(broken)})
    assert done.returncode == 0
    assert "nano-banana-pro" in done.stdout
    assert "kiecore-broken" in done.stderr and "failed to load" in done.stderr
    denied = _kie("models", env={"PYTHONPATH": str(broken), "KIECORE_DISABLE_PLUGINS": "broken,gpt4o-image"})
    assert "kiecore-broken" not in denied.stderr and "gpt4o-image" not in denied.stdout


def _cases() -> list[tuple[str, str]]:
    from kiecore.loading import load_registry

    return [(e.spec.id, p.value) for e in load_registry().models() for p in e.spec.profiles()]


@pytest.mark.parametrize(("model", "profile"), _cases())
def test_every_installed_model_generates_in_each_of_its_profiles(
    kie: Any, kie_registry: Any, tmp_path: Path, model: str, profile: str
) -> None:
    from kiecore.cli.demo_command import required_options
    from kiecore.model import Profile

    spec = kie_registry.resolve(model).spec
    options = required_options(spec, Profile(profile))
    prompt = ["a lighthouse"] if spec.wire(Profile(profile)).for_common("prompt") is not None else []
    code, out, err = kie("generate", model, *prompt, "-o", str(tmp_path), "--profile", profile, *options)
    assert code == 0, err
    assert out.splitlines() and all(check_image(Path(line)) for line in out.splitlines())


@pytest.mark.parametrize("option", [["--timeout", "-5"], ["--timeout", "nan"], ["--poll-interval", "-1"]])
def test_bad_numbers_exit_2_before_anything_is_sent(
    kie_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    option: list[str],
) -> None:
    monkeypatch.setenv("KIE_API_KEY", KEY)
    monkeypatch.setenv("KIE_BASE_URL", kie_emulator.base_url)
    code = main(["generate", "nbp", "a fox", "-o", str(tmp_path), *option])
    assert code == 2 and capsys.readouterr().err.startswith("kie: error:") and kie_emulator.requests == []


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_a_key_with_a_control_character_is_never_printed(
    kie_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    debug: list[str],
) -> None:
    monkeypatch.setenv("KIE_API_KEY", KEY + "\rX")
    monkeypatch.setenv("KIE_BASE_URL", kie_emulator.base_url)
    code = main([*debug, "generate", "nbp", "a fox", "-o", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and "control character" in err
    assert KEY not in out + err and repr(KEY)[1:-1] not in out + err and kie_emulator.requests == []


def test_server_text_cannot_drive_the_terminal(kie: Any, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.inject("fail_task", message="flagged\x1b[2J\x1b]0;owned\x07 prompt")
    code, _, err = kie("generate", "nbp", "a fox", "-o", str(tmp_path))
    assert code == 4 and "\x1b" not in err and "\x07" not in err
    assert "flagged\\x1b[2J\\x1b]0;owned\\x07 prompt" in err
