"""How a task's result files are named in their folder: one :class:`Naming` for the engine's save step, resume
and download, so that a resume finds what an earlier run saved, and the journal keeps it with the task.

A naming is either a template or one exact file name:

- a template of the fields ``{model}``, ``{task}``, ``{index}``, ``{prompt_slug}``, ``{date}`` and ``{time}``
  (:data:`FIELDS`), without the extension, which is added from each image's own first bytes. It must hold
  ``{task}``, the only field that tells two tasks apart (without it two tasks, and a resume looking for its
  files, could meet the same names). A task with several results whose template has no ``{index}`` gets
  ``_<n>`` appended, so the default, ``{task}``, gives ``<task id>.png`` for one result and
  ``<task id>_1.png``, ``<task id>_2.png`` for several: the names kiecore always gave.
- an exact file name (``-O``, ``output_file=``) for a task that makes one image. A name ending in an image
  extension keeps it even when the image is of another type (the engine says so); without one, the image's
  own extension is added.

Every field is sanitised (no path separator, no control character, no leading dot), and a template is refused
(:class:`~kiecore.errors.UsageError`) when it names an unknown field, holds a path separator or an extension,
or lacks ``{task}``: before anything is sent.
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import string
import time
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from kiecore.errors import UsageError
from kiecore.imagetypes import EXTENSIONS

__all__ = [
    "DEFAULT_TEMPLATE",
    "FIELDS",
    "IMAGE_SUFFIXES",
    "SIDECAR_SUFFIX",
    "Naming",
    "TaskNames",
    "prompt_slug",
]

#: The fields a template may use.
FIELDS = ("model", "task", "index", "prompt_slug", "date", "time")
#: The naming kiecore always used: ``<task id>[_<n>]``.
DEFAULT_TEMPLATE = "{task}"
#: What a task's sidecar file name ends with (:mod:`kiecore.sidecar`).
SIDECAR_SUFFIX = ".kie.json"
#: File name endings that name an image, and the type (one of :data:`~kiecore.imagetypes.EXTENSIONS`) each claims.
IMAGE_SUFFIXES: Mapping[str, str] = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp", ".gif": "gif"}
#: The longest ``{prompt_slug}``, in characters.
SLUG_LENGTH = 40

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_WORD = re.compile(r"[\W_]+")
_SEPARATORS = "_-. "
_FORBIDDEN = frozenset("/\\\0")


def prompt_slug(prompt: str | None) -> str:
    """``prompt`` as a file name part: lower case, runs of anything but letters and digits as one ``-``, at most
    :data:`SLUG_LENGTH` characters (cut at a word's end where it can be); ``untitled`` when nothing is left."""
    text = unicodedata.normalize("NFKC", prompt or "").lower()
    slug = _NOT_WORD.sub("-", text).strip("-")
    if len(slug) > SLUG_LENGTH:
        cut = slug[:SLUG_LENGTH]
        word_end = cut.rfind("-")
        slug = (cut[:word_end] if word_end >= SLUG_LENGTH // 2 else cut).strip("-")
    return slug or "untitled"


def _safe(text: str, fallback: str) -> str:
    """``text`` with anything but ``A-Za-z0-9._-`` as ``_``, no leading or trailing dots: never a path."""
    return _SAFE.sub("_", text).strip("._") or fallback


@functools.lru_cache(maxsize=64)  # every result's name renders it: parse each template once
def _parsed(template: str) -> tuple[tuple[str, str | None], ...]:
    """``template`` as (literal text, field or ``None``) pairs; :class:`UsageError` for a malformed one."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise UsageError(f"--name {template!r}: {error}; write a literal brace as {{{{ or }}}}") from None
    pairs: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parts:
        if field is not None and field not in FIELDS:
            known = ", ".join(f"{{{name}}}" for name in FIELDS)
            raise UsageError(f"--name {template!r}: unknown field {{{field}}}; the fields are {known}")
        if spec or conversion:
            raise UsageError(f"--name {template!r}: {{{field}}} takes no format or conversion")
        pairs.append((literal, field))
    return tuple(pairs)


def _check_template(_instance: object, _attribute: object, template: str) -> None:
    if not isinstance(template, str):
        raise UsageError(f"a name template must be a string, not {template!r}")
    pairs = _parsed(template)
    literal = "".join(text for text, _field in pairs)
    if any(char in _FORBIDDEN or not char.isprintable() for char in literal):
        raise UsageError(
            f"--name {template!r}: a name holds no path separator or control character; choose the folder with -o"
        )
    if template.startswith("."):
        raise UsageError(f"--name {template!r}: a name may not start with a dot (a hidden file)")
    if os.path.splitext(template)[1].lower() in IMAGE_SUFFIXES:
        raise UsageError(f"--name {template!r}: leave the extension out; it is added from each image's own type")
    if "task" not in {field for _text, field in pairs}:
        raise UsageError(
            f"--name {template!r}: two tasks could get the same file names; put {{task}} in it (the task id)"
        )


def _check_file(_instance: object, _attribute: object, name: str | None) -> None:
    if name is None:
        return
    if not isinstance(name, str) or name in ("", ".", "..") or any(char in _FORBIDDEN for char in name):
        raise UsageError(f"an output file name must be a file's name, without a folder, not {name!r}")
    if not name.isprintable():
        raise UsageError(f"the output file name {name!r} holds a control character")


@attrs.frozen
class Naming:
    """How one task's results are named: a ``template`` (default ``{task}``), or one exact ``file`` name (then
    the task must make one image). Frozen; kept in the task's journal entry."""

    template: str = attrs.field(default=DEFAULT_TEMPLATE, validator=_check_template)
    file: str | None = attrs.field(default=None, validator=_check_file)

    def __attrs_post_init__(self) -> None:
        if self.file is not None and self.template != DEFAULT_TEMPLATE:
            raise UsageError("give an output file or a name template, not both")

    @classmethod
    def of(cls, name: str | Naming | None) -> Naming:
        """``name`` as a naming: a template string, a naming as it is, or the default for ``None``."""
        if name is None:
            return cls()
        return name if isinstance(name, Naming) else cls(template=name)

    @property
    def is_default(self) -> bool:
        return self.file is None and self.template == DEFAULT_TEMPLATE

    def check_count(self, count: int | None, *, what: str = "this request") -> None:
        """Refuse an exact file name for a task that may make other than one image (``count``; ``None``:
        unknown)."""
        if self.file is None or count == 1:
            return
        many = "an unknown number of images" if count is None else f"{count} images"
        raise UsageError(
            f"-O (output_file) {self.file} saves one image, and {what} can make {many};"
            " save them in a folder with -o (output_dir), named with --name"
        )

    def occupied(self, directory: Path) -> Path | None:
        """For an exact file name, the file already in ``directory`` under it (under any image extension, for a
        name without one); ``None`` for a template, whose names hold the task id."""
        if self.file is None:
            return None
        return TaskNames(self, 1, {}).existing(directory, 0)

    def for_task(self, *, model: str, task_id: str, prompt: str | None, submitted_at: float, count: int) -> TaskNames:
        """The names of the ``count`` results of one task. ``{date}`` and ``{time}`` are when it was submitted
        (local time; today for a task submitted elsewhere, ``submitted_at`` 0)."""
        moment = datetime.datetime.fromtimestamp(submitted_at if submitted_at > 0 else time.time())
        fields = {
            "model": _safe(model, "model"),
            "task": _safe(task_id, "task"),
            "prompt_slug": prompt_slug(prompt),
            "date": moment.strftime("%Y-%m-%d"),
            "time": moment.strftime("%H%M%S"),
        }
        return TaskNames(self, count, fields)


@attrs.frozen
class TaskNames:
    """The names of one task's results (``count`` of them) in their folder."""

    naming: Naming
    count: int
    fields: Mapping[str, str]

    def name(self, index: int, extension: str) -> str:
        """Result ``index``'s file name for an image of type ``extension``."""
        file = self.naming.file
        if file is not None:
            stem, suffix = _split_image(file)
            if index:
                stem = f"{stem}_{index + 1}"
            return stem + suffix if suffix else f"{stem}.{extension}"
        return f"{self._render(index)}.{extension}"

    def namer(self, index: int) -> Callable[[str], str]:
        """:meth:`name` of result ``index``, by extension: what :meth:`Downloader.fetch
        <kiecore.download.Downloader.fetch>` takes."""
        return lambda extension: self.name(index, extension)

    def claimed_type(self, index: int) -> str | None:
        """The image type an exact file name's extension claims (``"jpg"`` for ``fox.jpeg``); ``None`` for a
        template, whose extension is always the image's own."""
        file = self.naming.file
        if file is None:
            return None
        return IMAGE_SUFFIXES.get(_split_image(file)[1].lower())

    def existing(self, directory: Path, index: int) -> Path | None:
        """Result ``index``'s saved file in ``directory`` under any image extension, if there is one (complete by
        construction: results appear only whole)."""
        for extension in EXTENSIONS:
            candidate = directory / self.name(index, extension)
            if os.path.isfile(candidate):
                return candidate
        return None

    def sidecar(self) -> str:
        """The task's sidecar file name: its names' common stem and :data:`SIDECAR_SUFFIX` (``<task id>.kie.json``,
        ``fox.kie.json`` beside ``fox.png``)."""
        if self.naming.file is not None:
            return _split_image(self.naming.file)[0] + SIDECAR_SUFFIX
        return self._render(None) + SIDECAR_SUFFIX

    def _render(self, index: int | None) -> str:
        """The template filled in for result ``index`` (``None``: for the task as a whole, ``{index}`` and one
        separator beside it left out)."""
        parts: list[str] = []
        trim_next = False
        pairs = _parsed(self.naming.template)
        for literal, field in pairs:
            if trim_next and literal and literal[0] in _SEPARATORS:
                literal = literal[1:]
            trim_next = False
            if field == "index" and index is None:
                if literal and literal[-1] in _SEPARATORS:
                    literal = literal[:-1]
                else:
                    trim_next = True
                parts.append(literal)
                continue
            parts.append(literal)
            if field is not None:
                parts.append(str(index + 1) if field == "index" and index is not None else self.fields[field])
        stem = "".join(parts)
        if index is not None and self.count > 1 and all(field != "index" for _text, field in pairs):
            stem += f"_{index + 1}"
        return stem.strip().lstrip(".").rstrip(". ") or self.fields["task"]


def _split_image(file: str) -> tuple[str, str]:
    """``fox.png`` as (``fox``, ``.png``); a name without an image extension as (itself, ``""``)."""
    stem, suffix = os.path.splitext(file)
    if suffix.lower() in IMAGE_SUFFIXES and stem:
        return stem, suffix
    return file, ""
