"""The client's own decisions, against a scripted transport: which replies mean what, what is sent when."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kiecore.client import Client
from kiecore.errors import APIError, NotFoundError, ParseError, ServerError, SubmitUncertainError
from kiecore.journal import Journal, JournalState
from kiecore.model import TaskHandle, TaskState, TaskStatus
from kiecore.registry import PluginInfo, Registry
from kiecore.testing.scripted import ScriptedTransport
from tests import sample_plugin

CREATE = ("POST", "/api/v1/jobs/createTask")
STATUS = ("GET", "/api/v1/jobs/recordInfo")


def ok(data: Any) -> dict[str, Any]:
    return {"code": 200, "msg": "success", "data": data}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_plugins((sample_plugin.plugin, PluginInfo("sample", "kiecore-sample-plugin", "0")))


def client(registry: Registry, script: Any, **options: Any) -> Client:
    return Client(transport=ScriptedTransport(script), registry=registry, rate_limits=None, **options)


def handle(age: float = 0.0) -> TaskHandle:
    return TaskHandle(model="test/market", task_id="t1", submitted_at=time.time() - age)


@pytest.mark.parametrize("code", [408, 501])
def test_a_status_body_code_that_means_the_task_failed(registry: Registry, code: int) -> None:
    failure = APIError("no result", code=code, http_status=200, kie_message="upstream gave up")
    status = client(registry, {STATUS: [failure]}).status(handle())
    assert (status.state, status.fail_code, status.fail_message) == (TaskState.FAILED, str(code), "upstream gave up")


@pytest.mark.parametrize("code", [500, 422, 505])
def test_other_body_codes_are_errors_not_failed_tasks(registry: Registry, code: int) -> None:
    error = ServerError("boom", code=code) if code == 500 else APIError("no", code=code)
    with pytest.raises(APIError):
        client(registry, {STATUS: [error]}, visibility_grace=0.0).status(handle(60))


def test_not_visible_yet_only_inside_the_grace_window(registry: Registry) -> None:
    missing = NotFoundError("recordInfo is null", code=422)
    kie = client(registry, {STATUS: [missing]}, visibility_grace=5.0)
    assert kie.status(handle(age=1)).state is TaskState.QUEUED
    with pytest.raises(NotFoundError):
        kie.status(handle(age=10))
    kie = client(registry, {STATUS: [ok(None)]}, visibility_grace=5.0)
    assert kie.status(handle(age=1)).state is TaskState.QUEUED
    with pytest.raises(NotFoundError, match="no record"):
        kie.status(handle(age=10))


def test_a_create_reply_without_a_task_id_is_uncertain_and_never_resent(registry: Registry) -> None:
    kie = client(registry, {CREATE: [ok({"id": "nope"})]})
    with pytest.raises(SubmitUncertainError, match="could not be read"):
        kie.submit("test/market", prompt="a fox")
    transport = kie.transport
    assert isinstance(transport, ScriptedTransport) and len(transport.sent(*CREATE)) == 1


def test_a_succeeded_reply_without_urls_is_a_parse_error(registry: Registry) -> None:
    kie = client(registry, {STATUS: [ok({"taskId": "t1", "state": "success", "resultJson": ""})]}, poll_interval=0.01)
    with pytest.raises(ParseError, match="no result URLs"):
        kie.wait(handle(), timeout=5)


def test_resuming_a_succeeded_entry_asks_no_status(registry: Registry, tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        kie = client(registry, {}, journal=journal)
        entry_id = journal.begin_submit(
            model="test/market", profile="live", base_url=kie.base_url, request=sample_request(), output_dir=None
        )
        journal.submitted(entry_id, handle())
        journal.observed(entry_id, TaskStatus(state=TaskState.SUCCEEDED, urls=("https://cdn.example/a.png",)))
        (tmp_path / "t1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
        result = kie.resume(journal.get(entry_id), output_dir=tmp_path)
        assert journal.get(entry_id).state is JournalState.DOWNLOADED
    transport = kie.transport
    assert isinstance(transport, ScriptedTransport) and transport.requests == []  # nothing asked, nothing fetched
    assert result.files == (tmp_path / "t1.png",)


def sample_request() -> Any:
    from kiecore.model import GenerationRequest

    return GenerationRequest(prompt="a fox")
