"""pytest fixtures for kiecore and its plugins, registered through the ``pytest11`` entry point.

``kie_registry`` (installed plugins), ``kie_plugin_registry`` (only the plugin your ``kie_plugin`` fixture
returns), ``kie_emulator`` (a running emulator, reset for each test), ``kie_client`` (a client bound to
it). Imports stay inside the fixtures so that merely having kiecore installed costs a pytest run nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kiecore.client import Client
    from kiecore.emulator import Emulator
    from kiecore.registry import Registry


@pytest.fixture(scope="session")
def kie_registry() -> Registry:
    """Every installed, enabled kiecore plugin."""
    from kiecore.loading import load_registry

    return load_registry()


@pytest.fixture
def kie_plugin_registry(kie_plugin: object) -> Registry:
    """A registry holding only the plugin under test; define a ``kie_plugin`` fixture that returns it."""
    from kiecore.registry import Registry

    registry = Registry.from_plugins(kie_plugin)
    assert not registry.failures, registry.failures
    return registry


@pytest.fixture(scope="session")
def _kie_emulator_server(kie_registry: Registry) -> Iterator[Emulator]:
    from kiecore.emulator import Emulator

    with Emulator(kie_registry, task_seconds=0.2, retry_after=0.05) as emulator:
        yield emulator


@pytest.fixture
def kie_emulator(_kie_emulator_server: Emulator) -> Emulator:
    """A running emulator serving every installed model, with no tasks, faults or logged requests."""
    _kie_emulator_server.reset()
    _kie_emulator_server.task_seconds = 0.2
    return _kie_emulator_server


@pytest.fixture
def kie_client(kie_emulator: Emulator, kie_registry: Registry) -> Iterator[Client]:
    """A client bound to ``kie_emulator`` (live profile), polling and retrying at emulator speed."""
    from kiecore.testing.endtoend import emulator_client

    with emulator_client(kie_emulator.base_url, kie_registry) as client:
        yield client
