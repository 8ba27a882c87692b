"""The ``kie`` command. This module imports only the standard library's argparse: each command imports
what it needs when it runs, so ``kie --help`` loads no plugin and no HTTP library.

The exit codes and their meanings are :data:`EXIT_CODES` (docs/cli.md's table says the same, checked by a
test). ``kie batch`` and ``kie resume`` exit with the most severe of their items' codes (:func:`worst`, by
:data:`SEVERITY`). An error is one line on stderr, never a traceback (unless
``--debug``); with ``--json`` it is also one JSON object on stdout (:func:`kiecore.cli.output.error_json`),
argparse's own usage errors included. ``--debug`` and ``--journal`` work before or after the command.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from typing import NoReturn

PROFILES = ("live", "reference")

#: Every exit code of ``kie`` and what it means: the one list (``--json`` errors carry the meaning).
EXIT_CODES = {
    0: "success",
    1: "anything else (network, server, protocol, a submit whose outcome is unknown)",
    2: "usage or invalid parameters: nothing was sent",
    3: "the key, its usage cap or the credits refused the request",
    4: "the task failed at Kie",
    5: "timed out",
    130: "interrupted",
}

#: Exit codes from the most severe down: a command of many items exits with the first one any item had (0: all
#: delivered). 130 interrupted; 3 key or credits refused (nothing else can work); 1 anything else, e.g. a submit
#: that may or may not have created a task (a person must look); 4 a task failed at Kie; 5 timed out (running
#: the command again finishes it); 2 an item refused before anything was sent for it.
SEVERITY = (130, 3, 1, 4, 5, 2)


def worst(codes: Iterable[int]) -> int:
    """The most severe of ``codes`` by :data:`SEVERITY` (a code it does not list counts as 1); 0 for none."""
    found = {code if code in SEVERITY else 1 for code in codes if code != 0}
    return next((code for code in SEVERITY if code in found), 0)


#: Whether the command line being parsed asked for ``--json`` (so a usage error is also printed as JSON).
_JSON_ERRORS: contextvars.ContextVar[bool] = contextvars.ContextVar("kie_json_errors", default=False)

BATCH_DESCRIPTION = """\
Run one generation per line of FILE, many at once within Kie's rate limits.

A line is a prompt (for --model), or a JSON object with "model", "prompt" and any of
aspect_ratio, num_images, output_format, resolution, seed, negative_prompt, image (a URL or
file path, or a list), callback_url, params (an object of model-specific parameters), output_dir,
output_file (its one image's exact path), name (a --name template), timeout,
no_download. The command-line options are every line's defaults; a line's own fields override
them (its params are added to the -p ones). Blank lines and lines starting with # are skipped.
Every line is checked before anything is sent: with a bad line nothing is sent (exit 2),
unless --skip-invalid."""

BATCH_EPILOG = """\
Every item is journalled under a key made of its line number, model, request, output folder,
profile and API host, so running the same command again after an interruption or a crash
submits nothing twice: delivered items are reported, running ones are finished, failed ones
are reported (not resubmitted), uncertain submits are reported for you to check. With
--emulator there is no journal: running again starts over.

Exit code: 0 when every line was delivered, else the most severe among the items, in this
order: 130 interrupted, 3 key or credits refused, 1 other error (e.g. a submit that may or may
not have created a task), 4 a task failed at Kie, 5 timed out (run again to finish), 2 a bad
line skipped."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are also printed as a JSON object on stdout with ``--json``."""

    def error(self, message: str) -> NoReturn:
        if _JSON_ERRORS.get():
            from kiecore.cli.output import error_json, print_json
            from kiecore.errors import UsageError

            print_json(error_json(UsageError(message), 2, f"{self.prog}: {message}"))
        super().error(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kie",
        description="Generate images with Kie.ai's models. The API key comes from KIE_API_KEY.",
        epilog="Try it without a key: kie generate nano-banana-pro 'a red fox' --emulator",
    )
    _add_global_options(parser, default=None)
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    models = commands.add_parser("models", help="list installed models and their parameters")
    models.add_argument("model", nargs="?", metavar="MODEL", help="show one model's parameters")
    models.add_argument("--json", action="store_true", help="print JSON")

    generate = commands.add_parser("generate", help="generate images and save them")
    generate.add_argument("model", metavar="MODEL", help="model id or alias (see `kie models`)")
    generate.add_argument(
        "prompt",
        metavar="PROMPT",
        nargs="?",
        help="what to draw; - reads it from standard input; none for a model that takes no prompt (an upscaler)",
    )
    _add_generation_options(generate, json_help="print one JSON object")
    generate.add_argument(
        "-O",
        "--output-file",
        metavar="FILE",
        help="save the one image as FILE exactly (its extension added when FILE has none); not with -n 2 or more",
    )

    batch = commands.add_parser(
        "batch",
        help="run many generations from a file, one a line; running it again resumes",
        description=BATCH_DESCRIPTION,
        epilog=BATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("file", metavar="FILE", help="one prompt or JSON object a line; - reads standard input")
    batch.add_argument("--model", metavar="MODEL", help="the model of prompt lines (a JSON line may name its own)")
    batch.add_argument(
        "--skip-invalid", action="store_true", help="report bad lines and run the others (default: run none)"
    )
    _add_generation_options(batch, json_help="print one JSON object a line as each item finishes")

    status = commands.add_parser("status", help="show a task's state and results")
    status.add_argument("model", metavar="MODEL")
    status.add_argument("task_id", metavar="TASK_ID")
    _add_connection_options(status, profile_default=None)
    status.add_argument("--json", action="store_true", help="print JSON")

    download = commands.add_parser(
        "download", help="save the results of a task made elsewhere (e.g. in Kie's web UI): one query, then files"
    )
    download.add_argument("model", metavar="MODEL")
    download.add_argument("task_id", metavar="TASK_ID")
    _add_destination_options(download)
    download.add_argument(
        "-O", "--output-file", metavar="FILE", help="save its one image as FILE exactly (extension added if none)"
    )
    download.add_argument("--timeout", type=float, metavar="SECONDS", help="deadline for the downloads")
    _add_gallery_option(download)
    _add_connection_options(download, profile_default=None)
    download.add_argument("--json", action="store_true", help="print one JSON object")

    credits = commands.add_parser("credits", help="show the account's remaining Kie credits")
    _add_connection_options(credits)
    credits.add_argument("--json", action="store_true", help="print one JSON object")

    tasks = commands.add_parser("tasks", help="list the tasks in the journal")
    tasks.add_argument("--all", action="store_true", help="every task, not only the latest 50")
    tasks.add_argument("--json", action="store_true", help="print JSON")

    resume = commands.add_parser("resume", help="finish every journalled task not yet downloaded (never resubmits)")
    resume.add_argument(
        "task", nargs="?", metavar="TASK_ID", help="only this task (a task id or journal entry id, see `kie tasks`)"
    )
    resume.add_argument(
        "-o", "--output-dir", metavar="DIR", help="save here instead of where each task was started (recorded)"
    )
    resume.add_argument("--timeout", type=float, metavar="SECONDS", help="overall deadline per task")
    _add_poll_interval(resume)
    _add_gallery_option(resume)
    resume.add_argument("--json", action="store_true", help="print one JSON object per finished task")

    abandon = commands.add_parser("abandon", help="give up on journalled tasks: no longer announced or resumed")
    abandon.add_argument("ids", nargs="+", metavar="ID", help="a journal entry id or a task id (see `kie tasks`)")

    emulator = commands.add_parser("emulator", help="run the Kie API emulator in the foreground")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8787)
    emulator.add_argument("--task-seconds", type=float, default=2.0, metavar="S", help="how long each task runs")
    emulator.add_argument(
        "--time-scale",
        type=float,
        metavar="X",
        help="each task draws its run time: X times its model's typical seconds at the median (default 1)",
    )
    emulator.add_argument(
        "--spread", type=float, metavar="CV", help="run times spread lognormally by this coefficient of variation"
    )
    emulator.add_argument("--seed", type=int, metavar="N", help="seed of the run times drawn (default 0)")
    emulator.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:ON[:TIMES]]",
        help="inject a fault, e.g. rate_limit:submit:2 (see docs/emulator.md)",
    )

    gallery = commands.add_parser(
        "gallery",
        help="write DIR/index.html: a contact sheet of the images in DIR and its subfolders, no server needed",
    )
    gallery.add_argument("folder", metavar="DIR", help="the folder of images (e.g. a -o DIR)")
    gallery.add_argument("--force", action="store_true", help="replace an index.html that kiecore did not write")
    gallery.add_argument("--open", action="store_true", help="open the page in a web browser")
    gallery.add_argument("--json", action="store_true", help="print one JSON object")

    demo = commands.add_parser("demo", help="one image per installed model, on the built-in emulator")
    demo.add_argument("output_dir", nargs="?", default="out", metavar="OUT", help="where to save them (default out)")

    plugin = commands.add_parser("plugin", help="make a model plugin of your own: kie plugin new NAME")
    plugin_commands = plugin.add_subparsers(dest="plugin_command", metavar="COMMAND", required=True)
    plugin_new = plugin_commands.add_parser(
        "new", help="write DIR/kiecore-NAME/, a plugin distribution that passes its own tests as generated"
    )
    plugin_new.add_argument("name", metavar="NAME", help="the model family, e.g. wan: kiecore-wan, kiecore_wan")
    plugin_new.add_argument(
        "--from-openapi",
        metavar="FILE",
        help="declare the model of this OpenAPI document (YAML, JSON, or a Markdown docs page holding one)",
    )
    plugin_new.add_argument("--directory", metavar="DIR", default=".", help="where to write it (default .)")
    _add_global_options(plugin_new, default=argparse.SUPPRESS)

    # last: every command (whoever added it) takes the global options after its name too
    for command in {id(sub): sub for sub in commands.choices.values()}.values():
        _add_global_options(command, default=argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """``--debug`` and ``--journal``: on the top-level parser (``default=None``), and on each command with
    ``default=argparse.SUPPRESS``, so that giving one after the command sets it and not giving it there keeps
    what was given before the command. A command with an option of that name already keeps its own."""
    journal_help = "the task journal (default $KIECORE_JOURNAL or kiecore/journal.sqlite3 in your user data directory)"
    with contextlib.suppress(argparse.ArgumentError):  # the command has its own option of that name
        parser.add_argument(
            "--debug",
            action="store_true",
            default=False if default is None else default,
            help="log HTTP requests (key redacted) and show tracebacks",
        )
    with contextlib.suppress(argparse.ArgumentError):
        parser.add_argument("--journal", metavar="PATH", default=default, help=journal_help)


def _add_poll_interval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="the poll schedule's time scale (default 2: live pacing)",
    )


def _add_generation_options(parser: argparse.ArgumentParser, *, json_help: str) -> None:
    """The options of one generation: ``kie generate``'s, and in ``kie batch`` the defaults of every line."""
    parser.add_argument("--aspect-ratio", metavar="R", help="e.g. 16:9")
    parser.add_argument("-n", "--num-images", type=int, metavar="N")
    parser.add_argument("--output-format", metavar="F", help="e.g. png, jpeg")
    parser.add_argument("--resolution", metavar="R", help="e.g. 1K, 2K, 4K")
    parser.add_argument("--seed", type=int, metavar="S")
    parser.add_argument("--negative-prompt", metavar="T")
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="URL|PATH",
        help="input/reference image: an http(s) URL, or a local file (uploaded first; KIE_UPLOAD_URL); repeatable",
    )
    parser.add_argument("--callback-url", metavar="URL", help="ask Kie to POST the result to this URL")
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="receive those callbacks here (needs KIE_WEBHOOK_HMAC_KEY): each makes the task's status be asked at once",
    )
    parser.add_argument(
        "-p",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model-specific parameter under the live docs' name, e.g. -p isEnhance=true",
    )
    _add_destination_options(parser)
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="overall deadline for the generation")
    _add_poll_interval(parser)
    parser.add_argument("--no-download", action="store_true", help="print result URLs instead of saving files")
    _add_gallery_option(parser)
    _add_connection_options(parser)
    parser.add_argument("--emulator", action="store_true", help="use a built-in emulator instead of api.kie.ai")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, print what would be sent and its estimated cost, and send nothing (no key needed)",
    )
    parser.add_argument("--json", action="store_true", help=json_help)


def _add_gallery_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gallery",
        action="store_true",
        help="write or refresh index.html in the output folder as results are saved (see `kie gallery`)",
    )


def _add_destination_options(parser: argparse.ArgumentParser) -> None:
    """``-o DIR`` and ``--name TEMPLATE``: where results are saved and how they are named."""
    parser.add_argument("-o", "--output-dir", metavar="DIR", help="where to save images (default .)")
    parser.add_argument(
        "--name",
        metavar="TEMPLATE",
        help="name files from {model} {task} {index} {prompt_slug} {date} {time}; must hold {task} (default {task})",
    )


def _add_connection_options(parser: argparse.ArgumentParser, *, profile_default: str | None = "live") -> None:
    """``--profile`` and ``--base-url``; with ``profile_default=None`` a command can tell a profile not given (it
    then takes the journal's, for a task it knows)."""
    default_help = "default live" if profile_default else "default: the journal's for a task it knows, else live"
    parser.add_argument(
        "--profile", choices=PROFILES, default=profile_default, help=f"wire shapes to speak ({default_help})"
    )
    parser.add_argument("--base-url", metavar="URL", help="API base URL (default $KIE_BASE_URL or https://api.kie.ai)")


class _VersionAction(argparse.Action):
    """``--version``: the installed version is read only when asked, so ``kie --help`` reads no metadata."""

    def __init__(self, option_strings: Sequence[str], dest: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        from kiecore.version import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kie``; returns the exit code (a usage error raises ``SystemExit(2)`` and ``--help``
    ``SystemExit(0)``, as argparse does)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    token = _JSON_ERRORS.set(_wants_json(arguments))
    try:
        args = _parser().parse_args(arguments)
    finally:
        _JSON_ERRORS.reset(token)
    if args.debug:
        _log_debug()
    as_json = bool(getattr(args, "json", False))
    module = importlib.import_module(f"kiecore.cli.{args.command}_command")
    try:
        code: int = module.run(args)
        return code
    except KeyboardInterrupt as interrupt:
        print("kie: interrupted", file=sys.stderr)
        if as_json:
            from kiecore.cli.output import error_json, print_json

            print_json(error_json(interrupt, 130, "interrupted"))
        return 130
    except BrokenPipeError:  # the reader went away, e.g. `kie models | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        return report(error, debug=args.debug, as_json=as_json)


def _wants_json(arguments: Sequence[str]) -> bool:
    """Whether a command line asks for ``--json`` (or an abbreviation argparse accepts), before any ``--``."""
    options = arguments[: arguments.index("--")] if "--" in arguments else arguments
    return any(len(option) > 3 and "--json".startswith(option) for option in options)


def report(error: Exception, *, debug: bool = False, as_json: bool = False) -> int:
    """Tell the person running ``kie`` about ``error``: one line on stderr (:func:`describe`), and with
    ``as_json`` one JSON object on stdout too (:func:`kiecore.cli.output.error_json`). Returns the exit code."""
    from kiecore.errors import KieError

    code, message = describe(error, debug=debug)
    print(f"kie: error: {message}" if isinstance(error, KieError) else f"kie: {message}", file=sys.stderr)
    if as_json:
        from kiecore.cli.output import error_json, print_json

        print_json(error_json(error, code, message))
    return code


def describe(error: BaseException, *, debug: bool = False) -> tuple[int, str]:
    """``error``'s exit code and one line for a person: a :class:`~kiecore.errors.KieError`'s message and exit
    code, else ``internal error: <type>: <message> (run with --debug for details)`` and 1. A refused parameter
    is named by the option that gives it (:func:`kiecore.cli.options.option_of`: ``--image``, ``-p NAME``, ...).
    The API key is redacted and control characters escaped; with ``debug``, the traceback goes to stderr
    first."""
    import traceback

    from kiecore.cli.options import option_of
    from kiecore.cli.output import printable
    from kiecore.errors import InvalidParameterError, KieError
    from kiecore.redaction import redact

    key = (os.environ.get("KIE_API_KEY") or "").strip() or None
    if debug:
        sys.stderr.write(redact("".join(traceback.format_exception(error)), key))
    text = str(error)
    if isinstance(error, InvalidParameterError):
        option = option_of(error)
        text = text if option is None else error.renamed(option)
    message = printable(redact(text, key))
    if isinstance(error, KieError):
        return error.exit_code, message
    return 1, f"internal error: {type(error).__name__}: {message} (run with --debug for details)"


def _log_debug() -> None:
    """Log HTTP requests on stderr; no form of the API key ever reaches a line."""
    import logging

    from kiecore.redaction import RedactingFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(RedactingFilter((os.environ.get("KIE_API_KEY") or "").strip() or None))
    logging.basicConfig(level=logging.DEBUG, handlers=[handler])
