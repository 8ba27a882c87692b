"""Files a person can trace: ``-O FILE`` and ``--name TEMPLATE`` (one naming for save, resume and download), the
sidecar beside each task's images, ``kie resume TASK_ID``, ``kie download``, ``kie status`` from the journal,
and the prompt in ``kie tasks``; end to end against the kit's emulator."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from kiecore import sidecar
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.errors import UsageError
from kiecore.journal import Journal, JournalState
from kiecore.naming import Naming
from kiecore.testing.endtoend import check_image
from kiecore.version import __version__
from tests.conftest import CLI_KEY, KieRunner


@pytest.fixture
def client(kie_client_factory: Any, journal: Journal) -> Client:
    """A client of the ``kie`` fixture's key and journal: what it starts, ``kie resume`` may finish."""
    made: Client = kie_client_factory(CLI_KEY, journal)
    return made


def images(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if not path.name.endswith(".kie.json"))


def downloads(emulator: Emulator) -> int:
    return len([request for request in emulator.requests if request.server == "files"])


def sent_nothing(emulator: Emulator) -> bool:
    return not [request for request in emulator.requests if request.server == "api" and request.method == "POST"]


def unfinished(journal: Journal, entry_id: int, files: list[Path]) -> None:
    """Make a downloaded entry what a run killed while saving leaves: succeeded, with only ``files`` recorded."""
    with journal._write() as db:
        db.execute(
            "UPDATE tasks SET state = 'succeeded', files = ?, pid = NULL WHERE id = ?",
            (json.dumps([str(file) for file in files]), entry_id),
        )


# -- -O FILE ---------------------------------------------------------------------------------------------


def test_output_file_saves_the_one_image_exactly_with_its_sidecar(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    target = tmp_path / "new" / "fox.png"
    code, out, err = kie("generate", "nbp", "a red fox", "-O", str(target))
    assert code == 0, err
    assert out.splitlines() == [str(target)] and check_image(target) == "PNG"
    assert sorted(path.name for path in target.parent.iterdir()) == ["fox.kie.json", "fox.png"]
    record = sidecar.load(target.parent / "fox.kie.json")
    (task_id,) = kie_emulator.tasks
    assert (record.task_id, record.files, record.prompt) == (task_id, ("fox.png",), "a red fox")


def test_output_file_without_an_extension_gets_the_image_s_own(kie: KieRunner, tmp_path: Path) -> None:
    code, out, err = kie("generate", "nbp", "a fox", "-O", str(tmp_path / "fox"), "--output-format", "jpg")
    assert code == 0, err
    assert out.splitlines() == [str(tmp_path / "fox.jpg")] and check_image(tmp_path / "fox.jpg") == "JPEG"
    assert (tmp_path / "fox.kie.json").is_file()


def test_output_file_whose_extension_disagrees_keeps_the_name_and_says_so(kie: KieRunner, tmp_path: Path) -> None:
    code, out, err = kie("generate", "nbp", "a fox", "-O", str(tmp_path / "fox.png"), "--output-format", "jpg")
    assert code == 0, err
    assert out.splitlines() == [str(tmp_path / "fox.png")] and check_image(tmp_path / "fox.png") == "JPEG"
    assert "holds a JPEG image, not png; it keeps the name you gave" in err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["seedream", "x", "-n", "2", "-O", "{tmp}/two.png"], "saves one image, and this request can make 2"),
        (["nbp", "x", "-O", "{tmp}/taken.png"], "taken.png already exists; not overwriting it"),
        (["nbp", "x", "-O", "{tmp}/taken"], "taken.png already exists"),
        (["nbp", "x", "-O", "{tmp}/a.png", "-o", "{tmp}"], "give -o DIR or -O FILE, not both"),
        (["nbp", "x", "-O", "{tmp}/a.png", "--name", "{task}_x"], "not both"),
        (["nbp", "x", "-O", "{tmp}/a-file/a.png"], "cannot save images in"),
        (["nbp", "x", "-O", "{tmp}"], "is a folder; save into a folder with -o"),
        (["nbp", "x", "-O", "{tmp}/a.png", "--no-download"], "nothing is downloaded"),
        (["nbp", "x", "-o", "{tmp}/fox.png"], "did you mean -O {tmp}/fox.png?"),
        (["nbp", "x", "-o", "{tmp}", "--name", "{bogus}_{task}"], "unknown field {bogus}"),
        (["nbp", "x", "-o", "{tmp}", "--name", "{prompt_slug}"], "put {task} in it"),
        (["nbp", "x", "-o", "{tmp}", "--name", "a/{task}"], "no path separator"),
        (["seedream", "x", "-n", "2", "-O", "{tmp}/two.png", "--dry-run"], "this request can make 2"),
        (["nbp", "x", "-O", "{tmp}/taken.png", "--dry-run"], "taken.png already exists"),
        (["nbp", "x", "-o", "{tmp}/fox.png", "--dry-run"], "did you mean -O"),
    ],
)
def test_bad_names_are_refused_before_anything_is_sent(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, args: list[str], fragment: str
) -> None:
    (tmp_path / "taken.png").write_bytes(b"someone's picture")
    (tmp_path / "a-file").write_text("a file where a folder would go")
    code, _, err = kie("generate", *(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert code == 2, err
    assert fragment.replace("{tmp}", str(tmp_path)) in err and err.count("\n") == 1 and "Traceback" not in err
    assert sent_nothing(kie_emulator) and not (tmp_path / "fox.png").exists()
    assert (tmp_path / "taken.png").read_bytes() == b"someone's picture"


def test_o_may_name_an_existing_folder_that_looks_like_a_file(kie: KieRunner, tmp_path: Path) -> None:
    folder = tmp_path / "pictures.png"
    folder.mkdir()
    code, out, err = kie("generate", "nbp", "a fox", "-o", str(folder))
    assert code == 0, err
    assert Path(out.strip()).parent == folder


# -- --name TEMPLATE and the sidecar ----------------------------------------------------------------------


def test_a_template_names_every_result_and_the_sidecar(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, err = kie(
        "generate", "seedream", "Two Foxes!", "-n", "2", "-o", str(out_dir), "--name", "{prompt_slug}_{task}"
    )
    assert code == 0, err
    (task_id,) = kie_emulator.tasks
    names = [Path(line).name for line in out.splitlines()]
    assert names == [f"two-foxes_{task_id}_1.png", f"two-foxes_{task_id}_2.png"]
    assert [path.name for path in images(out_dir)] == names
    record = sidecar.load(out_dir / f"two-foxes_{task_id}.kie.json")
    assert record.files == tuple(names)


def test_the_sidecar_says_what_made_the_images(
    client: Client, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = os.umask(0o027)
    try:
        result = client.generate("seedream", "a fox in the snow", num_images=2, output_dir=tmp_path)
    finally:
        os.umask(before)
    handle = result.handle
    assert result.sidecar == tmp_path / f"{handle.task_id}.kie.json"
    text = result.sidecar.read_text(encoding="utf-8")
    assert CLI_KEY not in text and "Bearer" not in text
    raw = json.loads(text)
    assert list(raw)[:3] == ["schema", "kiecore_version", "task_id"] and raw["schema"] == 1
    record = sidecar.load(result.sidecar)
    task = kie_emulator.tasks[handle.task_id]
    assert record.kiecore_version == __version__ and record.model == "bytedance/seedream-v4-text-to-image"
    assert record.profile.value == "live" and record.prompt == "a fox in the snow"
    assert record.request is not None and dict(record.request.body or {}) == task.body  # exactly what was sent
    assert record.request.method == "POST" and record.request.path.startswith("/api/")
    assert record.urls == result.status.urls and record.files == tuple(path.name for path in result.files)
    assert record.submitted_at is not None and record.finished_at is not None
    assert record.submitted_at <= record.finished_at <= record.saved_at
    assert record.estimated_credits is None  # seedream declares no price
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", raw["saved_at"])
    for path in (*result.files, result.sidecar):  # as any file the user makes: 0666 less the umask
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".part")]
    priced = client.generate("google/nano-banana", "a fox", output_dir=tmp_path)
    assert priced.sidecar is not None and sidecar.load(priced.sidecar).estimated_credits == 4


def test_a_sidecar_that_cannot_be_written_ends_nothing(client: Client, tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "blocked.kie.json").mkdir()  # where the sidecar would go, a folder nothing can replace
    result = client.generate("nbp", "a fox", output_file=tmp_path / "blocked.png")
    assert result.files == (tmp_path / "blocked.png",) and check_image(result.files[0])
    assert result.sidecar is None and "images are saved, but not its sidecar" in capsys.readouterr().err


def test_the_python_api_takes_the_same_names(client: Client, kie_emulator: Emulator, tmp_path: Path) -> None:
    result = client.generate("nbp", "a fox", output_dir=tmp_path, name="{model}_{task}")
    assert [path.name for path in result.files] == [f"nano-banana-pro_{result.handle.task_id}.png"]
    exact = client.generate("nbp", "a fox", output_file=tmp_path / "exact")
    assert exact.files == (tmp_path / "exact.png",)
    requests = len(kie_emulator.requests)
    with pytest.raises(UsageError, match="can make 2 images"):
        client.start("seedream", "two", num_images=2, output_file=tmp_path / "x.png")
    with pytest.raises(UsageError, match=r"put \{task\} in it"):
        client.start("nbp", "a fox", output_dir=tmp_path, name="{prompt_slug}")
    with pytest.raises(UsageError, match=r"exact\.png already exists"):
        client.start("nbp", "a fox", output_file=tmp_path / "exact")
    assert len(kie_emulator.requests) == requests  # refused before anything was sent


# -- resume finds what an earlier run saved ---------------------------------------------------------------


def test_a_resume_finds_the_files_saved_under_the_task_s_template(
    client: Client, journal: Journal, kie_emulator: Emulator, tmp_path: Path
) -> None:
    result = client.generate("seedream", "two foxes", num_images=2, output_dir=tmp_path, name="{prompt_slug}_{task}")
    entry = journal.find(client.transport.base_url, result.handle.task_id)
    assert entry is not None and entry.naming == Naming(template="{prompt_slug}_{task}")
    first, second = result.files
    second.unlink()
    assert result.sidecar is not None
    result.sidecar.unlink()
    unfinished(journal, entry.id, [first])  # killed after the first file was saved
    before = downloads(kie_emulator)
    again = client.resume(journal.get(entry.id))
    assert again.files == result.files and downloads(kie_emulator) == before + 1  # only the missing one
    assert again.sidecar == result.sidecar and result.sidecar.is_file()
    second.unlink()
    unfinished(journal, entry.id, [])  # killed before the journal heard of any file: found on disk by its name
    before = downloads(kie_emulator)
    assert client.resume(journal.get(entry.id)).files == result.files and downloads(kie_emulator) == before + 1


def test_kie_resume_finishes_an_output_file_under_its_exact_name(
    client: Client, journal: Journal, kie: KieRunner, tmp_path: Path
) -> None:
    result = client.generate("nbp", "a fox", output_file=tmp_path / "mine")
    (saved,) = result.files
    assert saved == tmp_path / "mine.png"
    saved.unlink()
    entry = journal.find(client.transport.base_url, result.handle.task_id)
    assert entry is not None
    unfinished(journal, entry.id, [])
    code, out, err = kie("resume", result.handle.task_id)
    assert code == 0, err
    assert out.splitlines() == [str(saved)] and check_image(saved)


# -- kie resume TASK_ID and -o DIR -------------------------------------------------------------------------


def test_resume_task_id_resumes_that_task_only(
    client: Client, journal: Journal, kie: KieRunner, tmp_path: Path
) -> None:
    handles = [client.submit("nbp", prompt=f"fox {n}") for n in range(2)]
    for handle in handles:
        client.wait(handle)
    code, out, err = kie("resume", handles[1].task_id, "-o", str(tmp_path / "out"))
    assert code == 0, err
    (saved,) = [Path(line) for line in out.splitlines()]
    assert saved.name == f"{handles[1].task_id}.png" and check_image(saved)
    states = {entry.task_id: entry.state for entry in journal.entries()}
    assert states == {handles[0].task_id: JournalState.SUCCEEDED, handles[1].task_id: JournalState.DOWNLOADED}
    code, out, err = kie("resume", handles[1].task_id)  # done already: its files, and nothing to do
    assert code == 0 and out.splitlines() == [str(saved)] and "downloaded already" in err
    entry = journal.find(client.transport.base_url, handles[0].task_id)
    assert entry is not None
    code, out, _ = kie("resume", str(entry.id), "-o", str(tmp_path / "out"))  # an entry id works too
    assert code == 0 and len(out.splitlines()) == 1


def test_resume_of_a_task_the_journal_does_not_hold_points_to_download(kie: KieRunner) -> None:
    code, out, err = kie("resume", "no-such-task")
    assert code == 2 and out == ""
    assert "no task no-such-task in the journal" in err and "kie download MODEL no-such-task" in err


def test_resume_o_records_the_new_folder(
    client: Client, journal: Journal, kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    kie_emulator.task_seconds = 30  # still running when the first resume gives up
    handle = client.submit("nbp", prompt="a fox")
    entry = journal.find(client.transport.base_url, handle.task_id)
    assert entry is not None and entry.output_dir is None
    code, _, err = kie("resume", handle.task_id, "-o", str(tmp_path / "later"), "--timeout", "0.3")
    assert code == 5, err
    assert journal.get(entry.id).output_dir == str(tmp_path / "later")  # recorded even though it timed out
    kie_emulator.task_seconds = 0.2  # done now
    code, out, err = kie("resume")  # no -o: the recorded folder
    assert code == 0, err
    assert Path(out.strip()).parent == tmp_path / "later"


# -- kie download -----------------------------------------------------------------------------------------


def test_download_saves_a_task_made_elsewhere(
    kie: KieRunner, kie_client: Client, kie_emulator: Emulator, tmp_path: Path
) -> None:
    handle = kie_client.submit("seedream", prompt="made in the web UI", num_images=2)
    kie_client.wait(handle)
    code, out, err = kie("download", "seedream", handle.task_id, "-o", str(tmp_path / "got"))
    assert code == 0, err
    names = [Path(line).name for line in out.splitlines()]
    assert names == [f"{handle.task_id}_1.png", f"{handle.task_id}_2.png"]
    record = sidecar.load(tmp_path / "got" / f"{handle.task_id}.kie.json")
    assert record.files == tuple(names) and record.submitted_at is None and record.request is None
    before = downloads(kie_emulator)
    code, out, _ = kie("download", "seedream", handle.task_id, "-o", str(tmp_path / "got"))  # again
    assert code == 0 and [Path(line).name for line in out.splitlines()] == names
    assert downloads(kie_emulator) == before  # kept, not fetched again
    code, _, err = kie("download", "seedream", handle.task_id, "-O", str(tmp_path / "one.png"))
    assert code == 2 and "can make 2 images" in err
    with Journal(tmp_path / "journal.sqlite3") as journal:
        assert journal.entries() == []  # no journal entry: kiecore did not make the task


def test_download_to_an_exact_file_and_with_a_template(kie: KieRunner, kie_client: Client, tmp_path: Path) -> None:
    handle = kie_client.submit("nbp", prompt="a fox")
    kie_client.wait(handle)
    code, out, err = kie("download", "nbp", handle.task_id, "-O", str(tmp_path / "fox"))
    assert code == 0, err
    assert out.splitlines() == [str(tmp_path / "fox.png")] and (tmp_path / "fox.kie.json").is_file()
    code, out, err = kie("download", "nbp", handle.task_id, "-o", str(tmp_path), "--name", "web_{task}")
    assert code == 0, err
    assert out.splitlines() == [str(tmp_path / f"web_{handle.task_id}.png")]
    code, _, err = kie("download", "nbp", handle.task_id, "-O", str(tmp_path / "fox"))
    assert code == 2 and "fox.png already exists" in err


def test_download_of_an_unfinished_or_failed_task_saves_nothing(
    kie: KieRunner, kie_client: Client, kie_emulator: Emulator, tmp_path: Path
) -> None:
    kie_emulator.task_seconds = 30
    running = kie_client.submit("nbp", prompt="slow")
    code, _, err = kie("download", "nbp", running.task_id, "-o", str(tmp_path))
    assert code == 1 and "has no results yet" in err
    kie_emulator.task_seconds = 0.2
    kie_emulator.inject("fail_task", times=1)
    failed = kie_client.submit("nbp", prompt="doomed")
    for _ in range(100):
        code, _, err = kie("download", "nbp", failed.task_id, "-o", str(tmp_path))
        if code != 1:
            break
    assert code == 4 and "failed at Kie" in err
    assert list(tmp_path.glob("*.png")) == []


# -- kie status and kie tasks -----------------------------------------------------------------------------


def test_status_asks_where_the_journal_says_the_task_lives(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = kie("generate", "nbp", "a fox", "-o", str(tmp_path), "--profile", "reference")
    assert code == 0, err
    (task_id,) = kie_emulator.tasks
    asked = {request.path for request in kie_emulator.requests if request.method == "GET" and request.server == "api"}
    monkeypatch.setenv("KIE_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    before = len(kie_emulator.requests)
    code, out, err = kie("status", "nbp", task_id)
    assert code == 0, err
    assert out.startswith(f"{task_id}: succeeded")
    (query,) = kie_emulator.requests[before:]
    assert query.path in asked  # the reference profile's status path, as the generation used
    code, _, err = kie("status", "nbp", task_id, "--base-url", "http://127.0.0.1:9")  # given: used
    assert code == 1


def test_tasks_shows_each_prompt_shortened(kie: KieRunner, tmp_path: Path) -> None:
    prompt = "a very long prompt about a red fox\nwalking through the deep snow at dusk"
    assert kie("generate", "nbp", prompt, "-o", str(tmp_path))[0] == 0
    code, out, _ = kie("tasks")
    assert code == 0
    (line,) = out.splitlines()
    assert '"a very long prompt about a..."' in line and "1 file(s) in" in line


# -- kie batch ----------------------------------------------------------------------------------------------


def test_batch_lines_name_their_files(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    lines = [
        "a red fox",
        json.dumps({"prompt": "a blue fox", "name": "blue_{task}"}),
        json.dumps({"prompt": "a green fox", "output_file": str(tmp_path / "exact" / "green.png")}),
    ]
    file = tmp_path / "batch.txt"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    code, out, err = kie("batch", str(file), "--model", "nbp", "-o", str(out_dir), "--name", "{prompt_slug}_{task}")
    assert code == 0, err
    by_prompt = {task.prompt: task_id for task_id, task in kie_emulator.tasks.items()}
    saved = {Path(line) for line in out.splitlines()}
    assert saved == {
        out_dir / f"a-red-fox_{by_prompt['a red fox']}.png",
        out_dir / f"blue_{by_prompt['a blue fox']}.png",
        tmp_path / "exact" / "green.png",
    }
    assert (tmp_path / "exact" / "green.kie.json").is_file()


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ({"prompt": "x", "output_file": "{tmp}/one.png"}, "is line 1's too"),
        ({"prompt": "x", "model": "seedream", "num_images": 2, "output_file": "{tmp}/two.png"}, "can make 2"),
        ({"prompt": "x", "name": "{prompt_slug}"}, "put {task} in it"),
        ({"prompt": "x", "output_dir": "{tmp}/fox.png"}, 'did you mean "output_file" {tmp}/fox.png?'),
        ({"prompt": "x", "output_dir": "{tmp}", "output_file": "{tmp}/b.png"}, "not both"),
    ],
)
def test_bad_batch_names_send_nothing(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path, line: dict[str, Any], fragment: str
) -> None:
    first = json.dumps({"prompt": "first", "output_file": str(tmp_path / "one.png")})
    second = json.dumps(line).replace("{tmp}", str(tmp_path))
    file = tmp_path / "batch.txt"
    file.write_text(f"{first}\n{second}\n", encoding="utf-8")
    code, _, err = kie("batch", str(file), "--model", "nbp")
    assert code == 2, err
    assert err.startswith("kie: line 2: ") and fragment.replace("{tmp}", str(tmp_path)) in err
    assert sent_nothing(kie_emulator)
