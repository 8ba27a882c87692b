from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.registry import PluginInfo, Registry
from kiecore.testing.endtoend import emulator_client
from tests import sample_plugin


@pytest.fixture(scope="session")
def sample_registry() -> Registry:
    """The sample plugin only: one model per dialect."""
    return Registry.from_plugins((sample_plugin.plugin, PluginInfo("sample", "kiecore-sample-plugin", "0")))


@pytest.fixture
def emulator(kie_emulator_for: Callable[[Registry], Emulator], sample_registry: Registry) -> Emulator:
    """The sample plugin's emulator (the kit's), with no tasks, faults or logged requests."""
    return kie_emulator_for(sample_registry)


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
