"""Where a client saves results: the output folder and an exact file name, checked before anything is sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiecore.client import check_output_dir, naming_for
from kiecore.errors import UsageError
from kiecore.naming import Naming


def refusal(output_dir: str | os.PathLike[str]) -> str:
    with pytest.raises(UsageError) as caught:
        check_output_dir(output_dir)
    return str(caught.value)


# -- the output folder ---------------------------------------------------------------------------------------------


def test_the_output_folder_is_created_resolved_and_left_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert check_output_dir("a/b/../c") == tmp_path / "a" / "c"
    assert (tmp_path / "a" / "c").is_dir() and list((tmp_path / "a" / "c").iterdir()) == []
    assert check_output_dir(tmp_path / "a" / "c") == tmp_path / "a" / "c"  # an existing one is fine too


def test_the_output_folder_may_start_at_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_output_dir("~/pictures") == tmp_path / "pictures" and (tmp_path / "pictures").is_dir()


def test_a_folder_name_with_a_nul_is_refused_without_touching_the_disk(tmp_path: Path) -> None:
    bad = f"{tmp_path}/a" + chr(0) + "b"
    assert refusal(bad) == f"cannot save images in {bad!r}: a folder name cannot hold a NUL"
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_refused_saying_why(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert refusal(tmp_path / "file" / "sub") == (
        f"cannot save images in {tmp_path / 'file' / 'sub'}: Not a directory; choose another folder with -o"
    )
    assert refusal(tmp_path / "file") == (
        f"cannot save images in {tmp_path / 'file'}: File exists; choose another folder with -o"
    )


# -- an exact file name, or a naming ---------------------------------------------------------------------------------


def test_without_an_output_file_the_folder_and_the_naming_are_as_given(tmp_path: Path) -> None:
    assert naming_for(tmp_path, None, None, count=3) == (tmp_path, Naming())
    assert naming_for("out", None, "{task}-{index}", count=None) == ("out", Naming(template="{task}-{index}"))
    assert list(tmp_path.iterdir()) == []  # nothing is written


def test_an_output_file_gives_the_folder_and_the_exact_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert naming_for("ignored", tmp_path / "pics" / "fox.png", None, count=1) == (
        tmp_path / "pics",
        Naming(file="fox.png"),
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    assert naming_for(".", "~/fox.png", None, count=1) == (tmp_path, Naming(file="fox.png"))
    assert not (tmp_path / "pics").exists()


def test_an_output_file_and_a_name_together_are_refused() -> None:
    with pytest.raises(UsageError) as caught:
        naming_for(".", "fox.png", "{task}", count=1)
    assert str(caught.value) == "give -O (output_file) or --name (name), not both: -O names the one file"


def test_an_output_file_that_names_a_folder_is_refused(tmp_path: Path) -> None:
    for given in (f"{tmp_path}/new/", str(tmp_path)):
        with pytest.raises(UsageError) as caught:
            naming_for(".", given, None, count=1)
        assert str(caught.value) == f"-O (output_file) {given} is a folder; save into a folder with -o (output_dir)"


@pytest.mark.parametrize(("count", "many"), [(2, "2 images"), (None, "an unknown number of images")])
def test_an_output_file_is_for_one_image_only(count: int | None, many: str) -> None:
    with pytest.raises(UsageError) as caught:
        naming_for(".", "fox.png", None, count=count, what="task t1")
    assert str(caught.value) == (
        f"-O (output_file) fox.png saves one image, and task t1 can make {many};"
        " save them in a folder with -o (output_dir), named with --name"
    )
    with pytest.raises(UsageError, match="and this request can make"):
        naming_for(".", "fox.png", None, count=count)


def test_a_folder_no_file_can_be_written_in_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o500)
    else:
        folder = Path("/proc")  # root writes anywhere but in a kernel file system
    message = refusal(folder)
    assert message.startswith(f"cannot save images in {folder}: ") and message.endswith(
        "; choose another folder with -o"
    )
