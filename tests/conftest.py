from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.registry import PluginInfo, Registry
from kiecore.testing.endtoend import FAST_RETRY, emulator_client
from tests import sample_plugin


@pytest.fixture(scope="session")
def sample_registry() -> Registry:
    """The sample plugin only: one model per dialect."""
    return Registry.from_plugins((sample_plugin.plugin, PluginInfo("sample", "kiecore-sample-plugin", "0")))


@pytest.fixture(scope="session")
def sample_emulator(sample_registry: Registry) -> Iterator[Emulator]:
    with Emulator(sample_registry, task_seconds=0.2, retry_after=0.05) as emulator:
        yield emulator


@pytest.fixture
def emulator(sample_emulator: Emulator) -> Emulator:
    """The sample plugin's emulator, with no tasks, faults or logged requests."""
    sample_emulator.reset()
    sample_emulator.task_seconds = 0.2
    return sample_emulator


@pytest.fixture
def client(emulator: Emulator, sample_registry: Registry) -> Iterator[Client]:
    with emulator_client(emulator.base_url, sample_registry) as client:
        yield client


@pytest.fixture(autouse=True, scope="session")
def _private_journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes to the user's own task journal (subprocesses inherit this too)."""
    previous = os.environ.get("KIECORE_JOURNAL")
    os.environ["KIECORE_JOURNAL"] = str(tmp_path_factory.mktemp("journal") / "journal.sqlite3")
    yield
    if previous is None:
        del os.environ["KIECORE_JOURNAL"]
    else:
        os.environ["KIECORE_JOURNAL"] = previous


@pytest.fixture
def make_client(kie_emulator: Emulator, kie_registry: Registry) -> Iterator[Callable[..., Client]]:
    """``make_client(api_key, journal=None, **options)``: clients of the emulator serving every installed model,
    polling and retrying at emulator speed, without client-side limits; closed after the test."""
    clients: list[Client] = []

    def make(api_key: str, journal: Any = None, **options: Any) -> Client:
        settings: dict[str, Any] = {"poll_interval": 0.05, "retry": FAST_RETRY, "rate_limits": None, **options}
        client = Client(
            api_key=api_key, base_url=kie_emulator.base_url, registry=kie_registry, journal=journal, **settings
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
