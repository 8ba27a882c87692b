"""pytest fixtures for kiecore and its plugins, registered through the ``pytest11`` entry point.

``kie_registry`` (installed plugins), ``kie_plugin_registry`` (only the plugin your ``kie_plugin`` fixture
returns), ``kie_emulator`` (a running emulator, reset for each test), ``kie_client`` (a client bound to it),
``kie_client_factory`` (more clients of it, with a journal or other options) and ``kie_emulator_for`` (a
running emulator of any registry, one per registry for the session, reset for each test). Imports stay inside
the fixtures so that merely having kiecore installed costs a pytest run nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

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
def _kie_emulators() -> Iterator[dict[int, tuple[Emulator, dict[str, Any]]]]:
    """The session's emulators by registry, each with the settings it started with."""
    running: dict[int, tuple[Emulator, dict[str, Any]]] = {}
    yield running
    for emulator, _settings in running.values():
        emulator.stop()


@pytest.fixture
def kie_emulator_for(_kie_emulators: dict[int, tuple[Emulator, dict[str, Any]]]) -> Callable[[Registry], Emulator]:
    """``kie_emulator_for(registry)``: a running emulator serving ``registry``'s models (started once per
    registry for the session), with no tasks, faults or logged requests, 0.2 s tasks, and every other setting
    (:attr:`Emulator.SETTINGS`: limits, keys, ...) as it started, whatever an earlier test set."""
    from kiecore.emulator import Emulator

    def running(registry: Registry) -> Emulator:
        if id(registry) not in _kie_emulators:
            made = Emulator(registry, task_seconds=0.2, retry_after=0.05)
            made.start()
            _kie_emulators[id(registry)] = (made, {name: getattr(made, name) for name in Emulator.SETTINGS})
        emulator, settings = _kie_emulators[id(registry)]
        emulator.reset()
        for name, value in settings.items():
            setattr(emulator, name, value)
        return emulator

    return running


@pytest.fixture
def kie_emulator(kie_emulator_for: Callable[[Registry], Emulator], kie_registry: Registry) -> Emulator:
    """A running emulator serving every installed model, with no tasks, faults or logged requests."""
    return kie_emulator_for(kie_registry)


@pytest.fixture
def kie_client(kie_emulator: Emulator, kie_registry: Registry) -> Iterator[Client]:
    """A client bound to ``kie_emulator`` (live profile), polling and retrying at emulator speed."""
    from kiecore.testing.endtoend import emulator_client

    with emulator_client(kie_emulator.base_url, kie_registry) as client:
        yield client


@pytest.fixture
def kie_client_factory(kie_emulator: Emulator, kie_registry: Registry) -> Iterator[Callable[..., Client]]:
    """``kie_client_factory(api_key, journal=None, **options)``: clients of ``kie_emulator`` polling and retrying at
    emulator speed, without client-side rate limits unless ``options`` set them; closed after the test."""
    from kiecore.client import Client
    from kiecore.testing.endtoend import FAST_RETRY

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
