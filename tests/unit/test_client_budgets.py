"""A client's status queries within the account's rate limits, and what happens when the shared budget store fails."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from kiecore.client import Client
from kiecore.engine.budgets import AccountBudgets, account_budgets, default_path_beside
from kiecore.journal import Journal
from kiecore.model import TaskHandle, TaskState
from kiecore.ratelimit import RateLimits
from kiecore.registry import Registry
from kiecore.testing.scripted import Script
from tests.unit.test_client_calls import FOUR_O_STATUS, RUNNING, Hooked, Recording
from tests.unit.test_client_policy import STATUS, handle, ok

FOUR_O_RUNNING = ok({"successFlag": 0, "status": "GENERATING", "progress": "0.5"})
SCRIPT: Script = {STATUS: [RUNNING], FOUR_O_STATUS: [FOUR_O_RUNNING]}


class Blocked(Exception):
    """A status query had to wait for a slot."""


def refuse_to_wait(seconds: float) -> None:
    raise Blocked(seconds)


def limited(registry: Registry, limits: RateLimits, **options: Any) -> tuple[Client, AccountBudgets | None]:
    """A client of a key of its own with ``limits`` (never waiting: :class:`Blocked` instead), and its budgets
    when they are this process's own."""
    key = f"key-{uuid.uuid4()}"
    transport = Recording(options.pop("script", SCRIPT))
    kie = Client(
        api_key=key, transport=transport, registry=registry, rate_limits=limits, sleep=refuse_to_wait, **options
    )
    budgets = account_budgets(transport.base_url, key, limits, None) if options.get("journal") is None else None
    return kie, budgets


def four_o(task_id: str) -> TaskHandle:
    return TaskHandle(model="test/4o", task_id=task_id, submitted_at=0.0)


def test_a_status_query_takes_a_slot_of_the_accounts_status_window_and_gives_it_back(
    sample_registry: Registry,
) -> None:
    kie, budgets = limited(sample_registry, RateLimits(status=(1, 600.0)))
    assert budgets is not None
    assert kie.status(handle()).state is TaskState.RUNNING
    assert budgets.status.in_flight == 0  # type: ignore[attr-defined]
    with pytest.raises(Blocked):
        kie.status(handle())  # the one query of the window was spent


def test_the_deadline_of_a_status_query_goes_to_the_transport(sample_registry: Registry) -> None:
    for limits in (RateLimits(), None):
        kie = Client(api_key="k", transport=Recording(SCRIPT), registry=sample_registry, rate_limits=limits)
        kie.status(handle(), deadline=42.0)
        kie.status(handle())
        transport = kie.transport
        assert isinstance(transport, Recording)
        assert [options["deadline"] for options in transport.options] == [42.0, None]


def test_a_4o_task_is_also_queried_within_its_own_per_task_window(sample_registry: Registry) -> None:
    kie, budgets = limited(sample_registry, RateLimits(status=(10, 600.0), task_status=(1, 600.0)))
    assert budgets is not None
    assert kie.status(four_o("g1")).state is TaskState.RUNNING
    assert kie.status(four_o("g2")).state is TaskState.RUNNING  # another task: another window
    assert budgets.task_status("g1").in_flight == 0  # type: ignore[attr-defined]
    with pytest.raises(Blocked):
        kie.status(four_o("g1"))


def test_other_dialects_have_no_per_task_window(sample_registry: Registry) -> None:
    kie, budgets = limited(sample_registry, RateLimits(status=(10, 600.0), task_status=(1, 600.0)))
    for _ in range(3):
        assert kie.status(handle()).state is TaskState.RUNNING
    assert budgets is not None and budgets.task_windows == 0


def test_without_rate_limits_or_without_a_key_no_query_ever_waits(sample_registry: Registry) -> None:
    for key, limits in (("k", None), ("", RateLimits(status=(1, 600.0), task_status=(1, 600.0)))):
        kie = Client(
            api_key=key, transport=Recording(SCRIPT), registry=sample_registry, rate_limits=limits, sleep=refuse_to_wait
        )
        for _ in range(12):  # more than the published limits allow in a second
            assert kie.status(four_o("g1")).state is TaskState.RUNNING


NOTICE = (
    "; this process keeps Kie's rate limits on its own (other processes using the key may meet 429 answers,"
    " which are retried)\n"
)


def test_the_budgets_are_shared_through_a_store_beside_the_journal(sample_registry: Registry, tmp_path: Path) -> None:
    notices = io.StringIO()
    with Journal(tmp_path / "journal.sqlite3") as journal:
        kie, _ = limited(sample_registry, RateLimits(), journal=journal, notices=notices)
        assert kie.status(handle()).state is TaskState.RUNNING
    assert default_path_beside(journal.path).is_file() and notices.getvalue() == ""


def test_a_budget_store_that_cannot_be_opened_is_said_once_and_the_limits_kept_in_process(
    sample_registry: Registry, tmp_path: Path
) -> None:
    notices = io.StringIO()
    store = tmp_path / "budgets.sqlite3"
    store.mkdir()  # a folder where the store's file should be
    with Journal(tmp_path / "journal.sqlite3") as journal:
        kie, _ = limited(sample_registry, RateLimits(status=(2, 600.0)), journal=journal, notices=notices)
        assert kie.status(handle()).state is TaskState.RUNNING
        assert kie.status(handle()).state is TaskState.RUNNING
        with pytest.raises(Blocked):
            kie.status(handle())  # the limits still hold, in this process
        transport = kie.transport
        assert isinstance(transport, Recording) and kie.api_key is not None
        other = Client(
            api_key=kie.api_key,
            transport=Recording(SCRIPT),
            registry=sample_registry,
            rate_limits=RateLimits(status=(2, 600.0)),
            sleep=refuse_to_wait,
        )
        with pytest.raises(Blocked):
            other.status(handle())  # ... shared with the process's other clients of the key
    (line,) = notices.getvalue().splitlines(keepends=True)
    assert line.startswith(f"kiecore: cannot open the budget store {store}: ") and line.endswith(NOTICE)


def test_a_budget_store_failing_mid_query_loses_nothing_and_later_queries_keep_the_limits_in_process(
    sample_registry: Registry, tmp_path: Path
) -> None:
    notices = io.StringIO()
    limits = RateLimits(status=(5, 600.0))
    key = f"key-{uuid.uuid4()}"
    transport = Hooked(SCRIPT)
    with Journal(tmp_path / "journal.sqlite3") as journal:
        kie = Client(
            api_key=key,
            transport=transport,
            registry=sample_registry,
            rate_limits=limits,
            journal=journal,
            notices=notices,
            sleep=refuse_to_wait,
        )
        shared = account_budgets(transport.base_url, key, limits, default_path_beside(journal.path))
        transport.before_send = shared.status.store.close  # type: ignore[attr-defined]
        assert kie.status(handle()).state is TaskState.RUNNING  # its slot could not be written back: no matter
        assert notices.getvalue() == ""
        assert kie.status(handle(), deadline=7.0).state is TaskState.RUNNING
        assert kie.status(handle()).state is TaskState.RUNNING
    (line,) = notices.getvalue().splitlines(keepends=True)
    assert line.startswith(
        f"kiecore: the budget store {default_path_beside(journal.path)} is closed"
    ) and line.endswith(NOTICE)
    assert [options["deadline"] for options in transport.options] == [None, 7.0, None]
    assert account_budgets(transport.base_url, key, limits, None).status.in_flight == 0  # type: ignore[attr-defined]
    other = Client(
        api_key=key, transport=Recording(SCRIPT), registry=sample_registry, rate_limits=limits, sleep=refuse_to_wait
    )
    for _ in range(3):  # the two local queries count for every client of the key in this process
        other.status(handle())
    with pytest.raises(Blocked):
        other.status(handle())
