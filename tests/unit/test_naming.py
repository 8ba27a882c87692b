"""File names from templates and exact names: what each field gives, what is refused, and the sidecar's name."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from kiecore.errors import UsageError
from kiecore.naming import Naming, TaskNames, prompt_slug
from kiecore.serialization import from_json, to_json

#: 2025-03-04 05:06:07 local time.
WHEN = datetime.datetime(2025, 3, 4, 5, 6, 7).timestamp()


def names(naming: Naming, count: int = 1, *, task: str = "t1", prompt: str | None = "A red fox") -> TaskNames:
    return naming.for_task(model="google/nano-banana", task_id=task, prompt=prompt, submitted_at=WHEN, count=count)


@pytest.mark.parametrize(
    ("template", "count", "expected", "sidecar"),
    [
        ("{task}", 1, ["t1.png"], "t1.kie.json"),
        ("{task}", 2, ["t1_1.png", "t1_2.png"], "t1.kie.json"),
        ("{date}_{prompt_slug}_{task}", 1, ["2025-03-04_a-red-fox_t1.png"], "2025-03-04_a-red-fox_t1.kie.json"),
        ("{prompt_slug}_{task}", 2, ["a-red-fox_t1_1.png", "a-red-fox_t1_2.png"], "a-red-fox_t1.kie.json"),
        ("{task}-{index}", 1, ["t1-1.png"], "t1.kie.json"),
        ("{index}_{task}", 2, ["1_t1.png", "2_t1.png"], "t1.kie.json"),
        ("{task}{index}x", 2, ["t11x.png", "t12x.png"], "t1x.kie.json"),
        ("{model}_{time}_{task}", 1, ["google_nano-banana_050607_t1.png"], "google_nano-banana_050607_t1.kie.json"),
        ("fox {{1}} {task}", 1, ["fox {1} t1.png"], "fox {1} t1.kie.json"),
    ],
)
def test_templates_fill_in_their_fields(template: str, count: int, expected: list[str], sidecar: str) -> None:
    named = names(Naming(template=template), count)
    assert [named.name(index, "png") for index in range(count)] == expected
    assert named.sidecar() == sidecar
    assert named.name(0, "jpg").endswith(".jpg")


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{bogus}_{task}", "unknown field {bogus}"),
        ("{}_{task}", "unknown field {}"),
        ("{prompt_slug}_{date}", "put {task} in it"),
        ("out/{task}", "no path separator"),
        ("out\\{task}", "no path separator"),
        ("{task}\n", "control character"),
        (".{task}", "may not start with a dot"),
        ("{task}.png", "leave the extension out"),
        ("{task}.JPEG", "leave the extension out"),
        ("{index:03}_{task}", "takes no format"),
        ("{task!r}", "takes no format"),
        ("{task", "literal brace"),
    ],
)
def test_bad_templates_are_refused(template: str, fragment: str) -> None:
    with pytest.raises(UsageError) as refused:
        Naming(template=template)
    assert fragment in str(refused.value) and str(refused.value).count("\n") == 0


def test_fields_never_make_a_path_or_a_hidden_file() -> None:
    named = Naming(template="{model}_{prompt_slug}_{task}").for_task(
        model="../x/y", task_id="../../etc/passwd", prompt="../../ .hidden/..", submitted_at=WHEN, count=1
    )
    name = named.name(0, "png")
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name == "x_y_hidden_etc_passwd.png"
    leading = Naming(template="{prompt_slug}{task}").for_task(
        model="m", task_id="...", prompt="...", submitted_at=WHEN, count=1
    )
    assert leading.name(0, "png") == "untitledtask.png"


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("A red fox, in the SNOW!", "a-red-fox-in-the-snow"),
        ("  ", "untitled"),
        (None, "untitled"),
        ("狐狸 在雪中", "狐狸-在雪中"),
        ("ﬁne ½", "fine-1-2"),  # compatibility forms folded (NFKC)
        ("one two three four five six seven eight nine ten", "one-two-three-four-five-six-seven-eight"),
        ("x" * 60, "x" * 40),
    ],
)
def test_prompt_slugs(prompt: str | None, slug: str) -> None:
    assert prompt_slug(prompt) == slug


def test_date_and_time_are_the_submission_s_or_today_when_unknown() -> None:
    named = Naming(template="{date}_{time}_{task}")
    assert names(named).name(0, "png") == "2025-03-04_050607_t1.png"
    today = datetime.date.today().isoformat()
    unknown = named.for_task(model="m", task_id="t1", prompt=None, submitted_at=0.0, count=1)
    assert unknown.name(0, "png").startswith(today)


def test_an_exact_file_name_keeps_its_extension_or_gets_the_image_s() -> None:
    with_suffix = names(Naming(file="fox.JPEG"))
    assert [with_suffix.name(0, ext) for ext in ("png", "jpg")] == ["fox.JPEG", "fox.JPEG"]
    assert with_suffix.claimed_type(0) == "jpg" and with_suffix.sidecar() == "fox.kie.json"
    bare = names(Naming(file="my.photo"))
    assert bare.name(0, "webp") == "my.photo.webp" and bare.claimed_type(0) is None
    assert bare.sidecar() == "my.photo.kie.json"
    assert names(Naming(template="{task}")).claimed_type(0) is None
    assert names(Naming(file="fox.png"), 2).name(1, "png") == "fox_2.png"  # never two results on one name


def test_an_exact_file_name_is_for_one_image() -> None:
    Naming(file="fox.png").check_count(1)
    Naming().check_count(None)  # a template names any number
    for count, fragment in ((2, "can make 2 images"), (None, "an unknown number of images")):
        with pytest.raises(UsageError, match=fragment):
            Naming(file="fox.png").check_count(count)
    for bad in ("", ".", "..", "a/b.png", "a\0.png"):
        with pytest.raises(UsageError):
            Naming(file=bad)
    with pytest.raises(UsageError, match="not both"):
        Naming(template="{task}_x", file="fox.png")


def test_occupied_finds_an_exact_name_already_taken(tmp_path: Path) -> None:
    assert Naming(file="fox").occupied(tmp_path) is None and Naming().occupied(tmp_path) is None
    (tmp_path / "fox.webp").write_bytes(b"x")
    assert Naming(file="fox").occupied(tmp_path) == tmp_path / "fox.webp"
    assert Naming(file="fox.png").occupied(tmp_path) is None  # another file than fox.webp
    (tmp_path / "fox.png").write_bytes(b"x")
    assert Naming(file="fox.png").occupied(tmp_path) == tmp_path / "fox.png"


def test_a_naming_round_trips_through_json() -> None:
    for naming in (Naming(), Naming(template="{date}_{task}"), Naming(file="fox.png")):
        assert from_json(Naming, to_json(naming)) == naming
    assert Naming.of(None) == Naming() and Naming.of("{task}_a") == Naming(template="{task}_a")
    assert Naming().is_default and not Naming(file="a.png").is_default
