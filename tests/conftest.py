from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from kiecore.cli import download_command, generate_command, main, status_command
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.journal import Journal
from kiecore.registry import PluginInfo, Registry
from kiecore.testing.endtoend import FAST_RETRY, emulator_client
from tests import sample_plugin

# Property tests check what they compute, not how fast: on a loaded CI machine one example can take longer than
# hypothesis's default 200 ms deadline, which would fail a correct test.
settings.register_profile("kiecore", deadline=None)
settings.load_profile("kiecore")

#: The API key the ``kie`` fixture sets: it must never be printed.
CLI_KEY = "sk-cli-test-key-0123456789"
#: What the ``kie`` fixture returns: ``kie(*args)`` gives (exit code, stdout, stderr).
KieRunner = Callable[..., tuple[int, str, str]]


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


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal in the test's folder, where the ``kie`` fixture's commands keep theirs too."""
    with Journal(tmp_path / "journal.sqlite3") as opened:
        yield opened


@pytest.fixture
def kie(
    kie_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> KieRunner:
    """Run `kie ARGS` in-process against the kit's emulator, with this test's own journal, retrying and polling
    at emulator speed; returns (exit code, stdout, stderr) and checks the key was never printed."""
    monkeypatch.setenv("KIE_API_KEY", CLI_KEY)
    monkeypatch.setenv("KIE_BASE_URL", kie_emulator.base_url)
    monkeypatch.setenv("KIE_UPLOAD_URL", kie_emulator.upload_url)
    monkeypatch.setenv("KIECORE_JOURNAL", str(tmp_path / "journal.sqlite3"))
    fast = functools.partial(Client, retry=FAST_RETRY)
    monkeypatch.setattr(generate_command, "Client", fast)  # kie batch builds its client there too
    monkeypatch.setattr(status_command, "Client", fast)
    monkeypatch.setattr(download_command, "Client", fast)

    def run(*args: str) -> tuple[int, str, str]:
        polling = args[0] in ("generate", "resume", "batch")
        code = main([*args, "--poll-interval", "0.05"] if polling else list(args))
        out, err = capsys.readouterr()
        assert CLI_KEY not in out + err
        return code, out, err

    return run


@pytest.fixture(autouse=True, scope="session")
def _private_journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes to the user's own task journal or cache (subprocesses inherit this too)."""
    places = {
        "KIECORE_JOURNAL": str(tmp_path_factory.mktemp("journal") / "journal.sqlite3"),
        "KIECORE_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }
    previous = {name: os.environ.get(name) for name in places}
    os.environ.update(places)
    yield
    for name, value in previous.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value
