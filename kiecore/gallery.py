"""A folder's contact sheet: ``DIR/index.html``, one self-contained page of every image in ``DIR`` (and its
subfolders, :data:`MAX_DEPTH` levels down) with its prompt, model, key parameters, task id and time, newest first,
filterable by model and searchable by prompt.

:func:`gather` reads what a folder holds into :class:`Entry` values: each task's sidecar (:mod:`kiecore.sidecar`),
else, for an image no sidecar names, the journal entry that saved it, else the file alone. :func:`render` turns
entries into the page's HTML and does nothing else. :func:`write` does both and saves the page atomically, unless an
``index.html`` kiecore did not write is in the way (:class:`~kiecore.errors.ForeignPageError`).

The page loads nothing from anywhere: its style and its one small script are inline (and the only ones its
Content-Security-Policy allows), and images are referenced by relative, percent-encoded paths, so the folder can be
moved or zipped. Every text from a sidecar or the journal is HTML-escaped; without the script every card is shown.
"""

from __future__ import annotations

import base64
import collections
import datetime
import hashlib
import html
import json
import os
import posixpath
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from kiecore import sidecar
from kiecore.download import write_file
from kiecore.errors import ForeignPageError, UsageError
from kiecore.naming import IMAGE_SUFFIXES, SIDECAR_SUFFIX
from kiecore.version import __version__

if TYPE_CHECKING:
    from kiecore.journal import JournalEntry
    from kiecore.model import GenerationRequest

__all__ = [
    "INDEX",
    "MAX_DEPTH",
    "Entry",
    "Gallery",
    "body_parameters",
    "check",
    "gather",
    "is_ours",
    "render",
    "request_parameters",
    "write",
]

#: The page's file name in its folder.
INDEX = "index.html"
#: How many levels of subfolders below the folder are searched for images (hidden folders and links are not).
MAX_DEPTH = 2
#: What the page's ``<meta name="generator">`` starts with: how a page kiecore wrote is told from another.
GENERATOR = "kiecore"
#: The longest parameter value shown, in characters.
MAX_VALUE = 40
#: How many bytes of an existing page are read to find its generator.
_HEAD_BYTES = 4096
_MARK = f'<meta name="generator" content="{GENERATOR} '
#: The model filter's value for images whose model is not known.
_NO_MODEL = "-"

Source = Literal["sidecar", "journal", "file"]


@attrs.frozen(kw_only=True)
class Entry:
    """One task's images on the page. ``images`` are POSIX paths relative to the page's folder; ``at`` is when the
    task was submitted (else saved; for an image with no record, its modification time), timezone-aware;
    ``parameters`` are (name, value) pairs, shown as they are; ``source`` is where the facts came from."""

    images: tuple[str, ...]
    model: str | None
    prompt: str | None
    task_id: str | None
    at: datetime.datetime
    parameters: tuple[tuple[str, str], ...] = ()
    source: Source = "sidecar"


@attrs.frozen(kw_only=True)
class Gallery:
    """A page written: its ``path``, how many ``entries`` (cards) and ``images`` it shows."""

    path: Path
    entries: int
    images: int


# -- parameters -----------------------------------------------------------------------------------------------


def body_parameters(body: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The key parameters of a create request's JSON body, in its order: every field but the prompt, the model
    and the callback URL, with a market body's ``input`` fields in its place; values shortened
    (:data:`MAX_VALUE`), URLs counted."""
    if not body:
        return ()
    pairs: list[tuple[str, str]] = []
    for name, value in body.items():
        if name == "input" and isinstance(value, Mapping):
            pairs.extend(_pairs(value))
        else:
            pairs.extend(_pairs({name: value}))
    return tuple(pairs)


def request_parameters(request: GenerationRequest) -> tuple[tuple[str, str], ...]:
    """The key parameters of a journalled request: its common fields (under kiecore's names) and extras."""
    return tuple(_pairs({**request.common_values(), **request.extra}))


def _pairs(fields: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for name, value in fields.items():
        if value is None or name in ("prompt", "model") or "callback" in str(name).lower():
            continue
        yield str(name), _compact(value)


def _compact(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        if value and all(_is_url(item) for item in value):
            text = f"{len(value)} URL{'s' if len(value) != 1 else ''}"
        else:
            text = ", ".join(_compact(item) for item in value)
    elif _is_url(value):
        text = "1 URL"
    elif isinstance(value, Mapping):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and "://" in value


# -- gathering ------------------------------------------------------------------------------------------------


def gather(folder: str | os.PathLike[str], journal: Callable[[], Iterable[JournalEntry]] | None = None) -> list[Entry]:
    """What the page of ``folder`` shows: one entry per sidecar that names images found there, then, for images
    no sidecar names, one per ``journal`` entry (newest first, as :meth:`Journal.entries
    <kiecore.journal.Journal.entries>` gives them; called only when there are such images) that saved them, then
    one per image left. Each image is in one entry at most. A sidecar that cannot be read counts as none.
    ``OSError`` when ``folder`` cannot be listed."""
    root = Path(folder)
    sidecars, images = _scan(root)
    claimed: set[str] = set()
    entries: list[Entry] = []

    def claim(paths: Iterable[str]) -> tuple[str, ...]:
        found = tuple(dict.fromkeys(path for path in paths if path in images and path not in claimed))
        claimed.update(found)
        return found

    for name in sorted(sidecars):
        try:
            record = sidecar.load(root / name)
        except Exception:  # not a sidecar this kiecore can read: its images are shown from elsewhere
            continue
        base = posixpath.dirname(name)
        files = claim(posixpath.normpath(posixpath.join(base, file.replace(os.sep, "/"))) for file in record.files)
        if files:
            entries.append(
                Entry(
                    images=files,
                    model=record.model,
                    prompt=record.prompt,
                    task_id=record.task_id,
                    at=_aware(record.submitted_at or record.saved_at),
                    parameters=body_parameters(record.request.body if record.request is not None else None),
                )
            )
    if journal is not None and set(images) - claimed:
        resolved = root.resolve()
        for journalled in journal():
            files = claim(_inside(resolved, file) or "" for file in journalled.files)
            if files:
                seconds = journalled.submitted_at if journalled.submitted_at is not None else journalled.created_at
                entries.append(
                    Entry(
                        images=files,
                        model=journalled.model,
                        prompt=journalled.request.prompt,
                        task_id=journalled.task_id,
                        at=_utc(seconds),
                        parameters=request_parameters(journalled.request),
                        source="journal",
                    )
                )
    for path in sorted(set(images) - claimed):
        alone = Entry(images=(path,), model=None, prompt=None, task_id=None, at=_utc(images[path]), source="file")
        entries.append(alone)
    return entries


def _scan(root: Path) -> tuple[list[str], dict[str, float]]:
    """The sidecars and images under ``root`` (:data:`MAX_DEPTH` levels down, no hidden names, no linked
    folders), as POSIX paths relative to it; images with their modification times."""
    sidecars: list[str] = []
    images: dict[str, float] = {}
    pending = [(os.fspath(root), "", 0)]
    while pending:
        directory, prefix, depth = pending.pop()
        try:
            listing = list(os.scandir(directory))
        except OSError:
            if depth == 0:
                raise
            continue
        for item in listing:
            if item.name.startswith("."):  # hidden, and the downloads' own .part files
                continue
            name = prefix + item.name
            try:
                if item.is_dir(follow_symlinks=False):
                    if depth < MAX_DEPTH:
                        pending.append((item.path, name + "/", depth + 1))
                elif not item.is_file():
                    continue
                elif item.name.endswith(SIDECAR_SUFFIX):
                    sidecars.append(name)
                elif os.path.splitext(item.name)[1].lower() in IMAGE_SUFFIXES:
                    images[name] = item.stat().st_mtime
            except OSError:  # gone or unreadable since the listing
                continue
    return sidecars, images


def _inside(root: Path, file: str) -> str | None:
    """``file`` (a journalled path) relative to ``root`` as a POSIX path, or ``None`` when it is not under it."""
    relative = os.path.relpath(os.path.abspath(file), root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep) or os.path.isabs(relative):
        return None
    return relative.replace(os.sep, "/")


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def _aware(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` with a timezone (a sidecar's times are UTC: one written without its offset is taken as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


# -- rendering ------------------------------------------------------------------------------------------------

_STYLE = """
:root{color-scheme:light dark;--bg:#f5f5f2;--card:#fff;--fg:#1c1c1a;--dim:#66665f;--line:#dcdcd6}
@media (prefers-color-scheme:dark){:root{--bg:#161614;--card:#22221f;--fg:#ecece7;--dim:#a3a39b;--line:#3a3a36}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:16px 20px;display:flex;flex-wrap:wrap;gap:8px 24px;align-items:baseline}
h1{font-size:18px;margin:0;overflow-wrap:anywhere}
.summary,.empty{margin:0;color:var(--dim)}
.empty{padding:0 20px}
.filters{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center}
.filters input{width:16em}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:16px;padding:0 20px 24px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden;display:flex;
flex-direction:column}
.thumbs{display:grid;gap:2px;background:var(--line)}
.thumbs.many{grid-template-columns:1fr 1fr}
.thumbs a{display:block}
.thumbs img{display:block;width:100%;aspect-ratio:1/1;object-fit:cover;background:var(--line)}
.meta{padding:8px 10px 10px;display:flex;flex-direction:column;gap:4px}
.meta p{margin:0}
.prompt{white-space:pre-wrap;overflow-wrap:anywhere;max-height:7.2em;overflow:auto}
.prompt.none{color:var(--dim);font-style:italic}
.model{font-weight:600;overflow-wrap:anywhere}
.params{margin:0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:4px}
.params li{border:1px solid var(--line);border-radius:4px;padding:0 5px;font-size:12px;overflow-wrap:anywhere}
.params .k,.task,.source{color:var(--dim)}
.task{font-size:12px;overflow-wrap:anywhere}
"""

_SCRIPT = """
(function () {
  "use strict";
  var filters = document.getElementById("filters");
  var model = document.getElementById("model");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  function apply() {
    var words = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var count = 0;
    cards.forEach(function (card) {
      var prompt = card.querySelector(".prompt:not(.none)");
      var text = prompt ? prompt.textContent.toLowerCase() : "";
      var wanted = !model.value || card.getAttribute("data-model") === model.value;
      var found = words.every(function (word) { return text.indexOf(word) !== -1; });
      card.hidden = !(wanted && found);
      if (wanted && found) { count += 1; }
    });
    shown.textContent = count + " of " + cards.length + " shown";
  }
  Array.prototype.forEach.call(document.querySelectorAll(".thumbs img"), function (img) {
    function mark() { img.setAttribute("data-state", img.naturalWidth > 0 ? "loaded" : "broken"); }
    if (img.complete) { mark(); } else { img.addEventListener("load", mark); img.addEventListener("error", mark); }
  });
  model.addEventListener("change", apply);
  search.addEventListener("input", apply);
  filters.hidden = false;
  apply();
}());
"""


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


#: Nothing may load but the page's folder's images (``file:`` where it is opened from disk), its own style and
#: its own script: an injected script or resource would not run even if some text were not escaped.
_POLICY = (
    f"default-src 'none'; img-src 'self' file:; style-src {_digest(_STYLE)}; script-src {_digest(_SCRIPT)};"
    " base-uri 'none'; form-action 'none'"
)


def render(entries: Iterable[Entry], *, title: str) -> str:
    """The page showing ``entries``, newest first (by :attr:`Entry.at`), titled ``title``, as HTML text."""
    ordered = sorted(entries, key=lambda entry: (entry.at, entry.images), reverse=True)
    images = sum(len(entry.images) for entry in ordered)
    models = collections.Counter(entry.model or _NO_MODEL for entry in ordered)
    options = [f'<option value="" selected>all models ({len(ordered)})</option>']
    for model in sorted(models, key=lambda name: (name == _NO_MODEL, name)):
        label = "no record" if model == _NO_MODEL else model
        options.append(f'<option value="{_attr(model)}">{_text(label)} ({models[model]})</option>')
    summary = f"{images} image{'s' if images != 1 else ''}, newest first"
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR} {_attr(__version__)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{_attr(_POLICY)}">',
        f"<title>{_text(title)} · kie gallery</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_text(title)}</h1>",
        f'<p class="summary">{summary}</p>',
        '<div class="filters" id="filters" hidden>',
        f'<label>model <select id="model">{"".join(options)}</select></label>',
        '<label>prompt <input id="search" type="search" placeholder="words in the prompt"></label>',
        '<span id="shown"></span>',
        "</div>",
        "</header>",
    ]
    body = ['<main id="cards">', *(_card(entry) for entry in ordered), "</main>"]
    if not ordered:
        body.insert(0, '<p class="empty">No images here yet.</p>')
    return "\n".join([*head, *body, f"<script>{_SCRIPT}</script>", "</body>", "</html>", ""])


def _card(entry: Entry) -> str:
    prompt = entry.prompt
    alt = _shorten(prompt, 120) if prompt else posixpath.basename(entry.images[0])
    links = "".join(
        f'<a href="{_src(path)}" target="_blank"><img src="{_src(path)}" loading="lazy" alt="{_attr(alt)}"'
        f' title="{_attr(path)}"></a>'
        for path in entry.images
    )
    many = " many" if len(entry.images) > 1 else ""
    parts = [
        f'<article class="card" data-model="{_attr(entry.model or _NO_MODEL)}">',
        f'<div class="thumbs{many}">{links}</div>',
        '<div class="meta">',
        f'<p class="prompt">{_text(prompt)}</p>' if prompt else '<p class="prompt none">no prompt recorded</p>',
        f'<p class="model">{_text(entry.model or "unknown model")}</p>',
    ]
    if entry.parameters:
        items = "".join(
            f'<li><span class="k">{_text(name)}</span> {_text(value)}</li>' for name, value in entry.parameters
        )
        parts.append(f'<ul class="params">{items}</ul>')
    when = f'<time datetime="{entry.at.astimezone(datetime.UTC).isoformat(timespec="seconds")}">'
    when += f"{entry.at.astimezone():%Y-%m-%d %H:%M:%S}</time>"
    task = f"task <code>{_text(entry.task_id)}</code> · " if entry.task_id else ""
    source = {"sidecar": "", "journal": " · from the journal", "file": " · no record"}[entry.source]
    parts += [f'<p class="task">{task}{when}<span class="source">{source}</span></p>', "</div>", "</article>"]
    return "".join(parts)


def _clean(text: str) -> str:
    """``text`` without what HTML cannot carry: control characters (but tab and newline) and lone surrogates."""
    return "".join(
        "\ufffd" if unicodedata.category(char) in ("Cc", "Cs") and char not in "\t\n" else char for char in text
    )


def _text(text: str | None) -> str:
    return html.escape(_clean(text or ""), quote=True)


def _attr(text: str) -> str:
    return html.escape(_clean(text), quote=True)


def _src(path: str) -> str:
    """A relative POSIX path as an attribute's URL: percent-encoded (the bytes a file name held), then escaped."""
    return html.escape(urllib.parse.quote(path, safe="/", errors="surrogateescape"), quote=True)


def _shorten(text: str, length: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


# -- writing --------------------------------------------------------------------------------------------------


def is_ours(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a page kiecore wrote (its ``<meta name="generator">`` says so); ``False``
    for anything unreadable."""
    try:
        with open(path, "rb") as page:
            head = page.read(_HEAD_BYTES)
    except OSError:
        return False
    return _MARK.encode("ascii") in head


def check(folder: str | os.PathLike[str], *, hint: str = "") -> Path:
    """``folder``'s page path, once it is sure a page may be written there: no ``index.html``, or one kiecore
    wrote; else :class:`~kiecore.errors.ForeignPageError`, its message ending with ``hint``."""
    path = Path(folder) / INDEX
    if os.path.lexists(path) and not is_ours(path):
        raise ForeignPageError(path, hint)
    return path


def write(
    folder: str | os.PathLike[str],
    *,
    journal: Callable[[], Iterable[JournalEntry]] | None = None,
    force: bool = False,
    hint: str = "",
) -> Gallery:
    """Gather (:func:`gather`), render and write ``folder``'s page atomically, with the mode of any file the user
    makes; ``force`` replaces an ``index.html`` kiecore did not write (else :func:`check` refuses, with ``hint``).
    :class:`~kiecore.errors.UsageError` when ``folder`` is not a folder,
    :class:`~kiecore.errors.LocalWriteError` when the page cannot be written."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder" if root.exists() else f"{root}: no such folder")
    path = root / INDEX if force else check(root, hint=hint)
    try:
        entries = gather(root, journal)
    except OSError as error:
        raise UsageError(f"cannot read the folder {root}: {error.strerror or error}") from None
    title = root.resolve().name or str(root.resolve())
    write_file(path, render(entries, title=title).encode("utf-8"))
    return Gallery(path=path, entries=len(entries), images=sum(len(entry.images) for entry in entries))
