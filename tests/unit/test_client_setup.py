"""How a client is built and torn down: its key, hosts and settings, its transports, and its number checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kiecore.client import Client, _is_private, _positive
from kiecore.download import Downloader
from kiecore.engine.calls import Calls
from kiecore.engine.scheduler import Engine, EngineClosedError
from kiecore.errors import InvalidParameterError, MissingAPIKeyError, TransportError, UploadError, UsageError
from kiecore.model import Profile, TaskHandle
from kiecore.registry import Registry
from kiecore.retry import RetryPolicy
from kiecore.testing.scripted import ScriptedTransport
from kiecore.transport import DEFAULT_BASE_URL, Transport
from kiecore.uploads import DEFAULT_UPLOAD_URL, Uploader
from tests.unit.test_client_calls import RUNNING

#: A loopback port nothing listens on: every connection is refused at once, nothing leaves the machine.
CLOSED_PORT = "http://127.0.0.1:9"
#: One retry, whose wait (2 to 4 s, never really slept: see ``naps``) fits a deadline 10 s away but not 1 s away.
ONE_RETRY = RetryPolicy(attempts=2, backoff=4.0, max_backoff=4.0)


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KIE_API_KEY", "KIE_BASE_URL", "KIE_UPLOAD_URL"):
        monkeypatch.delenv(name, raising=False)


def png(path: Path) -> Path:
    Image.new("RGB", (4, 4), (200, 30, 30)).save(path, format="PNG")
    return path


def unreachable(naps: list[float], **options: Any) -> Client:
    """A client of a host that refuses every connection, retrying once on a clock stuck at 0, whose waits are
    recorded in ``naps`` instead of slept."""
    settings: dict[str, Any] = {"api_key": " k ", "base_url": CLOSED_PORT, "retry": ONE_RETRY, **options}
    return Client(sleep=naps.append, clock=lambda: 0.0, **settings)


# -- the key, the hosts, the settings ------------------------------------------------------------------------------


def test_the_key_is_the_one_given_else_the_environments_stripped_and_a_blank_one_is_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Client().api_key is None
    assert Client(api_key=" given\n").api_key == "given"
    assert Client(api_key=" \t").api_key is None
    monkeypatch.setenv("KIE_API_KEY", "  from-env ")
    assert Client().api_key == "from-env"
    assert Client(api_key="given").api_key == "given"


def test_the_host_is_the_transports_else_the_one_given_else_the_environments_else_kies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Client().base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("KIE_BASE_URL", "https://proxy.example")
    assert Client().base_url == "https://proxy.example"
    assert Client(base_url="https://other.example").base_url == "https://other.example"
    scripted = ScriptedTransport({}, base_url="https://kie.test")
    assert Client(base_url="https://other.example", transport=scripted).base_url == "https://kie.test"


def test_the_upload_host_is_the_one_given_else_the_environments_else_kies_for_the_live_host_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Client().upload_url == DEFAULT_UPLOAD_URL
    assert Client(base_url=f"{DEFAULT_BASE_URL}/").upload_url == DEFAULT_UPLOAD_URL
    assert Client(base_url="https://proxy.example").upload_url is None
    assert Client(base_url=f"{DEFAULT_BASE_URL}X").upload_url is None  # another host, however alike
    assert Client(transport=ScriptedTransport({}, base_url=DEFAULT_BASE_URL)).upload_url == DEFAULT_UPLOAD_URL
    assert Client(base_url="https://proxy.example", upload_url="https://up.example").upload_url == "https://up.example"
    monkeypatch.setenv("KIE_UPLOAD_URL", "https://env-up.example")
    assert Client(base_url="https://proxy.example").upload_url == "https://env-up.example"
    assert Client(upload_url="https://up.example").upload_url == "https://up.example"


def test_the_settings_are_kept_as_given(tmp_path: Path) -> None:
    retry = RetryPolicy(attempts=2)
    kie = Client(
        profile="reference", retry=retry, poll_interval=3, visibility_grace=0, max_download_bytes=123, rate_limits=None
    )
    assert (kie.profile, kie.retry, kie.poll_interval, kie.visibility_grace) == (Profile.REFERENCE, retry, 3.0, 0.0)
    assert type(kie.poll_interval) is float and type(kie.visibility_grace) is float
    assert (kie.max_download_bytes, kie.rate_limits, kie.journal) == (123, None, None)
    defaults = Client()
    assert (defaults.profile, defaults.retry, defaults.poll_interval, defaults.visibility_grace) == (
        Profile.LIVE,
        RetryPolicy(),
        2.0,
        30.0,
    )


def test_a_bad_poll_interval_or_visibility_grace_is_refused_by_name() -> None:
    with pytest.raises(UsageError) as grace:
        Client(visibility_grace=-1)
    assert str(grace.value) == "the visibility grace must be more than 0 seconds, not -1"
    with pytest.raises(UsageError) as interval:
        Client(poll_interval=0)
    assert str(interval.value) == "the poll interval must be more than 0 seconds, not 0"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "a number of seconds, not True"),
        ("5", "a number of seconds, not '5'"),
        (None, "a number of seconds, not None"),
        (float("nan"), "a number of seconds, not nan"),
        (float("-inf"), "a number of seconds, not -inf"),
        (-1, "more than 0 seconds, not -1"),
        (0, "more than 0 seconds, not 0"),
        (-0.5, "more than 0 seconds, not -0.5"),
    ],
)
def test_a_bad_number_of_seconds_is_refused_saying_why(value: Any, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        _positive(value, "the timeout")
    assert str(caught.value) == f"the timeout must be {reason}"


def test_seconds_come_back_as_a_float_and_zero_only_where_allowed() -> None:
    assert (_positive(2, "x"), type(_positive(2, "x"))) == (2.0, float)
    assert _positive(1e-7, "x") == 1e-7
    assert _positive(0, "x", zero=True) == 0.0
    with pytest.raises(UsageError, match="more than 0 seconds, not -1"):
        _positive(-1, "x", zero=True)


# -- the transports ------------------------------------------------------------------------------------------------


def test_no_key_means_no_transport_and_no_upload() -> None:
    kie = Client(base_url="https://proxy.example", upload_url="https://up.example")
    with pytest.raises(MissingAPIKeyError):
        kie.transport  # noqa: B018
    with pytest.raises(MissingAPIKeyError):
        kie.uploader  # noqa: B018


def test_the_transport_is_built_once_for_the_clients_host_with_its_retry_policy() -> None:
    retry = RetryPolicy(attempts=2)
    with Client(api_key=" k ", base_url="https://proxy.example/", retry=retry) as kie:
        transport = kie.transport
        assert isinstance(transport, Transport) and kie.transport is transport
        assert (transport.base_url, transport.retry, transport.redact("key k")) == (
            "https://proxy.example",
            retry,
            "key ***",
        )


def test_the_transport_waits_with_the_clients_sleep_and_keeps_deadlines_on_its_clock() -> None:
    naps: list[float] = []
    with unreachable(naps) as kie:
        with pytest.raises(TransportError, match=r"could not connect to 127\.0\.0\.1:9"):
            kie.credits(deadline=10.0)
        assert len(naps) == 1 and 2.0 <= naps[0] <= 4.0
        with pytest.raises(TransportError, match="could not connect"):
            kie.credits(deadline=1.0)  # no retry fits
        assert len(naps) == 1


def test_an_upload_waits_with_the_clients_sleep_within_its_timeout(tmp_path: Path) -> None:
    naps: list[float] = []
    with unreachable(naps, base_url="https://proxy.example", upload_url=CLOSED_PORT) as kie:
        image = png(tmp_path / "a.png")
        with pytest.raises(UploadError, match=r"could not upload a\.png to 127\.0\.0\.1:9"):
            kie.upload(image, timeout=10)
        assert len(naps) == 1 and 2.0 <= naps[0] <= 4.0
        with pytest.raises(UploadError, match="could not upload"):
            kie.upload(image, timeout=1)  # no retry fits
        assert len(naps) == 1
        with pytest.raises(UploadError, match="could not upload"):
            kie.upload(image)  # the default timeout leaves room for the retry
        assert len(naps) == 2


NO_UPLOAD_HOST = (
    "local images are uploaded first, and no upload host is configured for https://kie.test:"
    " set KIE_UPLOAD_URL (or Client(upload_url=...)), or give an http(s) URL"
)


def test_a_local_image_is_refused_without_an_upload_host_before_anything_is_sent(
    sample_registry: Registry, tmp_path: Path
) -> None:
    transport = ScriptedTransport({}, base_url="https://kie.test")
    kie = Client(api_key="k", transport=transport, registry=sample_registry)
    image = png(tmp_path / "a.png")
    with pytest.raises(UsageError) as prepared:
        kie.prepare("test/market", prompt="a fox", image_urls=(str(image),))
    with pytest.raises(UsageError) as uploaded:
        kie.upload(image)
    assert str(prepared.value) == str(uploaded.value) == NO_UPLOAD_HOST
    assert kie.prepare("test/market", prompt="a fox", image_urls=("https://img.example/a.png",)).uploads == ()
    assert transport.requests == []


@pytest.mark.parametrize(
    ("upload_url", "refusal"),
    [
        ("ftp://up.example", "invalid upload URL 'ftp://up.example': use https://host[:port]"),
        ("http://up.example", "refusing to send the API key over plain http to up.example; use https"),
    ],
)
def test_an_upload_host_that_is_not_https_is_refused(tmp_path: Path, upload_url: str, refusal: str) -> None:
    kie = Client(api_key="k", transport=ScriptedTransport({}), upload_url=upload_url)
    with pytest.raises(UsageError) as caught:
        kie.upload(png(tmp_path / "a.png"))
    assert str(caught.value) == refusal


def test_upload_takes_the_path_of_a_local_image_only(tmp_path: Path) -> None:
    kie = Client(api_key="k", transport=ScriptedTransport({}), upload_url="https://up.example")
    with pytest.raises(UsageError) as caught:
        kie.upload("https://img.example/a.png")
    assert str(caught.value) == "'https://img.example/a.png' is already a URL; upload() takes the path of a local image"
    missing = tmp_path / "nope.png"
    with pytest.raises(InvalidParameterError, match=rf"^path: {missing}: ") as refused:
        kie.upload(missing)
    assert refused.value.parameter == "path"
    with pytest.raises(UsageError, match=r"^the timeout must be more than 0 seconds, not -1$"):
        kie.upload(png(tmp_path / "a.png"), timeout=-1)


def test_the_downloader_takes_private_hosts_only_when_the_api_lives_on_one() -> None:
    def allowed(base_url: str) -> bool:
        return Client(transport=ScriptedTransport({}, base_url=base_url)).downloader.allow_private_hosts

    assert allowed("http://127.0.0.1:8080") and allowed("http://localhost:1")
    assert allowed("https://10.1.2.3") and allowed("https://[fd00::1]:8443")
    assert not allowed("https://kie.test") and not allowed("https://8.8.8.8")


def test_private_addresses_are_told_from_public_ones_and_names() -> None:
    assert _is_private("10.0.0.7") and _is_private("192.168.1.2") and _is_private("[fd00::1]")
    assert not _is_private("8.8.8.8") and not _is_private("[2001:4860::8888]") and not _is_private("kie.test")


def test_the_downloader_keeps_the_clients_limit_and_retry_policy() -> None:
    retry = RetryPolicy(attempts=3)
    kie = Client(transport=ScriptedTransport({}), retry=retry, max_download_bytes=4096)
    downloader = kie.downloader
    assert (downloader.max_bytes, downloader.retry, kie.downloader is downloader) == (4096, retry, True)


def test_closing_closes_the_transport_and_everything_is_built_again_on_use(sample_registry: Registry) -> None:
    transport = ScriptedTransport({})
    kie = Client(transport=transport, registry=sample_registry, rate_limits=None, upload_url="https://up.example")
    downloader, engine, calls = kie.downloader, kie.engine, kie.calls
    kie.api_key = "k"
    uploader = kie.uploader
    kie.api_key = None
    kie.close()
    assert transport.closed is True
    with pytest.raises(MissingAPIKeyError):
        kie.transport  # noqa: B018  (the given transport is gone; without a key there is no other)
    kie.api_key = "k"
    rebuilt = (kie.transport, kie.downloader, kie.calls, kie.engine, kie.uploader)
    assert [type(part) for part in rebuilt] == [Transport, Downloader, Calls, Engine, Uploader]
    assert not {id(part) for part in rebuilt} & {id(transport), id(downloader), id(calls), id(engine), id(uploader)}
    kie.close()


def test_closing_ends_what_the_engine_was_waiting_for(sample_registry: Registry) -> None:
    transport = ScriptedTransport({("GET", "/api/v1/jobs/recordInfo"): [RUNNING]})
    kie = Client(transport=transport, registry=sample_registry, rate_limits=None)
    waiting = kie.start_wait(TaskHandle(model="test/market", task_id="t1", submitted_at=0.0), 600.0, None)
    kie.close()
    assert isinstance(waiting.exception(timeout=5), EngineClosedError)


def test_a_local_image_is_uploaded_before_its_create_and_a_failed_upload_creates_nothing(
    sample_registry: Registry, tmp_path: Path
) -> None:
    transport = ScriptedTransport({})  # a create sent would fail the test: the script has no reply for it
    kie = Client(
        api_key="k",
        transport=transport,
        registry=sample_registry,
        rate_limits=None,
        upload_url=CLOSED_PORT,
        retry=RetryPolicy(attempts=1),
    )
    image = str(png(tmp_path / "a.png"))
    with kie:
        with pytest.raises(UploadError, match=r"could not upload a\.png"):
            kie.submit("test/market", prompt="a fox", image_urls=(image,))
        with pytest.raises(UploadError, match=r"could not upload a\.png"):
            kie.generate("test/market", "a fox", image_urls=(image,), output_dir=tmp_path / "out")
    assert transport.requests == []
