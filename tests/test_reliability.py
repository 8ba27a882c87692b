"""Never lose a paid task, never submit one twice, live within the service's limits (issue: reliability)."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiecore.cli import main
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.journal import Journal, JournalState
from kiecore.model import TaskHandle, TaskState
from kiecore.ratelimit import RateLimits
from kiecore.registry import Registry
from kiecore.serialization import from_json, to_json
from kiecore.testing.endtoend import FAST_RETRY
from kiecore.webhooks import handle_callback
from tests.chaos import (
    CASES,
    JOURNAL_CASES,
    FaultCase,
    run_case,
    run_journal_case,
    run_kill_and_resume,
    run_slow_case,
)

KEY = "sk-reliability-key-42"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name.replace(" ", "-"))
def test_every_fault_keeps_the_books(kie_registry: Registry, tmp_path: Path, case: FaultCase) -> None:
    outcome = run_case(kie_registry, "gpt4o-image", case, tmp_path, generations=4, workers=2)
    assert outcome.faults_injected > 0, "the fault never fired: the run proves nothing"
    assert outcome.clean, outcome


def test_killed_processes_are_resumed_without_resubmitting(tmp_path: Path) -> None:
    outcome = run_kill_and_resume("nano-banana-pro", tmp_path, runs=5, seed=7)
    assert outcome.resume_exit == 0
    assert outcome.duplicates == 0 and outcome.lost == 0, outcome
    assert outcome.creates_sent == outcome.tasks_created
    assert outcome.images_delivered == outcome.images_expected


@pytest.fixture
def journalled(kie_client_factory: Any, tmp_path: Path) -> Iterator[tuple[Client, Journal]]:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        yield kie_client_factory(KEY, journal), journal


def test_the_journal_follows_a_task_to_its_files(journalled: tuple[Client, Journal], tmp_path: Path) -> None:
    client, journal = journalled
    result = client.generate("nbp", "a fox", output_dir=tmp_path / "out")
    (entry,) = journal.entries()
    assert entry.state is JournalState.DOWNLOADED and entry.task_id == result.handle.task_id
    assert [Path(f) for f in entry.files] == list(result.files)
    assert KEY.encode() not in (tmp_path / "journal.sqlite3").read_bytes()


def test_a_task_left_waiting_is_resumed_from_the_journal(
    journalled: tuple[Client, Journal], kie_emulator: Emulator, tmp_path: Path
) -> None:
    client, journal = journalled
    handle = client.submit("seedream", prompt="a fox", num_images=2)
    (entry,) = journal.resumable()
    result = client.resume(entry, output_dir=tmp_path / "later")
    assert len(result.files) == 2 and result.handle == handle
    assert journal.get(entry.id).state is JournalState.DOWNLOADED
    assert len(kie_emulator.tasks) == 1


def test_an_embedding_tool_resumes_by_stored_handle(
    journalled: tuple[Client, Journal], kie_emulator: Emulator, kie_registry: Registry, tmp_path: Path
) -> None:
    client, journal = journalled
    stored = json.dumps(to_json(client.submit("nbp", prompt="a fox")))
    with Client(
        api_key=KEY, base_url=kie_emulator.base_url, registry=kie_registry, poll_interval=0.05, rate_limits=None
    ) as plain:
        result = plain.resume(from_json(TaskHandle, json.loads(stored)), output_dir=tmp_path / "a")
    assert len(result.files) == 1
    result = client.resume(from_json(TaskHandle, json.loads(stored)), output_dir=tmp_path / "b")
    assert journal.entries()[0].state is JournalState.DOWNLOADED and len(result.files) == 1
    assert len(kie_emulator.tasks) == 1


@pytest.mark.parametrize("model", ["gpt4o-image", "nano-banana-pro", "flux-kontext-pro"])
def test_expired_result_links_are_refreshed(
    journalled: tuple[Client, Journal], kie_emulator: Emulator, tmp_path: Path, model: str
) -> None:
    client, _ = journalled
    kie_emulator.inject("expire")
    result = client.generate(model, "a fox", output_dir=tmp_path)
    assert result.files and kie_emulator.faults.fired("expire") >= 1
    endpoint = "/api/v1/gpt4o-image/download-url" if model == "gpt4o-image" else "/api/v1/common/download-url"
    assert [r for r in kie_emulator.requests if r.path == endpoint]


def test_a_burst_stays_inside_the_limits(kie_emulator: Emulator, kie_registry: Registry, tmp_path: Path) -> None:
    kie_emulator.enforce_limits = True
    kie_emulator.create_limit = (4, 1.0)
    kie_emulator.status_limit = (8, 1.0)
    limits = RateLimits(creates=(4, 1.0), status=(8, 1.0), task_status=(3, 1.0))

    def burst(rate_limits: RateLimits | None) -> int:
        with Client(
            api_key=KEY,
            base_url=kie_emulator.base_url,
            registry=kie_registry,
            poll_interval=0.05,
            retry=FAST_RETRY,
            rate_limits=rate_limits,
        ) as client:
            threads = [
                threading.Thread(target=client.generate, args=("gpt4o-image", "a fox"), kwargs={"output_dir": tmp_path})
                for _ in range(10)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return kie_emulator.limit_violations

    assert burst(limits) == 0
    assert len([path for path in tmp_path.iterdir() if not path.name.endswith(".kie.json")]) == 10
    assert len(list(tmp_path.glob("*.kie.json"))) == 10  # and a sidecar beside each
    assert burst(None) > 0  # without the limiter the same burst is refused: the check above can fail


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_a_signed_callback_is_verified_and_matches_the_polled_result(
    kie_emulator: Emulator, kie_registry: Registry, tmp_path: Path
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kie_emulator.webhook_hmac_key = "hmac-secret"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/kie"
        with Client(
            api_key=KEY, base_url=kie_emulator.base_url, registry=kie_registry, poll_interval=0.05, rate_limits=None
        ) as client:
            result = client.generate("gpt4o-image", "a fox", callback_url=url, download=False)
        kie_emulator.wait_for_callbacks(1)
        headers, body = _Receiver.received[-1]
        status = handle_callback(kie_registry, "gpt4o-image", headers, body, hmac_key="hmac-secret")
        assert status.state is TaskState.SUCCEEDED and status.urls == result.status.urls
    finally:
        server.shutdown()
        kie_emulator.webhook_hmac_key = None


def test_kie_tasks_and_resume(kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIE_API_KEY", KEY)
    journal = str(tmp_path / "journal.sqlite3")
    kie_emulator.task_seconds = 30
    out = io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(
            [
                "--journal",
                journal,
                "generate",
                "nbp",
                "a fox",
                "--base-url",
                kie_emulator.base_url,
                "--timeout",
                "0.3",
                "--poll-interval",
                "0.05",
                "-o",
                str(tmp_path / "out"),
            ]
        )
    assert code == 5
    with contextlib.redirect_stdout(out):
        assert main(["--journal", journal, "tasks", "--json"]) == 0
    (listed,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert listed["state"] == "submitted" and listed["model"] == "nano-banana-pro"
    kie_emulator.task_seconds = 0.1
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["--journal", journal, "resume", "--poll-interval", "0.05"]) == 0
    (path,) = out.getvalue().split()
    assert Path(path).parent == tmp_path / "out" and Path(path).stat().st_size > 0
    assert sum(1 for r in kie_emulator.requests if r.method == "POST") == 1


OPTION = st.sampled_from(
    [
        "--aspect-ratio",
        "-n",
        "--output-format",
        "--resolution",
        "--seed",
        "--negative-prompt",
        "--image",
        "-p",
        "--timeout",
        "--profile",
        "--callback-url",
    ]
)
VALUE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=st.sampled_from(["nbp", "gpt4o-image", "seedream-v4", "nope"]),
    options=st.lists(st.tuples(OPTION, VALUE), max_size=4),
)
def test_fuzzed_command_lines_fail_cleanly_before_sending(
    model: str, options: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KIE_API_KEY", raising=False)
    argv = ["generate", model, "a fox", *[f"{option}={value}" for option, value in options]]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own usage errors
            code = int(exit_.code or 0)
    assert code == 2, err.getvalue()
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()


@pytest.mark.parametrize("name", list(JOURNAL_CASES))
def test_every_journal_fault_keeps_the_books(kie_registry: Registry, tmp_path: Path, name: str) -> None:
    outcome = run_journal_case(kie_registry, "nano-banana-pro", name, tmp_path, generations=4, workers=2)
    assert outcome.faults_injected > 0, "the fault never fired: the run proves nothing"
    assert outcome.clean, outcome
    # a lock also refuses new submits in other threads, before anything is sent; other faults refuse nothing
    assert outcome.delivered_generations + outcome.refused_reported == 4, outcome
    assert "locked" in name or outcome.delivered_generations == 4, outcome


@pytest.mark.parametrize("on", ["status", "download"])
def test_a_dripping_server_cannot_outlast_the_deadline(kie_registry: Registry, tmp_path: Path, on: str) -> None:
    outcome = run_slow_case(kie_registry, "nano-banana-pro", on, tmp_path, timeout=1.5)
    assert outcome.error in ("DeadlineExceededError", "DownloadError"), outcome
    assert outcome.elapsed < outcome.timeout + 1.0, outcome  # a drip of one byte per 0.5 s ran for minutes before
    assert outcome.delivered_after_resume == outcome.expected == 1, outcome
