"""`kie gallery DIR` and `--gallery` (kiecore/gallery.py, kiecore/cli/gallery_command.py): the page's structure,
always (every image referenced once, every text escaped, newest first, nothing from the network), from sidecars or
the journal, end to end against the kit's emulator; and the page rendered in a real headless browser where one is
installed."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import stat
import subprocess
import urllib.parse
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from kiecore import gallery
from kiecore.cli import gallery_command
from kiecore.emulator import Emulator
from kiecore.errors import ForeignPageError, LocalWriteError
from kiecore.naming import IMAGE_SUFFIXES, SIDECAR_SUFFIX
from kiecore.version import __version__
from tests.conftest import KieRunner

#: A prompt that would break out of text, an attribute or a tag if anything were not escaped.
HOSTILE = '<script>alert(1)</script> " onerror="alert(2)" ' + "' & <img src=x onerror=alert(3)>"
#: The prompts of the ``generated`` folder's tasks.
PROMPTS = sorted([HOSTILE, "two foxes & a hare", "a lighthouse at dusk", "a 'quoted' prompt"])
#: The browsers the rendering test looks for on PATH, by family, in order.
#: Headless browsers the page is rendered in, where installed. Chromium only: it can dump the DOM the page's
#: script leaves (each image's load state); Firefox can only take a screenshot, which caught lazy images before
#: they loaded on a busy machine (a flaky check, so not kept).
BROWSERS = {"chromium": ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")}
FOREIGN = "<html><body>my own page</body></html>\n"


class Page(HTMLParser):
    """What a gallery page holds, as a browser's parser sees it."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.texts: dict[str, list[str]] = {}  # class of the element -> its texts
        self._open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append((tag, values))
        if tag not in ("img", "meta", "input", "br"):
            self._open.append(values.get("class", tag))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open:
            self.texts.setdefault(self._open[-1], []).append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [values for name, values in self.tags if name == tag]

    def text(self, kind: str) -> list[str]:
        return self.texts.get(kind, [])


def page(folder: Path) -> tuple[str, Page]:
    text = (folder / "index.html").read_text(encoding="utf-8")
    return text, Page(text)


def images_in(folder: Path) -> set[Path]:
    """Every image file under ``folder`` a gallery shows (its subfolders too; hidden names left out)."""
    found = (path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
    return {path for path in found if not any(part.startswith(".") for part in path.relative_to(folder).parts)}


def check_structure(folder: Path) -> Page:
    """What every page must be: each image in ``folder`` referenced by exactly one <img> (a relative src that
    resolves to it) and linked to in full, no resource from the network, no script but its own, the generator
    marked, cards newest first, and the filter listing every model shown."""
    text, parsed = page(folder)
    sources = [img["src"] for img in parsed.all("img")]
    for reference in [*sources, *(a["href"] for a in parsed.all("a"))]:
        assert "://" not in reference and not reference.startswith(("/", "//")), reference
        assert "\\" not in reference
    shown = Counter((folder / urllib.parse.unquote(source)).resolve() for source in sources)
    assert shown == Counter({path.resolve(): 1 for path in images_in(folder)})
    assert sorted(a["href"] for a in parsed.all("a")) == sorted(sources)  # a click opens the full image
    assert all(img["loading"] == "lazy" for img in parsed.all("img"))
    assert not parsed.all("link") and not parsed.all("iframe") and not parsed.all("object")
    assert len(parsed.all("script")) == 1 and all("src" not in script for script in parsed.all("script"))
    for _tag, values in parsed.tags:  # no attribute smuggled in: no event handler, no inline style
        assert not [name for name in values if name.startswith("on") or name == "style"], values
    generators = [meta["content"] for meta in parsed.all("meta") if meta.get("name") == "generator"]
    assert generators == [f"kiecore {__version__}"] and gallery.is_ours(folder / "index.html")
    policy = [meta["content"] for meta in parsed.all("meta") if meta.get("http-equiv") == "Content-Security-Policy"]
    assert len(policy) == 1 and policy[0].startswith("default-src 'none'")
    times = [values["datetime"] for name, values in parsed.tags if name == "time"]
    moments = [datetime.datetime.fromisoformat(moment) for moment in times]
    assert moments == sorted(moments, reverse=True) and len(moments) == len(parsed.all("article"))
    models = {card["data-model"] for card in parsed.all("article")}
    options = {option["value"] for option in parsed.all("option")}
    assert options == models | {""}
    assert text.startswith("<!DOCTYPE html>")
    return parsed


def sidecars(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*" + SIDECAR_SUFFIX))


@pytest.fixture
def generated(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> Path:
    """A folder of four tasks by three models (one of two images, one in a subfolder, one prompt hostile)."""
    kie_emulator.task_seconds = 0.02
    out = tmp_path / "out"
    runs = [
        ("nbp", HOSTILE, "-o", str(out), "--aspect-ratio", "16:9"),
        ("seedream", "two foxes & a hare", "-n", "2", "-o", str(out)),
        ("google/nano-banana", "a lighthouse at dusk", "-o", str(out / "nano")),
        ("nbp", "a 'quoted' prompt", "-o", str(out), "--resolution", "2K"),
    ]
    for model, prompt, *options in runs:
        code, _, err = kie("generate", model, prompt, *options)
        assert code == 0, err
    return out


# -- the page, from sidecars ----------------------------------------------------------------------------------


def test_the_page_shows_every_image_with_its_escaped_prompt(kie: KieRunner, generated: Path) -> None:
    code, out, err = kie("gallery", str(generated))
    assert code == 0, err
    assert out.splitlines() == [str(generated / "index.html")]
    text, parsed = page(generated)
    check_structure(generated)
    assert len(images_in(generated)) == 5 and len(parsed.all("article")) == 4
    assert "<script>alert" not in text and "<img src=x" not in text  # the raw prompt never reaches the page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot; onerror=&quot;alert(2)&quot; &#x27; &amp;" in text
    assert sorted(parsed.text("prompt")) == PROMPTS  # the text a person reads is the prompt as typed
    assert HOSTILE in [img["alt"] for img in parsed.all("img")]  # and the attribute held it whole
    models = {"nano-banana-pro", "bytedance/seedream-v4-text-to-image", "google/nano-banana"}
    assert {card["data-model"] for card in parsed.all("article")} == models and set(parsed.text("model")) == models
    params = " ".join(parsed.text("k") + parsed.text("params"))
    assert "aspect_ratio" in params and "resolution" in params and "max_images" in params
    task_ids = {json.loads(path.read_text())["task_id"] for path in sidecars(generated)}
    assert set(parsed.text("code")) == task_ids


def test_gallery_json_and_the_page_s_mode(kie: KieRunner, generated: Path) -> None:
    before = os.umask(0o027)
    try:
        code, out, err = kie("gallery", str(generated), "--json")
    finally:
        os.umask(before)
    assert code == 0, err
    assert json.loads(out) == {"path": str(generated / "index.html"), "entries": 4, "images": 5}
    assert stat.S_IMODE((generated / "index.html").stat().st_mode) == 0o640  # as any file the user makes
    assert not [path for path in generated.iterdir() if path.name.startswith(".")]  # no temporary file left


def test_names_that_need_encoding_resolve_to_their_files(tmp_path: Path) -> None:
    names = ["a b.png", "100%.png", "q?x.png", "h#1.png", 'quote".png', "amp&lt;.png", "é.png", "c:d.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / ".hidden.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / ".kiecore.part").write_bytes(b"partial")
    written = gallery.write(tmp_path)
    assert written.images == len(names)
    parsed = check_structure(tmp_path)
    assert {urllib.parse.unquote(img["src"]) for img in parsed.all("img")} == set(names)
    assert set(parsed.text("source")) == {" · no record"}


def test_subfolders_are_searched_two_levels_down(tmp_path: Path) -> None:
    for folder in ("a", "a/b", "a/b/c", ".git", "a/.cache"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    parsed = Page(gallery.render(gallery.gather(tmp_path), title="t"))
    assert sorted(img["src"] for img in parsed.all("img")) == ["a/b/x.png", "a/x.png"]


def test_a_sidecar_never_reaches_outside_its_folder(tmp_path: Path, generated: Path) -> None:
    first = sidecars(generated)[0]
    record = json.loads(first.read_text())
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    record["files"] = ["../../secret.png", "/etc/passwd", "index.html", *record["files"]]
    first.write_text(json.dumps(record))
    (generated / "broken.kie.json").write_text("{not json")  # unreadable: counts as none
    gallery.write(generated)
    parsed = check_structure(generated)
    assert not [img for img in parsed.all("img") if "secret" in img["src"] or "passwd" in img["src"]]


# -- the journal, when sidecars are gone ----------------------------------------------------------------------


def test_images_without_a_sidecar_are_shown_from_the_journal(kie: KieRunner, generated: Path, tmp_path: Path) -> None:
    for path in sidecars(generated):
        path.unlink()
    shutil.copyfile(next(iter(images_in(generated))), generated / "stray.png")  # in no record at all
    code, _, err = kie("gallery", str(generated))
    assert code == 0, err
    _, parsed = page(generated)
    check_structure(generated)
    assert sorted(parsed.text("prompt")) == PROMPTS
    assert Counter(parsed.text("source")) == {" · from the journal": 4, " · no record": 1}
    assert "no prompt recorded" in parsed.text("prompt none")
    moved = tmp_path / "journal-elsewhere.sqlite3"
    (tmp_path / "journal.sqlite3").rename(moved)
    code, _, err = kie("gallery", str(generated))  # no journal where KIECORE_JOURNAL says: none is created
    assert code == 0, err
    assert not (tmp_path / "journal.sqlite3").exists()
    assert set(page(generated)[1].text("source")) == {" · no record"}
    code, _, err = kie("gallery", str(generated), "--journal", str(moved))  # the global option
    assert code == 0, err
    assert Counter(page(generated)[1].text("source"))[" · from the journal"] == 4


# -- a page that is not ours ----------------------------------------------------------------------------------


def test_a_foreign_index_html_is_never_replaced_without_force(kie: KieRunner, generated: Path) -> None:
    index = generated / "index.html"
    index.write_text(FOREIGN)
    code, out, err = kie("gallery", str(generated))
    assert code == 2 and out == ""
    refusal = f"{index} was not written by kiecore; not overwriting it (move it aside, or add --force)"
    assert err == f"kie: error: {refusal}\n"
    assert index.read_text() == FOREIGN
    code, out, _ = kie("gallery", str(generated), "--json")
    assert code == 2 and json.loads(out)["error"]["type"] == "ForeignPageError"
    with pytest.raises(ForeignPageError):
        gallery.write(generated)
    assert kie("gallery", str(generated), "--force")[0] == 0
    check_structure(generated)
    assert kie("gallery", str(generated))[0] == 0  # ours now: refreshed without --force


def test_gallery_of_a_missing_folder_is_a_usage_error(kie: KieRunner, tmp_path: Path) -> None:
    code, _, err = kie("gallery", str(tmp_path / "nowhere"))
    assert code == 2 and err == f"kie: error: {tmp_path / 'nowhere'}: no such folder\n"


def test_open_shows_the_page_in_a_browser(kie: KieRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    assert kie("gallery", str(tmp_path), "--open")[0] == 0
    assert opened == [(tmp_path / "index.html").resolve().as_uri()]
    monkeypatch.setattr(webbrowser, "open", lambda url: False)
    code, _, err = kie("gallery", str(tmp_path), "--open")
    assert code == 0 and "no web browser to open it with here" in err


# -- --gallery as results come in -----------------------------------------------------------------------------


def test_generate_gallery_writes_the_page(kie: KieRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert kie("generate", "nbp", "a fox", "-o", str(out), "--gallery")[0] == 0
    assert kie("generate", "seedream", "two hares", "-n", "2", "-o", str(out), "--gallery")[0] == 0
    parsed = check_structure(out)
    assert sorted(parsed.text("prompt")) == ["a fox", "two hares"]
    code, _, err = kie("generate", "nbp", "a fox", "-O", str(tmp_path / "one" / "fox.png"), "--gallery")
    assert code == 0, err
    assert [img["src"] for img in check_structure(tmp_path / "one").all("img")] == ["fox.png"]


def test_generate_gallery_refuses_a_foreign_page_before_sending(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text(FOREIGN)
    for extra in ([], ["--dry-run"]):
        code, _, err = kie("generate", "nbp", "a fox", "-o", str(tmp_path), "--gallery", *extra)
        assert code == 2 and "was not written by kiecore" in err and "kie gallery" in err and "--force" in err
    code, _, err = kie("generate", "nbp", "a fox", "-o", str(tmp_path / "x"), "--gallery", "--no-download")
    assert code == 2 and "not with --no-download" in err
    assert not kie_emulator.tasks and (tmp_path / "index.html").read_text() == FOREIGN


def test_a_page_that_cannot_be_written_is_a_warning(
    kie: KieRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(folder: Path, **_: Any) -> None:
        raise LocalWriteError(Path(folder) / "index.html", OSError(28, "No space left on device"))

    monkeypatch.setattr(gallery_command.gallery, "write", fail)
    code, out, err = kie("generate", "nbp", "a fox", "-o", str(tmp_path), "--gallery")
    assert code == 0 and len(out.splitlines()) == 1
    assert err.splitlines()[-1] == (
        f"kie: warning: the gallery in {tmp_path} is not updated: cannot write {tmp_path / 'index.html'}:"
        " No space left on device"
    )


def test_batch_gallery_writes_every_item_s_folder(kie: KieRunner, tmp_path: Path) -> None:
    lines = ["a red fox", json.dumps({"prompt": HOSTILE, "model": "gpt4o-image"}), "a blue fox"]
    lines.append(json.dumps({"prompt": "elsewhere", "output_dir": str(tmp_path / "other")}))
    file = tmp_path / "batch.txt"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = kie("batch", str(file), "--model", "nbp", "-o", str(out), "--gallery")
    assert code == 0, err
    text, parsed = page(out)
    check_structure(out)
    assert sorted(parsed.text("prompt")) == sorted(["a red fox", HOSTILE, "a blue fox"]) and "<script>alert" not in text
    assert check_structure(tmp_path / "other").text("prompt") == ["elsewhere"]
    (out / "index.html").unlink()
    code, _, err = kie("batch", str(file), "--model", "nbp", "-o", str(out), "--gallery")  # all delivered already
    assert code == 0, err
    assert len(check_structure(out).all("article")) == 3  # written again from what the journal reported


def test_batch_gallery_refuses_a_foreign_page_before_sending(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text(FOREIGN)
    file = tmp_path / "batch.txt"
    file.write_text("a fox\n", encoding="utf-8")
    code, _, err = kie("batch", str(file), "--model", "nbp", "-o", str(tmp_path), "--gallery")
    assert code == 2 and "was not written by kiecore" in err
    assert not kie_emulator.tasks


def test_resume_and_download_gallery(kie: KieRunner, kie_client: Any, kie_emulator: Emulator, tmp_path: Path) -> None:
    handle = kie_client.submit("nbp", prompt="made elsewhere")
    kie_client.wait(handle)
    code, _, err = kie("download", "nbp", handle.task_id, "-o", str(tmp_path / "got"), "--gallery")
    assert code == 0, err
    assert check_structure(tmp_path / "got").text("code") == [handle.task_id]
    kie_emulator.task_seconds = 30
    assert kie("generate", "nbp", "a slow fox", "-o", str(tmp_path / "slow"), "--timeout", "0.3")[0] == 5
    kie_emulator.task_seconds = 0.1
    code, _, err = kie("resume", "--gallery")
    assert code == 0, err
    assert check_structure(tmp_path / "slow").text("prompt") == ["a slow fox"]


def test_the_refresher_writes_at_most_once_an_interval_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    monkeypatch.setattr(gallery_command.gallery, "write", lambda folder, **_: written.append(folder))
    now = [100.0]
    pages = gallery_command.Refresher(None, interval=1.0, clock=lambda: now[0])
    pages.tick()
    assert written == []  # nothing saved yet
    pages.saved([tmp_path / "a" / "1.png", tmp_path / "a" / "2.png", tmp_path / "b" / "3.png"])
    pages.tick()
    assert written == [tmp_path / "a", tmp_path / "b"]
    pages.saved([tmp_path / "a" / "4.png"])
    now[0] += 0.5
    pages.tick()
    assert len(written) == 2  # within the interval
    now[0] += 0.5
    pages.tick()
    assert written[2:] == [tmp_path / "a"]
    pages.saved([tmp_path / "b" / "5.png"])
    pages.flush()
    assert written[3:] == [tmp_path / "b"]
    pages.flush()
    assert len(written) == 4  # nothing due


# -- pure parts -----------------------------------------------------------------------------------------------


def entry(name: str, at: int, **fields: Any) -> gallery.Entry:
    moment = datetime.datetime(2025, 3, 4, 5, 6, at, tzinfo=datetime.UTC)
    values: dict[str, Any] = {"model": "m", "prompt": name, "task_id": name, **fields}
    return gallery.Entry(images=(f"{name}.png",), at=moment, **values)


def test_render_orders_newest_first_and_lists_each_model() -> None:
    entries = [entry("old", 1), entry("new", 3, model="other"), entry("mid", 2), entry("none", 0, model=None)]
    parsed = Page(gallery.render(entries, title="<b>out</b>"))
    assert [img["src"] for img in parsed.all("img")] == ["new.png", "mid.png", "old.png", "none.png"]
    assert [option["value"] for option in parsed.all("option")] == ["", "m", "other", "-"]
    assert parsed.text("option") == ["all models (4)", "m (2)", "other (1)", "no record (1)"]
    assert parsed.text("title") == ["<b>out</b> · kie gallery"] and parsed.text("h1") == ["<b>out</b>"]
    empty = Page(gallery.render([], title="out"))
    assert empty.text("empty") == ["No images here yet."] and not empty.all("img")


def test_key_parameters_leave_out_the_prompt_model_and_callback() -> None:
    market = {
        "model": "google/nano-banana-edit",
        "callBackUrl": "https://example.com/hook",
        "input": {"prompt": "p", "image_urls": ["https://a/1.png", "https://a/2.png"], "output_format": "png"},
    }
    assert gallery.body_parameters(market) == (("image_urls", "2 URLs"), ("output_format", "png"))
    gpt4o = {"prompt": "p", "size": "3:2", "nVariants": 2, "isEnhance": True, "filesUrl": ["https://a/1.png"]}
    assert gallery.body_parameters(gpt4o) == (
        ("size", "3:2"),
        ("nVariants", "2"),
        ("isEnhance", "true"),
        ("filesUrl", "1 URL"),
    )
    long = {"negativePrompt": "x" * 100, "inputImage": "https://a/1.png", "seed": None}
    negative, image = gallery.body_parameters(long)
    assert negative == ("negativePrompt", "x" * 39 + "…") and image == ("inputImage", "1 URL")
    assert gallery.body_parameters(None) == ()


def test_text_html_cannot_carry_is_replaced() -> None:
    parsed = Page(gallery.render([entry("x", 1, prompt="a\x00b\x1b[31mc\ud800d\ne")], title="t"))
    assert parsed.text("prompt") == ["a\ufffdb\ufffd[31mc\ufffdd\ne"]


# -- a real browser -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(BROWSERS))
def test_the_page_renders_in_a_headless_browser(kie: KieRunner, generated: Path, tmp_path: Path, family: str) -> None:
    browser = next(filter(None, map(shutil.which, BROWSERS[family])), None)
    if browser is None:
        pytest.skip(f"no headless {family} installed (looked for {', '.join(BROWSERS[family])} on PATH)")
    assert kie("gallery", str(generated))[0] == 0
    url = (generated / "index.html").resolve().as_uri()
    profile = tmp_path / "browser-profile"
    profile.mkdir()
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # as root (CI) Chromium refuses to start otherwise; the page is a local file
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--window-size=1400,4000",  # every card in view, so that every lazy image loads
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    parsed = Page(dom)
    states = [img.get("data-state") for img in parsed.all("img")]
    assert states == ["loaded"] * len(images_in(generated)), states  # the page's script ran, every image loaded
    (filters,) = [div for div in parsed.all("div") if div.get("id") == "filters"]
    assert "hidden" not in filters and "4 of 4 shown" in parsed.text("span")  # the script showed the filter
