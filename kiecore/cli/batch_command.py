"""``kie batch FILE``: one generation per line, many at once, journalled so that running it again resumes.

Every line is checked before anything is sent. Each item's journal entry carries its *item key*
(:func:`item_key`); before an item is started its newest entry is looked up, so a second run submits nothing
the first one submitted: delivered items are reported from the journal, running ones are finished without a
new create, failed and uncertain ones are reported, and only items never submitted (or refused, or
abandoned) are started.

Results go to stdout as each item finishes (its files, or one JSON object a line with ``--json``); errors
(``kie: line N: ...``), a progress line on a terminal, and the summary go to stderr. The exit code is the most
severe of the items' (:func:`kiecore.cli.worst`), 0 when every line was delivered.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import queue
import shlex
import sys
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from kiecore.cli import describe, destination, dry_run, worst
from kiecore.cli.gallery_command import Refresher, wants_gallery
from kiecore.cli.generate_command import announce_cost, client_for, listen
from kiecore.cli.options import request_fields
from kiecore.cli.output import print_json, printable
from kiecore.cli.progress import BatchProgress
from kiecore.client import Client, PreparedRequest
from kiecore.errors import KieError, MissingAPIKeyError, TaskFailedError, UsageError
from kiecore.hints import connection_options, journal_option
from kiecore.journal import JournalEntry, JournalState
from kiecore.model import COMMON_PARAMETERS, GenerationRequest, GenerationResult, TaskState, TaskStatus
from kiecore.pricing import estimate, image_count
from kiecore.serialization import to_json

#: How many items may wait for their create at once: one create window's worth at the published limits (20 per
#: 10 s). Later items start as earlier ones are created, so the engine's create queue stays one window deep.
QUEUED_CREATES = 20
#: How often the loop wakes (seconds) to start waiting items and give the progress line its counts, besides
#: whenever an item moves on (the line's spinner and clock are redrawn on their own timer).
REFRESH_SECONDS = 1.0
#: The request fields a JSON line may set under ``kie generate``'s option names, besides ``image``/``params``.
REQUEST_FIELDS = (*(field for field in COMMON_PARAMETERS if field != "image_urls"), "callback_url")
JSON_FIELDS = frozenset(
    {"model", *REQUEST_FIELDS, "image", "params", "output_dir", "output_file", "name", "timeout", "no_download"}
)


def item_key(
    line: int,
    model: str,
    request: Mapping[str, Any],
    directory: Path | None,
    profile: str,
    base_url: str,
    part: int | None = None,
) -> str:
    """What names one batch item in the journal: the SHA-256 of the canonical JSON of its line number, resolved
    model id, resolved request fields, output folder (``None`` without downloads), profile and API base URL, and
    which of the line's tasks it is (``part``; ``None`` for a line of one task)."""
    facts = [line, model, request, None if directory is None else str(directory), profile, base_url.rstrip("/")]
    if part is not None:
        facts.append(part)
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@attrs.frozen
class Item:
    """One valid line: what :meth:`Client.start` gets, and its journal ``key``."""

    line: int
    model: str
    fields: Mapping[str, Any]
    output_dir: str
    directory: Path | None  # resolved and writable; None: the URLs are printed instead of saved
    timeout: float | None
    key: str
    prepared: PreparedRequest = attrs.field(eq=False, repr=False)  # what its create sends
    output_file: str | None = None  # its one image's exact path (then ``output_dir`` is that file's folder)
    name: str | None = None  # its name template (None: the default)


@attrs.frozen
class Outcome:
    """How one line ended: delivered (no ``error``), or not (``error`` and its exit ``code``)."""

    line: int
    model: str | None
    task_id: str | None = None
    files: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    error: str | None = None
    code: int = 0

    def json(self) -> dict[str, Any]:
        head: dict[str, Any] = {"line": self.line, "model": self.model, "task_id": self.task_id}
        if self.error is None:
            return {**head, "files": list(self.files), "urls": list(self.urls)}
        return {**head, "error": self.error, "exit_code": self.code}


def run(args: argparse.Namespace) -> int:
    lines = read_lines(args.file)
    defaults = request_fields(args)  # a malformed -p is the whole command's error
    with contextlib.ExitStack() as stack:
        if args.dry_run:
            client = stack.enter_context(dry_run.dry_client(args))
        else:
            client = stack.enter_context(client_for(args, stack))
            listen(args, client, stack)
        if args.model is not None:
            client.model(args.model)  # an unknown --model is the whole command's error, not every line's
        items: list[Item] = []
        bad: list[Outcome] = []
        files: dict[str, int] = {}  # each line's own output file: two lines may not share one
        for number, text in lines:
            try:
                parts = prepare_items(client, args, defaults, number, text)
                output_file = parts[0].output_file
                if output_file is not None:
                    target = os.path.abspath(os.path.expanduser(output_file))
                    if target in files:
                        raise UsageError(f'"output_file" {output_file} is line {files[target]}\'s too')
                    files[target] = number
                items.extend(parts)
            except KieError as error:
                code, message = describe(error, debug=args.debug)
                print(f"kie: line {number}: {message}", file=sys.stderr)
                bad.append(Outcome(number, _model_named(args, text), error=message, code=code))
        if bad and not args.skip_invalid:
            some = "a bad line" if len(bad) == 1 else f"{len(bad)} bad lines"
            them = "it" if len(bad) == 1 else "them"
            print(f"kie: batch: {some}; nothing was sent (fix {them}, or add --skip-invalid)", file=sys.stderr)
            return 2
        folders = dict.fromkeys(_folder(item, args.dry_run) for item in items)
        gallery = wants_gallery(args, [folder for folder in folders if folder is not None])
        if args.dry_run:
            dry_run.show_many(args, client, [(item.line, item.prepared) for item in items], len(bad))
            return worst(outcome.code for outcome in bad)
        return _Batch(args, client, len(items) + len(bad), gallery=gallery).run(items, bad)


def _folder(item: Item, dry_run: bool) -> Path | None:
    """Where ``item`` saves its images (``None``: nowhere); a dry run, which creates no folder, names it."""
    if dry_run:
        return destination.directory({"output_dir": item.output_dir, "output_file": item.output_file})
    return item.directory


def read_lines(name: str) -> list[tuple[int, str]]:
    """The item lines of file ``name`` (``-``: standard input), numbered from 1 and stripped; blank lines and
    comments (``#`` first) left out. :class:`UsageError` if it cannot be read."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UsageError(f"cannot read {name}: {reason}") from None
    numbered = ((number, line.strip()) for number, line in enumerate(text.splitlines(), start=1))
    return [(number, line) for number, line in numbered if line and not line.startswith("#")]


def prepare_items(
    client: Client, args: argparse.Namespace, defaults: Mapping[str, Any], number: int, text: str
) -> list[Item]:
    """Line ``number`` as the items of its tasks: one, unless it asks for more images than one task of its model
    makes (then one per task, :meth:`Client.task_requests`), each validated as :meth:`Client.start` would,
    without sending anything; :class:`KieError` (a :class:`UsageError`, mostly) says what is wrong with it."""
    given = _line_fields(text)
    model = given.get("model", args.model)
    if model is None:
        raise UsageError('no model: give --model, or "model" in a JSON line')
    _check_type(model, str, "model", "a string")
    wanted = given.get("num_images", defaults.get("num_images"))
    if isinstance(wanted, bool) or not isinstance(wanted, int):
        return [prepare_item(client, args, defaults, number, text)]
    parts = client.task_requests(model, GenerationRequest(num_images=wanted))
    if len(parts) == 1:
        return [prepare_item(client, args, defaults, number, text)]
    if "output_file" in given:
        raise UsageError(f'"output_file" saves one image, and {wanted} images take {len(parts)} tasks of {model}')
    counts = [part.num_images for part in parts]
    return [
        prepare_item(client, args, {**defaults, "num_images": count}, number, text, part=index, images=count)
        for index, count in enumerate(counts)
    ]


def prepare_item(
    client: Client,
    args: argparse.Namespace,
    defaults: Mapping[str, Any],
    number: int,
    text: str,
    *,
    part: int | None = None,
    images: int | None = None,
) -> Item:
    """Line ``number`` validated as :meth:`Client.start` would (parameters, timeout, output folder), without
    sending anything; :class:`KieError` (a :class:`UsageError`, mostly) says what is wrong with it. ``part``
    (of :func:`prepare_items`) is which of the line's tasks this is, asking for ``images`` (``None``: no count)."""
    given = _line_fields(text)
    model = given.pop("model", args.model)
    if model is None:
        raise UsageError('no model: give --model, or "model" in a JSON line')
    _check_type(model, str, "model", "a string")
    fields = dict(defaults)
    fields.update({name: given[name] for name in REQUEST_FIELDS if name in given})
    if part is not None:
        fields["num_images"] = images
    if "image" in given:
        fields["image_urls"] = _urls(given["image"])
    if "params" in given:
        _check_type(given["params"], dict, "params", "an object")
        fields["extra"] = {**defaults.get("extra", {}), **given["params"]}
    output_dir = destination.folder(
        given.get("output_dir", args.output_dir), option='"output_dir"' if "output_dir" in given else "-o"
    )
    output_file = given.get("output_file")
    if output_file is not None:
        _check_type(output_file, str, "output_file", "a string")
        if "output_dir" in given:
            raise UsageError('give "output_dir" or "output_file", not both: "output_file" names its folder too')
    name = given.get("name") if output_file is not None else given.get("name", args.name)
    if name is not None:
        _check_type(name, str, "name", "a --name template")
    timeout = given.get("timeout", args.timeout)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise UsageError(f'"timeout" must be a number of seconds, not {timeout!r}')
    no_download = given.get("no_download", args.no_download)
    _check_type(no_download, bool, "no_download", "true or false")
    prepared = client.prepare(model, **fields)
    model_id = prepared.model.spec.id
    client.timeout_for(model_id, timeout)  # the check Client.start makes
    where = {"output_dir": output_dir, "output_file": output_file, "name": name}
    directory = None
    if getattr(args, "dry_run", False):  # a dry run creates no folder; its items are only shown, so their keys
        destination.check_naming(prepared, where, download=not no_download)  # do not matter
    elif not no_download:
        count = image_count(prepared.model.spec, prepared.profile, prepared.params)
        directory, _naming = client._destination(output_dir, output_file, name, count=count)  # as Client.start
    request = to_json(prepared.request)
    key = item_key(number, model_id, request, directory, prepared.profile.value, client.base_url, part)
    return Item(number, model_id, fields, output_dir, directory, timeout, key, prepared, output_file, name)


def _line_fields(text: str) -> dict[str, Any]:
    """A line's own fields: a JSON object's (``null`` ones left out), or ``{"prompt": text}``."""
    if not text.startswith("{"):
        return {"prompt": text}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"not a valid JSON object: {error.msg} at column {error.colno}") from None
    if not isinstance(value, dict):
        raise UsageError("not a JSON object")
    unknown = sorted(set(value) - JSON_FIELDS)
    if unknown:
        raise UsageError(f"unknown field {unknown[0]!r}; a line may give {', '.join(sorted(JSON_FIELDS))}")
    return {name: field for name, field in value.items() if field is not None}


def _urls(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(url, str) for url in value):
        return tuple(value)
    raise UsageError(f'"image" must be a URL or file path, or a list of them, not {value!r}')


def _check_type(value: Any, kind: type, name: str, what: str) -> None:
    if not isinstance(value, kind):
        raise UsageError(f'"{name}" must be {what}, not {value!r}')


def _model_named(args: argparse.Namespace, text: str) -> str | None:
    """The model a line names, for reporting a line that could not be prepared."""
    with contextlib.suppress(ValueError):
        value = json.loads(text) if text.startswith("{") else None
        if isinstance(value, dict) and isinstance(value.get("model"), str):
            return str(value["model"])
    return args.model if isinstance(args.model, str) else None


class _Batch:
    """Runs the valid items of one batch and reports each as it ends. Everything it prints is printed by the
    thread that calls :meth:`run`; the engine's threads only post events."""

    def __init__(self, args: argparse.Namespace, client: Client, total: int, *, gallery: bool = False) -> None:
        self.args = args
        self.client = client
        self.total = total
        journal = client.journal.entries if client.journal is not None else None
        self.pages = Refresher(journal, warn=self._warn) if gallery else None  # --gallery
        self.outcomes: list[Outcome] = []
        self.skipped = 0
        # (item, None): its create was answered; (item, future): it is over
        self.events: queue.SimpleQueue[tuple[Item, Future[Any] | None]] = queue.SimpleQueue()
        self.futures: dict[Future[Any], Item] = {}
        self.awaiting_create: set[int] = set()  # lines whose create has not been answered yet
        self.known_tasks: dict[int, str | None] = {}  # lines an earlier run submitted: their task ids
        self.progress = BatchProgress(sys.stderr)

    def run(self, items: list[Item], skipped: list[Outcome]) -> int:
        """Run ``items`` (the ``skipped`` lines are reported as such); returns the batch's exit code."""
        try:
            return self._run_items(items, skipped)
        finally:
            self.progress.close()  # whatever ends the run, the line is blanked and its timer stopped
            if self.pages is not None:
                self.pages.flush()  # once at the end, whatever ended it

    def _run_items(self, items: list[Item], skipped: list[Outcome]) -> int:
        for outcome in skipped:
            self.skipped += 1
            self._report(outcome, announce=False)
        try:
            to_start = self._plan(items)
            if to_start and self.progress.tty and not self.args.emulator:
                self._announce_cost(to_start)
            self._run(to_start)
        except KeyboardInterrupt:
            for future in self.futures:
                future.cancel()
            self.progress.close()
            if self.args.emulator:
                print("kie: interrupted; --emulator keeps no journal: its tasks are gone", file=sys.stderr)
            else:
                if self.args.file == "-":
                    again = "the same `kie batch -` command with the same input"
                else:
                    again = f"`kie batch {shlex.quote(self.args.file)}` again (same options)"
                print(f"kie: interrupted; the submitted tasks are in the journal: {again} resumes", file=sys.stderr)
            return 130
        self.progress.close()
        delivered = sum(1 for outcome in self.outcomes if outcome.error is None)
        failed = len(self.outcomes) - delivered - self.skipped
        print(
            f"kie: batch: {delivered} delivered, {failed} failed, {self.skipped} skipped (of {self.total})",
            file=sys.stderr,
        )
        return worst(outcome.code for outcome in self.outcomes)

    def _announce_cost(self, to_start: list[Item]) -> None:
        """The estimated cost of the items about to be submitted, when every one of them has a price."""
        costs = [estimate(item.prepared) for item in to_start]
        known = [cost for cost in costs if cost is not None]
        if len(known) == len(costs):
            self.progress.clear()
            count = f"{len(to_start)} item{'s' if len(to_start) != 1 else ''} to submit"
            announce_cost(sum(known, Decimal(0)), f"batch: {count}, estimated cost")

    # -- what each item needs ----------------------------------------------------------------------------

    def _plan(self, items: list[Item]) -> list[Item]:
        """Report what the journal already settled and start what only needs finishing; returns the items that
        need a create, in order."""
        journal = self.client.journal
        to_start: list[Item] = []
        to_finish: list[tuple[Item, JournalEntry]] = []
        settled: list[tuple[Item, JournalEntry]] = []
        for item in items:
            entry = journal.find_item(item.key) if journal is not None else None
            if entry is None or entry.state in (JournalState.REFUSED, JournalState.ABANDONED):
                to_start.append(item)
            elif entry.state in (JournalState.SUBMITTED, JournalState.SUCCEEDED):
                to_finish.append((item, entry))
            else:  # downloaded, failed, or a submit that may or may not have created a task
                settled.append((item, entry))
        if (to_start or to_finish) and not self.client.api_key:
            raise MissingAPIKeyError()
        if journal is not None and to_start:
            journal.check()  # a journal that cannot record the submits: nothing is sent
        for item, entry in settled:
            self._report(_known_outcome(item, entry, self.args.journal))
        for item, entry in to_finish:
            self.known_tasks[item.line] = entry.task_id
            self._launch(item, functools.partial(self._finish, item, entry))
        return to_start

    def _finish(self, item: Item, entry: JournalEntry) -> Future[Any]:
        """Finish a task an earlier run submitted, without a new create: saved into the item's folder, or
        (without downloads) only waited for."""
        if item.directory is None:
            assert entry.handle is not None
            return self.client.start_wait(entry.handle, item.timeout, None, on_retry=self.progress.retry)
        return self.client.start_resume(entry, item.directory, item.timeout, None, on_retry=self.progress.retry)

    def _start(self, item: Item) -> Future[GenerationResult]:
        def submitted(_handle: object) -> None:
            self.events.put((item, None))

        self.awaiting_create.add(item.line)
        return self.client.start(
            item.model,
            output_dir=item.output_dir,
            output_file=item.output_file,
            name=item.name,
            timeout=item.timeout,
            download=item.directory is not None,
            on_submit=submitted,
            on_retry=self.progress.retry,
            item_key=item.key,
            **item.fields,
        )

    # -- the loop ----------------------------------------------------------------------------------------

    def _run(self, to_start: list[Item]) -> None:
        pending = deque(to_start)
        while pending or self.futures:
            while pending and len(self.awaiting_create) < QUEUED_CREATES:
                item = pending.popleft()
                self._launch(item, functools.partial(self._start, item))
            self.progress.show(self._counts())
            if self.pages is not None:
                self.pages.tick()
            try:
                item, future = self.events.get(timeout=REFRESH_SECONDS)
            except queue.Empty:
                continue
            self.awaiting_create.discard(item.line)
            if future is None:
                continue
            del self.futures[future]
            self.progress.finished()
            known = self.known_tasks.get(item.line)
            self._report(_future_outcome(item, future, known, debug=self.args.debug))

    def _launch(self, item: Item, begin: Callable[[], Future[Any]]) -> None:
        try:
            future = begin()
        except KieError as error:  # checked already; e.g. a journal entry another process is finishing
            self.awaiting_create.discard(item.line)
            code, message = describe(error, debug=self.args.debug)
            self._report(Outcome(item.line, item.model, error=message, code=code))
            return
        self.futures[future] = item
        future.add_done_callback(lambda done: self.events.put((item, done)))

    def _warn(self, message: str) -> None:
        self.progress.clear()
        print(f"kie: warning: {printable(message)}", file=sys.stderr, flush=True)

    def _counts(self) -> tuple[int, int, int, int]:
        delivered = sum(1 for outcome in self.outcomes if outcome.error is None)
        failed = len(self.outcomes) - delivered - self.skipped
        return delivered, failed, len(self.futures), self.total - self.skipped

    # -- reporting ---------------------------------------------------------------------------------------

    def _report(self, outcome: Outcome, *, announce: bool = True) -> None:
        """Print how an item ended: its files (or URLs), or its JSON object, on stdout; its error on stderr
        (``announce=False``: already said)."""
        self.outcomes.append(outcome)
        if self.pages is not None:
            self.pages.saved(outcome.files)
        self.progress.clear()
        if outcome.error is not None and announce:
            print(f"kie: line {outcome.line}: {outcome.error}", file=sys.stderr, flush=True)
        if self.args.json:
            print_json(outcome.json())
        elif outcome.error is None:
            for line in outcome.files or outcome.urls:
                print(line, flush=True)
        self.progress.show(self._counts())


def _known_outcome(item: Item, entry: JournalEntry, journal: str | None = None) -> Outcome:
    """What the journal says of an item an earlier run submitted and that is not running; ``journal``: the
    ``--journal`` given, for the hints."""
    known = Outcome(item.line, item.model, task_id=entry.task_id, urls=entry.urls)
    if entry.state is JournalState.DOWNLOADED:
        return attrs.evolve(known, files=entry.files)
    if entry.state is JournalState.FAILED and entry.handle is not None:
        status = TaskStatus(state=TaskState.FAILED, fail_code=entry.fail_code, fail_message=entry.fail_message)
        failure = TaskFailedError(entry.handle, status)
        return attrs.evolve(known, error=printable(f"{failure}; not resubmitted"), code=failure.exit_code)
    why = printable(entry.error or "its submit did not finish")
    if entry.task_id is not None:
        options = connection_options(entry.base_url, entry.profile)
        hint = f"check it with `kie status {entry.model} {entry.task_id}{options}`"
    else:
        hint = f"check your Kie task history, then `kie abandon {entry.id}{journal_option(journal)}` to submit it again"
    message = f"a {entry.model} task may or may not have been created at Kie ({why}); not resubmitted: {hint}"
    return attrs.evolve(known, error=message, code=1)


def _future_outcome(item: Item, future: Future[Any], task_id: str | None, *, debug: bool) -> Outcome:
    """How an item the engine ran ended; ``task_id``: its task, if an earlier run submitted it."""
    try:
        value = future.result()
    except Exception as error:
        code, message = describe(error, debug=debug)
        task_id = getattr(getattr(error, "handle", None), "task_id", task_id)
        return Outcome(item.line, item.model, task_id=task_id, error=message, code=code)
    if isinstance(value, GenerationResult):
        files = tuple(str(path) for path in value.files)
        return Outcome(item.line, item.model, value.handle.task_id, files=files, urls=value.status.urls)
    status: TaskStatus = value  # only waited for (no downloads): the URLs are the result
    return Outcome(item.line, item.model, task_id, urls=status.urls)
