"""`kie batch FILE` end to end against the kit's emulator (kiecore/cli/batch_command.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from kiecore.cli import SEVERITY, _parser, batch_command, generate_command, worst
from kiecore.cli.batch_command import item_key
from kiecore.cli.options import request_fields
from kiecore.cli.progress import BatchProgress, eta
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.journal import Journal, JournalState
from kiecore.model import GenerationRequest
from kiecore.testing.endtoend import check_image
from tests.conftest import KieRunner

SUMMARY = "kie: batch: {} delivered, {} failed, {} skipped (of {})"


def batch_file(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "batch.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def creates(emulator: Emulator) -> int:
    """How many create requests the emulator received (every status query and download is a GET)."""
    return len([request for request in emulator.requests if request.method == "POST"])


def prompts(emulator: Emulator) -> set[str]:
    return {task.prompt for task in emulator.tasks.values()}


def entries(tmp_path: Path) -> list[Any]:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        return journal.entries()


def test_prompt_lines_run_with_the_command_line_options(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    lines = ("# two foxes", "a red fox", "", "   ", "  # indented comment", "a blue fox")
    out_dir = tmp_path / "out"
    file = batch_file(tmp_path, *lines)
    code, out, err = kie("batch", file, "--model", "nbp", "-o", str(out_dir), "--resolution", "2K")
    assert code == 0, err
    paths = [Path(line) for line in out.splitlines()]
    assert len(paths) == 2 and all(path.parent == out_dir and check_image(path) for path in paths)
    assert err.splitlines() == [SUMMARY.format(2, 0, 0, 2)]  # not a terminal: nothing but the summary
    assert prompts(kie_emulator) == {"a red fox", "a blue fox"}
    assert all(task.body["input"]["resolution"] == "2K" for task in kie_emulator.tasks.values())
    journalled = entries(tmp_path)
    assert {entry.state for entry in journalled} == {JournalState.DOWNLOADED}
    assert len({entry.item_key for entry in journalled}) == 2 and None not in {e.item_key for e in journalled}


def test_json_lines_override_the_command_line(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    lines = (
        '{"prompt": "plain", "seed": null}',
        '{"prompt": "wide", "aspect_ratio": "16:9", "output_dir": "%s"}' % (tmp_path / "wide"),
        '{"model": "gpt4o-image", "prompt": "two", "num_images": 2, "params": {"isEnhance": true}}',
        '{"model": "gpt4o-image", "prompt": "ref", "image": "https://example.com/a.png", "aspect_ratio": "3:2"}',
    )
    file = batch_file(tmp_path, *lines)
    args = ("--model", "nano-banana-pro", "--aspect-ratio", "1:1", "-o", str(tmp_path / "out"), "--json")
    code, out, err = kie("batch", file, *args, "-p", "fallbackModel=GPT_IMAGE_1")
    assert code == 2 and "kie: line 1: unknown parameter 'fallbackModel' for nano-banana-pro" in err
    assert "kie: line 2:" in err and "kie: line 3:" not in err and out == "" and kie_emulator.requests == []

    code, out, err = kie("batch", file, *args)
    assert code == 0, err
    shown = [json.loads(line) for line in out.splitlines()]
    results = {result["line"]: result for result in shown}
    assert sorted(result["line"] for result in shown) == [1, 2, 3, 3, 4]  # two images: two tasks of one each
    assert all(set(result) == {"line", "model", "task_id", "files", "urls"} for result in shown)
    twos = [result for result in shown if result["line"] == 3]
    assert all(result["model"] == "gpt4o-image" and len(result["files"]) == 1 for result in twos)
    assert Path(results[2]["files"][0]).parent == tmp_path / "wide"
    assert Path(results[1]["files"][0]).parent == tmp_path / "out"
    bodies = {task.prompt: task.body for task in kie_emulator.tasks.values()}
    assert bodies["plain"]["input"]["aspect_ratio"] == "1:1" and bodies["wide"]["input"]["aspect_ratio"] == "16:9"
    assert "nVariants" not in bodies["two"] and bodies["two"]["isEnhance"] is True
    assert bodies["ref"]["size"] == "3:2" and bodies["ref"]["filesUrl"] == ["https://example.com/a.png"]


def test_standard_input(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("# from a pipe\na fox from stdin\n"))
    code, out, err = kie("batch", "-", "--model", "nano-banana-pro", "-o", str(tmp_path), "--no-download")
    assert code == 0, err
    assert out.startswith("http://") and len(out.splitlines()) == 1  # the URLs, nothing saved
    assert prompts(kie_emulator) == {"a fox from stdin"} and not list(tmp_path.glob("*.png"))


def test_a_bad_line_sends_nothing(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    lines = (
        "a good fox",
        '{"model": "nano-banana-pro", "prompt": "x", "aspect_ratio": "7:3"}',
        '{"prompt": "x", "colour": "red"}',
        '{"prompt": "x"',
        '{"model": "nano-banana-prp", "prompt": "x"}',
        '{"prompt": "x", "timeout": "soon"}',
        '{"prompt": "x", "image": 5}',
        '{"prompt": "x", "output_dir": "a\\u0000b"}',  # no file system takes a NUL: refused, never a crash
        '{"prompt": "x", "image": "photo\\u0000.png"}',
    )
    code, out, err = kie("batch", batch_file(tmp_path, *lines), "--model", "nano-banana-pro", "-o", str(tmp_path))
    assert code == 2 and out == "" and kie_emulator.requests == []
    assert len(err.splitlines()) == 9 and "kie: line 1:" not in err
    assert "kie: line 2: --aspect-ratio='7:3' is not accepted by nano-banana-pro" in err
    assert "kie: line 3: unknown field 'colour'" in err
    assert "kie: line 4: not a valid JSON object" in err
    assert "kie: line 5: unknown model 'nano-banana-prp'; did you mean nano-banana-pro" in err
    assert 'kie: line 6: "timeout" must be a number of seconds' in err
    assert 'kie: line 7: "image" must be a URL or file path, or a list of them' in err
    assert "kie: line 8: cannot save images in 'a\\x00b': a folder name cannot hold a NUL" in err
    assert "kie: line 9: --image must be an http(s) URL or the path of a local image file" in err
    assert err.splitlines()[-1] == "kie: batch: 8 bad lines; nothing was sent (fix them, or add --skip-invalid)"
    assert "Traceback" not in err


def test_prompt_lines_need_a_model(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    code, _, err = kie("batch", batch_file(tmp_path, "a fox"), "-o", str(tmp_path))
    assert code == 2 and 'kie: line 1: no model: give --model, or "model" in a JSON line' in err
    code, _, err = kie("batch", batch_file(tmp_path, "a fox"), "--model", "nano-banana-prp")
    assert code == 2 and err.startswith("kie: error: unknown model 'nano-banana-prp'") and err.count("\n") == 1
    code, _, err = kie("batch", str(tmp_path / "missing.txt"), "--model", "nbp")
    assert code == 2 and err.startswith("kie: error: cannot read") and kie_emulator.requests == []


def test_a_missing_key_is_one_error_before_anything_is_sent(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KIE_API_KEY")
    code, out, err = kie("batch", batch_file(tmp_path, "one", "two"), "--model", "nbp", "-o", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("kie: error: no API key") and "--emulator" in err and kie_emulator.requests == []


def test_skip_invalid_runs_the_good_lines(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    file = batch_file(tmp_path, "good one", '{"prompt": "bad", "aspect_ratio": "7:3"}', "good two")
    code, out, err = kie("batch", file, "--model", "nano-banana-pro", "-o", str(tmp_path), "--skip-invalid", "--json")
    assert code == 2  # every good line delivered; the skipped one is still a usage error
    results = {result["line"]: result for result in map(json.loads, out.splitlines())}
    assert results[2] == {
        "line": 2,
        "model": "nano-banana-pro",
        "task_id": None,
        "error": results[2]["error"],
        "exit_code": 2,
    }
    assert "7:3" in results[2]["error"] and results[1]["files"] and results[3]["files"]
    assert "kie: line 2: --aspect-ratio='7:3'" in err and err.splitlines()[-1] == SUMMARY.format(2, 0, 1, 3)
    assert prompts(kie_emulator) == {"good one", "good two"}


def test_a_failing_item_exits_4_and_the_others_are_delivered(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    kie_emulator.inject("fail_task", message="content policy")
    file = batch_file(tmp_path, "one", "two", "three")
    args = ("--model", "nano-banana-pro", "-o", str(tmp_path), "--json")
    code, out, err = kie("batch", file, *args)
    assert code == 4
    results = [json.loads(line) for line in out.splitlines()]
    (failed,) = [result for result in results if "error" in result]
    (task,) = [task for task in kie_emulator.tasks.values() if task.failed]
    assert failed["task_id"] == task.id and failed["exit_code"] == 4 and "content policy" in failed["error"]
    assert len([result for result in results if "files" in result]) == 2
    assert f"kie: line {failed['line']}: task {task.id} (nano-banana-pro) failed at Kie" in err
    assert err.splitlines()[-1] == SUMMARY.format(2, 1, 0, 3)

    code, out, err = kie("batch", file, *args)  # again: the failed one is reported, not resubmitted
    assert code == 4 and creates(kie_emulator) == 3
    assert "not resubmitted" in err and err.splitlines()[-1] == SUMMARY.format(2, 1, 0, 3)
    assert sorted(json.loads(line)["line"] for line in out.splitlines()) == [1, 2, 3]


def test_running_it_again_after_everything_was_delivered_sends_nothing(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    file = batch_file(tmp_path, "one", "two")
    args = ("--model", "nano-banana-pro", "-o", str(tmp_path / "out"))
    code, first, _ = kie("batch", file, *args)
    assert code == 0
    sent = len(kie_emulator.requests)
    code, again, err = kie("batch", file, *args)
    assert code == 0 and sorted(again.splitlines()) == sorted(first.splitlines())
    assert len(kie_emulator.requests) == sent and err.splitlines() == [SUMMARY.format(2, 0, 0, 2)]
    code, _, _ = kie("batch", file, *args, "--resolution", "2K")  # another request: other items
    assert code == 0 and creates(kie_emulator) == 4


def test_a_line_asking_for_more_images_than_a_task_makes_runs_several_tasks(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    file = batch_file(tmp_path, "one fox", '{"prompt": "three foxes", "num_images": 3}')
    args = ("--model", "nano-banana-pro", "-o", str(tmp_path / "out"))
    code, first, err = kie("batch", file, *args)
    assert code == 0, err
    assert len(first.splitlines()) == 4 and err.splitlines() == [SUMMARY.format(4, 0, 0, 4)]
    assert sorted(task.prompt for task in kie_emulator.tasks.values()) == ["one fox", *["three foxes"] * 3]
    assert len({entry.item_key for entry in entries(tmp_path)}) == 4  # each task its own item
    code, again, _ = kie("batch", file, *args)  # all delivered: nothing is sent again
    assert code == 0 and creates(kie_emulator) == 4 and sorted(again.splitlines()) == sorted(first.splitlines())
    many = batch_file(tmp_path, '{"prompt": "x", "num_images": 2, "output_file": "x.png"}')
    code, _, err = kie("batch", many, *args)
    assert code == 2 and '"output_file" saves one image' in err and creates(kie_emulator) == 4


def test_running_it_again_after_an_interruption_finishes_without_a_new_create(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kie_emulator.task_seconds = 30
    file = batch_file(tmp_path, "one", '{"prompt": "two", "timeout": 60}', "three")
    args = ("--model", "nano-banana-pro", "-o", str(tmp_path), "--timeout", "0.3")
    shown = BatchProgress.show
    interrupted: list[bool] = []

    def interrupt_once(self: BatchProgress, counts: tuple[int, int, int, int]) -> None:
        """Ctrl-C once lines 1 and 3 timed out, while line 2 still waits (the line is redrawn every loop)."""
        if not interrupted and counts[0] + counts[1] == 2:
            interrupted.append(True)
            raise KeyboardInterrupt
        shown(self, counts)

    monkeypatch.setattr(BatchProgress, "show", interrupt_once)
    code, out, err = kie("batch", file, *args)
    assert code == 130 and out == "" and interrupted
    assert err.count("did not finish within 0.3s") == 2
    assert err.splitlines()[-1].endswith(f"`kie batch {file}` again (same options) resumes")
    assert len(kie_emulator.tasks) == 3 and {entry.state for entry in entries(tmp_path)} == {JournalState.SUBMITTED}

    kie_emulator.task_seconds = 0.2  # they are all done now
    code, out, err = kie("batch", file, *args[:-2])  # the deadline is no part of an item's key
    assert code == 0, err
    assert creates(kie_emulator) == 3 and len(out.splitlines()) == 3
    assert {entry.state for entry in entries(tmp_path)} == {JournalState.DOWNLOADED}


def test_without_downloads_a_timed_out_item_is_waited_for_again(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    kie_emulator.task_seconds = 30
    file = batch_file(tmp_path, "the fox")
    args = ("--model", "nano-banana-pro", "--no-download", "--json")
    code, out, err = kie("batch", file, *args, "--timeout", "0.2")
    (timed_out,) = [json.loads(line) for line in out.splitlines()]
    assert code == 5 and timed_out["exit_code"] == 5 and timed_out["task_id"] in kie_emulator.tasks
    kie_emulator.task_seconds = 0.2
    code, out, err = kie("batch", file, *args)
    assert code == 0, err
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert result["task_id"] == timed_out["task_id"] and result["files"] == [] and len(result["urls"]) == 1
    assert creates(kie_emulator) == 1


def test_a_journalled_submitted_entry_is_finished(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    """An entry with the item's key, made with the journal API as a crashed run would have left it."""
    file = batch_file(tmp_path, "the fox")
    argv = ["batch", file, "--model", "nano-banana-pro", "-o", str(tmp_path / "out")]
    args = _parser().parse_args(argv)
    with Client() as client:  # the emulator, by KIE_BASE_URL
        item = batch_command.prepare_item(client, args, request_fields(args), 1, "the fox")
        handle = client.submit("nano-banana-pro", prompt="the fox")
    with Journal(tmp_path / "journal.sqlite3") as journal:
        entry = journal.begin_submit(
            model=item.model,
            profile=handle.profile,
            base_url=kie_emulator.base_url,
            request=GenerationRequest(prompt="the fox"),
            output_dir=str(item.directory),
            item_key=item.key,
        )
        journal.submitted(entry, handle)
    code, out, err = kie(*argv[:-2], "-o", str(tmp_path / "out"), "--json")
    assert code == 0, err
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert result["task_id"] == handle.task_id and creates(kie_emulator) == 1
    assert [Path(path).parent for path in result["files"]] == [tmp_path / "out"]
    with Journal(tmp_path / "journal.sqlite3") as journal:
        assert journal.get(entry).state is JournalState.DOWNLOADED


def test_an_uncertain_submit_is_never_sent_again(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.inject("drop_after_create", on="submit")
    file = batch_file(tmp_path, "the fox")
    args = ("--model", "nano-banana-pro", "-o", str(tmp_path))
    code, _, err = kie("batch", file, *args)
    assert code == 1 and "kie: line 1:" in err and "may have been created" in err
    (entry,) = entries(tmp_path)
    assert entry.state is JournalState.UNCERTAIN
    code, _, err = kie("batch", file, *args)
    assert code == 1 and creates(kie_emulator) == 1
    assert "may or may not have been created at Kie" in err and f"`kie abandon {entry.id}`" in err
    assert kie("abandon", str(entry.id))[0] == 0
    code, _, err = kie("batch", file, *args)  # abandoned: the user asked for a fresh submit
    assert code == 0, err
    assert creates(kie_emulator) == 2


def test_lines_run_concurrently(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    file = batch_file(tmp_path, *(f"fox number {n}" for n in range(20)))
    code, out, err = kie("batch", file, "--model", "nano-banana-pro", "-o", str(tmp_path))
    assert code == 0, err
    assert len(out.splitlines()) == 20
    tasks = sorted(kie_emulator.tasks.values(), key=lambda task: task.created)
    assert len(tasks) == 20
    first_done = tasks[0].created + kie_emulator.task_seconds
    # one after the other, only the first would exist before it finished; here most do
    assert sum(task.created < first_done for task in tasks) >= 10


def test_the_built_in_emulator_keeps_no_journal(
    kie: KieRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate_command, "EMULATOR_TASK_SECONDS", 0.2)
    monkeypatch.setattr(generate_command, "EMULATOR_POLL_INTERVAL", 0.05)
    file = batch_file(tmp_path, "one", "two")
    code, out, err = kie("batch", file, "--model", "nano-banana-pro", "-o", str(tmp_path / "out"), "--emulator")
    assert code == 0, err
    assert len(out.splitlines()) == 2 and not (tmp_path / "journal.sqlite3").exists()


# -- the parts -------------------------------------------------------------------------------------------


def test_the_most_severe_exit_code_wins() -> None:
    assert SEVERITY == (130, 3, 1, 4, 5, 2)
    assert worst([]) == worst([0, 0]) == 0
    assert worst([0, 2, 5]) == 5 and worst([5, 4, 2]) == 4 and worst([4, 1]) == 1 and worst([1, 3]) == 3
    assert worst([3, 130]) == 130 and worst([7]) == 1


def test_item_keys_name_every_fact_of_an_item() -> None:
    request = {"prompt": "a fox", "extra": {"b": 1, "a": 2}}
    key = item_key(1, "nano-banana-pro", request, Path("/out"), "live", "https://api.kie.ai/")
    assert len(key) == 64 and key == item_key(
        1, "nano-banana-pro", {"extra": {"a": 2, "b": 1}, "prompt": "a fox"}, Path("/out"), "live", "https://api.kie.ai"
    )
    others = [
        item_key(2, "nano-banana-pro", request, Path("/out"), "live", "https://api.kie.ai"),
        item_key(1, "gpt4o-image", request, Path("/out"), "live", "https://api.kie.ai"),
        item_key(1, "nano-banana-pro", {**request, "seed": 1}, Path("/out"), "live", "https://api.kie.ai"),
        item_key(1, "nano-banana-pro", request, Path("/other"), "live", "https://api.kie.ai"),
        item_key(1, "nano-banana-pro", request, None, "live", "https://api.kie.ai"),
        item_key(1, "nano-banana-pro", request, Path("/out"), "reference", "https://api.kie.ai"),
        item_key(1, "nano-banana-pro", request, Path("/out"), "live", "http://127.0.0.1:8787"),
    ]
    assert len({key, *others}) == 8


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_on_a_terminal_and_off_it() -> None:
    now = [100.0]
    terminal = _Terminal()
    progress = BatchProgress(terminal, clock=lambda: now[0], environ={"TERM": "xterm"}, interval=None)
    progress.show((0, 0, 3, 3))
    assert terminal.getvalue() == "\r\033[K⠋ done 0 / failed 0 / in flight 3 / total 3  0s, ETA ?"
    now[0] += 5.0
    progress.finished()
    progress.show((1, 0, 2, 3))
    assert terminal.getvalue().rsplit("\r\033[K", 1)[1] == "⠴ done 1 / failed 0 / in flight 2 / total 3  5s, ETA 10s"
    progress.clear()
    assert terminal.getvalue().endswith("\r\033[K")
    plain = io.StringIO()
    BatchProgress(plain, environ={}).show((1, 0, 2, 3))
    assert plain.getvalue() == ""
    assert [eta(0, 1, 5.0), eta(3, 0, 5.0), eta(2, 2, 10.0), eta(10, 1, 30.0), eta(100, 1, 100.0)] == [
        "0s",
        "?",
        "10s",
        "5m00s",
        "2h46m",
    ]
