"""What `kie` prints for people and for programs: JSON Lines, error objects, options named as typed, hints that
reach the same task, and the one-line failures of a missing plugin, Pillow, a taken port or an empty stdin."""

from __future__ import annotations

import io
import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from kiecore import loading
from kiecore.cli import EXIT_CODES, _parser, batch_command, main, models_listing
from kiecore.cli.options import COMMON_OPTIONS, common_option, request_fields
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.errors import DeadlineExceededError, InvalidParameterError, ModelNotInstalledError, UnknownModelError
from kiecore.hints import connection_options, journal_option
from kiecore.journal import Journal
from kiecore.journal_fallback import FallbackLog, FallbackRecord
from kiecore.model import COMMON_PARAMETERS, Profile, TaskHandle
from kiecore.plugin import DeclarativePlugin
from kiecore.registry import PluginInfo, Registry
from tests.conftest import KieRunner
from tests.sample_plugin import FLUX, MARKET

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def lines_of(out: str) -> list[dict[str, Any]]:
    """stdout as JSON Lines: every line one compact object (no indented, multi-line JSON)."""
    assert out.endswith("\n") and "\n " not in out, out
    objects = [json.loads(line) for line in out.splitlines()]
    assert all(isinstance(item, dict) for item in objects)
    return objects


# -- 1. JSON Lines everywhere ----------------------------------------------------------------------------------


def test_every_json_output_is_one_object_a_line(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    code, out, _ = kie("generate", "nbp", "a fox", "-o", str(tmp_path / "a"), "--json")
    (generated,) = lines_of(out)
    assert code == 0 and generated["state"] == "succeeded"
    code, out, _ = kie("status", "nbp", str(generated["task_id"]), "--json")
    assert code == 0 and [item["state"] for item in lines_of(out)] == ["succeeded"]
    code, out, _ = kie("credits", "--json")
    assert code == 0 and len(lines_of(out)) == 1
    kie_emulator.task_seconds = 30
    assert kie("generate", "nbp", "a hare", "-o", str(tmp_path / "b"), "--timeout", "0.3")[0] == 5
    code, out, _ = kie("tasks", "--json")
    listed = lines_of(out)
    assert code == 0 and [entry["state"] for entry in listed] == ["submitted", "downloaded"]  # newest first
    kie_emulator.task_seconds = 0.1
    code, out, _ = kie("resume", "--json")
    (resumed,) = lines_of(out)
    assert code == 0 and resumed["task_id"] == listed[0]["task_id"] and resumed["state"] == "succeeded"


def test_models_json_is_a_model_a_line_then_failures_and_conflicts(
    kie: KieRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIECORE_CACHE_DIR", "")  # the registry is replaced below, behind the cache's back
    code, out, _ = kie("models", "--json")
    assert code == 0 and {item["kind"] for item in lines_of(out)} == {"model"}
    registry = Registry.from_plugins(
        (DeclarativePlugin(MARKET), PluginInfo("a", "kiecore-a", "1")),
        (DeclarativePlugin(MARKET, FLUX), PluginInfo("b", "kiecore-b", "2")),
    )
    registry.record_failure(PluginInfo("broken", "kiecore-broken", "1"), "ImportError: no module named x")
    monkeypatch.setattr(models_listing, "load_registry", lambda: registry)
    code, out, err = kie("models", "--json")
    shown = lines_of(out)
    assert code == 0 and [item["kind"] for item in shown] == ["model", "load_failure", "conflict", "conflict"]
    assert shown[0]["id"] == "test/flux" and shown[1]["error"] == "ImportError: no module named x"
    assert {"name": "test/market", "plugins": ["kiecore-a 1", "kiecore-b 2"]}.items() <= shown[2].items()
    assert "kiecore-broken" in err and "claimed by both" in err  # for a person too


def test_the_fallback_log_listing_is_json_lines_after_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"damaged beyond repair" * 200)
    record = FallbackRecord(
        base_url="https://api.kie.ai", task_id="t-1", model="nano-banana-pro", profile=Profile.LIVE,
        submitted_at=1.0, state="submitted",
    )  # fmt: skip
    FallbackLog.beside(path).append(record)
    assert main(["tasks", "--journal", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    error, listed = lines_of(captured.out)
    assert error["error"]["exit_code"] == 1 and error["error"]["type"] == "JournalError"
    assert listed["task_id"] == "t-1" and listed["source"] == "fallback_log"
    assert captured.err.startswith("kie: error:") and captured.err.count("\n") == 1


# -- 2. errors as JSON objects ---------------------------------------------------------------------------------


def test_with_json_an_error_is_also_an_object_on_stdout(kie: KieRunner, kie_emulator: Emulator) -> None:
    code, out, err = kie("generate", "nbp", "a fox", "--aspect-ratio", "7:3", "--json")
    (shown,) = lines_of(out)
    assert code == 2 and err.count("\n") == 1 and err.startswith("kie: error: --aspect-ratio='7:3'")
    assert shown == {
        "error": {
            "message": err.removeprefix("kie: error: ").rstrip("\n"),
            "exit_code": 2,
            "meaning": EXIT_CODES[2],
            "type": "InvalidParameterError",
            "option": "--aspect-ratio",
        }
    }
    assert kie_emulator.requests == []
    code, out, _ = kie("generate", "nbp", "a fox", "--aspect-ratio", "7:3")
    assert code == 2 and out == ""  # without --json, stdout stays empty


def test_an_error_about_a_task_names_it(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.inject("fail_task")
    code, out, _ = kie("generate", "nbp", "a fox", "-o", str(tmp_path), "--json")
    ((_, error),) = [shown.popitem() for shown in lines_of(out)]
    (task_id,) = kie_emulator.tasks
    assert code == 4 and error["meaning"] == EXIT_CODES[4] == "the task failed at Kie"
    assert (error["task_id"], error["model"], error["type"]) == (task_id, "nano-banana-pro", "TaskFailedError")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["generate", "--json"], "kie generate: the following arguments are required: MODEL"),
        (["generate", "nbp", "x", "--json", "-n", "two"], "argument -n/--num-images: invalid int value: 'two'"),
        (["tasks", "--js", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_argparse_usage_errors_are_json_objects_too(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    ((error,),) = [list(item.values()) for item in lines_of(captured.out)]
    assert exited.value.code == 2 and error["exit_code"] == 2 and error["meaning"] == EXIT_CODES[2]
    assert fragment in error["message"] and fragment.split(": ", 1)[-1] in captured.err


def test_without_json_a_usage_error_prints_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "nbp", "x", "--", "--json"])  # after --, --json is no option
    assert capsys.readouterr().out == ""


def test_the_exit_codes_are_documented_as_the_cli_defines_them() -> None:
    table = DOCS.read_text(encoding="utf-8").split("## Exit codes", 1)[1]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", table, flags=re.MULTILINE))
    assert set(map(int, rows)) == set(EXIT_CODES)
    assert all(rows[str(code)].startswith(meaning) for code, meaning in EXIT_CODES.items()), rows


# -- 3. options named as the user typed them -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--image", "./missing.png"], "--image: ./missing.png: no such file"),
        (["--image", "ftp://a/b.png"], "--image must be an http(s) URL or the path of a local image file"),
        (["--aspect-ratio", "7:3"], "--aspect-ratio='7:3' is not accepted by nano-banana-pro"),
        (["-p", "resolution=8K"], "-p resolution='8K' is not accepted by nano-banana-pro"),
        (["--seed", "3"], "--seed is not supported by nano-banana-pro"),
        (["--callback-url", "ftp://x"], "--callback-url must be an http(s) URL"),
    ],
)
def test_a_refused_parameter_is_named_by_its_option(
    kie: KieRunner, kie_emulator: Emulator, options: list[str], message: str
) -> None:
    code, _, err = kie("generate", "nbp", "a fox", *options)
    assert code == 2 and err.startswith(f"kie: error: {message}") and err.count("\n") == 1
    assert kie_emulator.requests == []


def test_the_library_names_parameters_as_python_callers_do(kie: KieRunner) -> None:
    with Client() as client, pytest.raises(InvalidParameterError) as caught:
        client.prepare("seedream", prompt="a fox", num_images=7)
    assert str(caught.value).startswith("num_images (max_images)=7 is out of range")
    assert (caught.value.common, caught.value.parameter) == ("num_images", "max_images")
    assert caught.value.renamed("-n").startswith("-n=7 is out of range")
    with Client() as client, pytest.raises(InvalidParameterError) as caught:
        client.prepare("nbp", prompt="a fox", extra={"resolution": "8K"})
    assert str(caught.value).startswith("resolution='8K'") and caught.value.common is None


def test_every_common_parameter_names_an_option_kie_generate_has() -> None:
    generate = _parser()._subparsers._group_actions[0].choices["generate"]
    options = {name for action in generate._actions for name in action.option_strings}
    for common in (*COMMON_PARAMETERS, "callback_url", "profile"):
        shown = common_option(common)
        assert shown == "PROMPT" if common == "prompt" else set(shown.split("/")) <= options, common
    assert set(COMMON_OPTIONS) <= set(COMMON_PARAMETERS)


# -- 4. a short key garbles nothing ----------------------------------------------------------------------------


def test_a_one_letter_key_leaves_words_with_that_letter_alone(
    kie_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KIE_API_KEY", "x")
    monkeypatch.setenv("KIE_BASE_URL", kie_emulator.base_url)
    assert main(["generate", "flux-kontext-maxx", "a fox"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'flux-kontext-maxx'; did you mean flux-kontext-max" in err and "***" not in err


# -- 5. --debug (and --journal) after the command ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_works_before_or_after_the_command(kie: KieRunner, where: str) -> None:
    argv = ["generate", "nbp", "a fox", "--aspect-ratio", "7:3"]
    code, _, err = kie(*(["--debug", *argv] if where == "before" else [*argv, "--debug"]))
    assert code == 2 and "Traceback" in err and err.endswith("kie: error: " + err.split("kie: error: ")[-1])
    assert "Traceback" not in kie(*argv)[2]


def test_the_journal_option_works_after_the_command(kie: KieRunner, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    assert kie("generate", "nbp", "a fox", "-o", str(tmp_path), "--journal", str(other))[0] == 0
    code, out, _ = kie("tasks", "--json", "--journal", str(other))
    assert code == 0 and len(lines_of(out)) == 1
    assert kie("tasks", "--json")[1] == ""  # the default journal (the fixture's) holds nothing


# -- 6. hints carry the host, profile and journal the task used -------------------------------------------------


def test_connection_and_journal_options() -> None:
    assert connection_options("https://api.kie.ai/", Profile.LIVE) == connection_options(None, None) == ""
    assert (
        connection_options("http://127.0.0.1:8787", "reference")
        == " --base-url http://127.0.0.1:8787 --profile reference"
    )
    assert journal_option(None) == "" and journal_option("my journal.db") == " --journal 'my journal.db'"


def test_a_timeout_hint_carries_the_host_and_profile() -> None:
    handle = TaskHandle(model="nano-banana-pro", task_id="t-1", profile=Profile.REFERENCE, submitted_at=0.0)
    error = DeadlineExceededError(handle, 5, base_url="http://127.0.0.1:8787")
    assert str(error).endswith("kie status nano-banana-pro t-1 --base-url http://127.0.0.1:8787 --profile reference")
    live = attrs.evolve(handle, profile=Profile.LIVE)
    assert str(DeadlineExceededError(live, 5, base_url="https://api.kie.ai")).endswith("kie status nano-banana-pro t-1")


def test_batch_hints_carry_the_journal_and_the_host(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    journal = tmp_path / "other.sqlite3"
    file = tmp_path / "batch.txt"
    file.write_text("the fox\n", encoding="utf-8")
    argv = ["batch", str(file), "--model", "nbp", "-o", str(tmp_path), "--journal", str(journal)]
    kie_emulator.inject("drop_after_create", on="submit")
    assert kie(*argv)[0] == 1
    code, _, err = kie(*argv)
    with Journal(journal) as opened:
        (entry,) = opened.entries()
    hint = f"`kie abandon {entry.id} --journal {journal}`"
    assert code == 1 and hint in err
    assert kie(*hint.strip("`").split()[1:])[0] == 0  # the hint, run as shown, works
    args = _parser().parse_args(argv)
    with Client() as client:
        item = batch_command.prepare_item(client, args, request_fields(args), 1, "the fox")
    known = attrs.evolve(entry, task_id="t-9", profile=Profile.REFERENCE)
    outcome = batch_command._known_outcome(item, known, str(journal))
    assert f"`kie status nano-banana-pro t-9 --base-url {kie_emulator.base_url} --profile reference`" in str(
        outcome.error
    )


# -- 7. a known model whose plugin is not installed --------------------------------------------------------------


def test_a_known_model_without_its_plugin_says_what_to_install(
    kie: KieRunner, kie_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "load_registry", lambda environ=None: Registry())
    code, _, err = kie("generate", "google/nano-banana", "a fox", "--dry-run")
    assert code == 2 and err == (
        "kie: error: google/nano-banana is in the kiecore-nano-banana plugin, which is not installed:"
        " pip install kiecore-nano-banana (from a checkout: pip install ./plugins/kiecore-nano-banana)\n"
    )
    code, _, err = kie("generate", "nano-banana-bogus", "a fox", "--dry-run")
    assert code == 2 and "unknown model 'nano-banana-bogus'" in err


def test_a_known_model_whose_plugin_is_off_or_broken_says_so() -> None:
    registry = loading.load_registry({"KIECORE_DISABLE_PLUGINS": "kiecore-seedream"})
    with pytest.raises(ModelNotInstalledError, match="installed but not loaded: KIECORE_DISABLE_PLUGINS names it"):
        registry.resolve("seedream")
    empty = Registry()
    empty.record_failure(PluginInfo("imagen4", "kiecore-imagen4", "0.1.0"), "ImportError: gone")
    with pytest.raises(ModelNotInstalledError, match="kiecore-imagen4 plugin, which failed to load: ImportError: gone"):
        empty.resolve("Imagen4-Fast")
    with pytest.raises(UnknownModelError) as caught:
        empty.resolve("no-such-model")
    assert not isinstance(caught.value, ModelNotInstalledError)


# -- 8. --emulator without Pillow ---------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["generate", "nbp", "a fox", "--emulator"], ["emulator", "--port", "0"]])
def test_the_emulator_without_pillow_fails_at_once(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import ...` now fails as if it were not installed
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "kie: error: the emulator draws its images with Pillow, which is not installed: install kiecore[emulator],"
        " or pip install Pillow\n"
    )
    assert captured.out == "" and list(tmp_path.iterdir()) == []


# -- 9. kie emulator on a taken port ------------------------------------------------------------------------------


def test_kie_emulator_on_a_taken_port_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["emulator", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kie: error: cannot listen on 127.0.0.1:{port}: ") and err.count("\n") == 1
    assert "choose another --port" in err and "Traceback" not in err


# -- 10. the prompt from standard input --------------------------------------------------------------------------


def test_a_prompt_of_dash_is_read_from_standard_input(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  a red fox\nin the snow  \n\n"))
    code, out, err = kie("generate", "nbp", "-", "-o", str(tmp_path))
    (task,) = kie_emulator.tasks.values()
    assert code == 0 and task.prompt == "a red fox\nin the snow" and len(out.splitlines()) == 1, err


@pytest.mark.parametrize("text", ["", " \n\t\n"])
def test_an_empty_standard_input_is_refused(
    kie: KieRunner, kie_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, _, err = kie("generate", "nbp", "-")
    assert code == 2 and err == "kie: error: the prompt on standard input is empty (PROMPT - reads it from there)\n"
    assert kie_emulator.requests == []


def test_a_batch_prompt_line_is_never_read_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("not for the defaults"))
    args = _parser().parse_args(["batch", "-", "--model", "nbp"])
    assert "prompt" not in request_fields(args) and sys.stdin.read() == "not for the defaults"
