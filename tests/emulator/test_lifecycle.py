"""Starting and stopping the three servers (lifecycle.py, emulator.py)."""

from __future__ import annotations

import pytest
import urllib3

from kiecore.emulator import Emulator
from tests.emulator.helpers import HTTP, MARKET_STATUS
from tests.emulator.models import emulated_registry


def test_stop_is_idempotent_and_urls_need_a_running_emulator() -> None:
    emulator = Emulator(emulated_registry())
    with pytest.raises(RuntimeError):
        _ = emulator.base_url
    emulator.start()
    url = emulator.base_url
    assert emulator.start() is emulator and emulator.base_url == url
    emulator.stop()
    emulator.stop()
    with pytest.raises(urllib3.exceptions.HTTPError):
        HTTP.request("GET", url + MARKET_STATUS)
