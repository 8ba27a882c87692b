"""The ``kie`` command. This module imports only the standard library's argparse: each command imports
what it needs when it runs, so ``kie --help`` loads no plugin and no HTTP library.

Exit codes: 0 success; 2 usage or invalid parameters (nothing sent); 3 authentication or credits refused;
4 the task failed at Kie; 5 timed out; 1 anything else; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

PROFILES = ("live", "reference")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kie",
        description="Generate images with Kie.ai's models. The API key comes from KIE_API_KEY.",
        epilog="Try it without a key: kie generate nano-banana-pro 'a red fox' --emulator",
    )
    parser.add_argument("--debug", action="store_true", help="log HTTP requests (key redacted) and show tracebacks")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument(
        "--journal",
        metavar="PATH",
        help="the task journal (default $KIECORE_JOURNAL or kiecore/journal.sqlite3 in your user data directory)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    models = commands.add_parser("models", help="list installed models and their parameters")
    models.add_argument("model", nargs="?", metavar="MODEL", help="show one model's parameters")
    models.add_argument("--json", action="store_true", help="print JSON")

    generate = commands.add_parser("generate", help="generate images and save them")
    generate.add_argument("model", metavar="MODEL", help="model id or alias (see `kie models`)")
    generate.add_argument("prompt", metavar="PROMPT")
    generate.add_argument("--aspect-ratio", metavar="R", help="e.g. 16:9")
    generate.add_argument("-n", "--num-images", type=int, metavar="N")
    generate.add_argument("--output-format", metavar="F", help="e.g. png, jpeg")
    generate.add_argument("--resolution", metavar="R", help="e.g. 1K, 2K, 4K")
    generate.add_argument("--seed", type=int, metavar="S")
    generate.add_argument("--negative-prompt", metavar="T")
    generate.add_argument("--image", action="append", default=[], metavar="URL", help="input/reference image URL")
    generate.add_argument("--callback-url", metavar="URL", help="ask Kie to POST the result to this URL")
    generate.add_argument(
        "-p",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model-specific parameter under the live docs' name, e.g. -p isEnhance=true",
    )
    generate.add_argument("-o", "--output-dir", default=".", metavar="DIR", help="where to save images (default .)")
    generate.add_argument("--timeout", type=float, metavar="SECONDS", help="overall deadline for the generation")
    generate.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="wait between the first status queries (default 2)",
    )
    generate.add_argument("--no-download", action="store_true", help="print result URLs instead of saving files")
    _add_connection_options(generate)
    generate.add_argument("--emulator", action="store_true", help="use a built-in emulator instead of api.kie.ai")
    generate.add_argument("--json", action="store_true", help="print one JSON object")

    status = commands.add_parser("status", help="show a task's state and results")
    status.add_argument("model", metavar="MODEL")
    status.add_argument("task_id", metavar="TASK_ID")
    _add_connection_options(status)
    status.add_argument("--json", action="store_true", help="print JSON")

    tasks = commands.add_parser("tasks", help="list the tasks in the journal")
    tasks.add_argument("--all", action="store_true", help="every task, not only the latest 50")
    tasks.add_argument("--json", action="store_true", help="print JSON")

    resume = commands.add_parser("resume", help="finish every journalled task not yet downloaded (never resubmits)")
    resume.add_argument("-o", "--output-dir", metavar="DIR", help="save here instead of where each task was started")
    resume.add_argument("--timeout", type=float, metavar="SECONDS", help="overall deadline per task")
    resume.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="wait between the first status queries (default 2)",
    )
    resume.add_argument("--json", action="store_true", help="print one JSON object per finished task")

    abandon = commands.add_parser("abandon", help="give up on journalled tasks: no longer announced or resumed")
    abandon.add_argument("ids", nargs="+", metavar="ID", help="a journal entry id or a task id (see `kie tasks`)")

    emulator = commands.add_parser("emulator", help="run the Kie API emulator in the foreground")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8787)
    emulator.add_argument("--task-seconds", type=float, default=2.0, metavar="S", help="how long each task runs")
    emulator.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:ON[:TIMES]]",
        help="inject a fault, e.g. rate_limit:submit:2 (see docs/emulator.md)",
    )

    demo = commands.add_parser("demo", help="one image per installed model, on the built-in emulator")
    demo.add_argument("output_dir", nargs="?", default="out", metavar="OUT", help="where to save them (default out)")
    return parser


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="live", help="wire shapes to speak (default live)")
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
    """Run ``kie``; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.debug:
        _log_debug()
    module = importlib.import_module(f"kiecore.cli.{args.command}_command")
    try:
        code: int = module.run(args)
        return code
    except KeyboardInterrupt:
        print("kie: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away, e.g. `kie models | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        return _report(error, args.debug)


def _report(error: Exception, debug: bool) -> int:
    from kiecore.cli.output import printable
    from kiecore.errors import KieError
    from kiecore.redaction import redact

    key = (os.environ.get("KIE_API_KEY") or "").strip() or None
    if debug:
        import traceback

        sys.stderr.write(redact(traceback.format_exc(), key))
    message = printable(redact(str(error), key))
    if isinstance(error, KieError):
        print(f"kie: error: {message}", file=sys.stderr)
        return error.exit_code
    print(f"kie: internal error: {type(error).__name__}: {message} (run with --debug for details)", file=sys.stderr)
    return 1


def _log_debug() -> None:
    """Log HTTP requests on stderr; no form of the API key ever reaches a line."""
    import logging

    from kiecore.redaction import RedactingFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(RedactingFilter((os.environ.get("KIE_API_KEY") or "").strip() or None))
    logging.basicConfig(level=logging.DEBUG, handlers=[handler])
