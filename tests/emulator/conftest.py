"""The emulator tests' ``emulator``: the test models, tasks that run 100 s (their clocks are moved by hand)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kiecore.emulator import Emulator
from tests.emulator.models import emulated_registry


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(emulated_registry(), task_seconds=100.0) as running:
        yield running
