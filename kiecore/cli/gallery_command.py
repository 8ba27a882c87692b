"""``kie gallery DIR``: write ``DIR/index.html``, a contact sheet of the images in DIR and its subfolders
(:mod:`kiecore.gallery`), from their sidecars, else the journal. Also :class:`Refresher`, what ``--gallery`` on
``kie generate``, ``batch``, ``resume`` and ``download`` uses to keep each output folder's page fresh."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kiecore import gallery
from kiecore.cli.output import print_json, printable
from kiecore.errors import KieError, UsageError
from kiecore.journal import Journal, JournalEntry, JournalError, default_path

#: The end of the refusal to replace an ``index.html`` kiecore did not write, by command.
FORCE_HINT = " (move it aside, or add --force)"
GALLERY_HINT = " (move it aside, or replace it once with `kie gallery {folder} --force`)"  # folder: shell-quoted
#: ``--gallery`` in ``kie batch`` rewrites a page at most this often (seconds), and once at the end.
REFRESH_SECONDS = 1.0

JournalReader = Callable[[], Iterable[JournalEntry]]


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder).expanduser()
    written = gallery.write(folder, journal=journal_reader(args.journal), force=args.force, hint=FORCE_HINT)
    if args.json:
        print_json({"path": str(written.path), "entries": written.entries, "images": written.images})
    else:
        print(written.path)
        plural = "s" if written.images != 1 else ""
        print(f"kie: gallery: {written.images} image{plural} in {written.entries} card(s)", file=sys.stderr)
    if args.open:
        import webbrowser

        if not webbrowser.open(written.path.resolve().as_uri()):
            print(f"kie: no web browser to open it with here; open {written.path} yourself", file=sys.stderr)
    return 0


def wants_gallery(args: argparse.Namespace, folders: Iterable[Path]) -> bool:
    """Whether ``--gallery`` was given, once each of ``folders`` is sure to take a page: refused before anything
    is sent (even in a dry run) when an ``index.html`` kiecore did not write is there, or nothing is saved."""
    if not getattr(args, "gallery", False):
        return False
    if getattr(args, "no_download", False):
        raise UsageError("--gallery shows the images saved: not with --no-download")
    for folder in folders:
        Refresher.check(folder)
    return True


def journal_reader(path_option: str | None) -> JournalReader:
    """The entries of the journal at ``--journal`` (else the default), read when called; none when there is no
    journal (none is created for the question) or it cannot be read (a warning says so)."""

    def read() -> list[JournalEntry]:
        path = Path(path_option).expanduser() if path_option else default_path()
        if not path.is_file():
            return []
        try:
            with Journal(path) as journal:
                return journal.entries()
        except JournalError as error:
            _warn(f"images without a sidecar are shown without their details: {error}")
            return []

    return read


def _warn(message: str) -> None:
    print(f"kie: warning: {printable(message)}", file=sys.stderr, flush=True)


class Refresher:
    """``--gallery``: the page of every folder results were saved in, rewritten at most every ``interval``
    seconds (:meth:`tick`) and at the end (:meth:`flush`). A page that cannot be written is one warning (through
    ``warn``) per folder, and never fails the command. ``journal`` gives the entries for images without a sidecar;
    between flushes its first answer is reused."""

    def __init__(
        self,
        journal: JournalReader | None,
        *,
        interval: float = REFRESH_SECONDS,
        warn: Callable[[str], None] = _warn,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._journal = journal
        self._interval = interval
        self._warn = warn
        self._clock = clock
        self._dirty: dict[Path, None] = {}
        self._warned: set[Path] = set()
        self._written_at: float | None = None
        self._entries: list[JournalEntry] | None = None

    @staticmethod
    def check(folder: Path) -> None:
        """Refuse (:class:`~kiecore.errors.ForeignPageError`) before anything is sent when ``folder`` holds an
        ``index.html`` kiecore did not write."""
        gallery.check(folder, hint=GALLERY_HINT.format(folder=shlex.quote(str(folder))))

    def saved(self, files: Iterable[str | Path]) -> None:
        """Results were saved as ``files``: their folders' pages are due."""
        for file in files:
            self._dirty[Path(file).parent] = None

    def tick(self) -> None:
        """Rewrite the pages due, unless one was written less than ``interval`` seconds ago."""
        if self._dirty and (self._written_at is None or self._clock() - self._written_at >= self._interval):
            self._write(final=False)

    def flush(self) -> None:
        """Rewrite every page due, now, from a fresh read of the journal."""
        if self._dirty:
            self._write(final=True)

    def _write(self, *, final: bool) -> None:
        if final:
            self._entries = None
        due, self._dirty = list(self._dirty), {}
        for folder in due:
            try:
                gallery.write(folder, journal=self._journal_entries if self._journal is not None else None)
            except Exception as error:  # the images are what was paid for: a page never fails the command
                if folder not in self._warned:
                    self._warned.add(folder)
                    why = str(error) if isinstance(error, KieError) else f"{type(error).__name__}: {error}"
                    self._warn(f"the gallery in {folder} is not updated: {why}")
        self._written_at = self._clock()

    def _journal_entries(self) -> list[JournalEntry]:
        if self._entries is None:
            assert self._journal is not None
            try:
                self._entries = list(self._journal())
            except JournalError as error:
                self._warn(f"images without a sidecar are shown without their details: {error}")
                self._entries = []
        return self._entries
