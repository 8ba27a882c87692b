"""Credits and cost: `Client.credits` and `kie credits`, declared prices and estimates, prices in `kie models`,
and `--dry-run` of `kie generate` and `kie batch`."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiecore import AsyncClient, DeclarativePlugin, ModelSpec, Price, PriceUnit, stock
from kiecore.cli import main
from kiecore.client import Client
from kiecore.declarations import BodyLayout, price_key
from kiecore.emulator import Emulator
from kiecore.errors import AuthenticationError, InsufficientCreditsError, ParseError, UsageError
from kiecore.model import Profile
from kiecore.pricing import estimate, image_count
from kiecore.registry import PluginInfo, Registry
from kiecore.serialization import to_json
from kiecore.testing.scripted import ScriptedTransport
from kiecore.testing.strategies import valid_requests
from kiecore.wire.credits import CREDIT_PATH
from tests.conftest import CLI_KEY, KieRunner

# -- Client.credits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("balance", "expected"), [(None, "1000"), (100, "100"), (0, "0"), (60.62, "60.62")])
def test_credits_are_read_exactly(client: Client, emulator: Emulator, balance: Any, expected: str) -> None:
    if balance is not None:
        emulator.credits = balance  # the emulator answers whatever number it is given
    credits = client.credits()
    assert isinstance(credits, Decimal) and credits == Decimal(expected) and str(credits) == expected


@pytest.mark.parametrize(
    ("profile", "header", "value"),
    [("live", "Authorization", "Bearer test-key"), ("reference", "X-API-KEY", "test-key")],
)
def test_the_key_goes_only_to_the_api_host(
    emulator: Emulator, sample_registry: Registry, profile: str, header: str, value: str
) -> None:
    with Client(api_key="test-key", base_url=emulator.base_url, registry=sample_registry, profile=profile) as client:
        client.credits()
    (request,) = emulator.requests
    assert (request.server, request.method, request.path) == ("api", "GET", CREDIT_PATH)
    assert request.headers[header] == value and request.body == b""


def test_a_refused_key_is_an_authentication_error(
    client: Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "api_key", "the-account-key")
    with pytest.raises(AuthenticationError) as caught:
        client.credits()
    assert caught.value.exit_code == 3 and caught.value.code == 401
    assert "test-key" not in str(caught.value) and "\n" not in str(caught.value)


def test_the_key_is_never_sent_over_plain_http_to_another_host() -> None:
    with Client(api_key="k-123", base_url="http://kie.example") as client, pytest.raises(UsageError) as caught:
        client.credits()
    assert "plain http" in str(caught.value) and "k-123" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "expected"), [(100, "100"), (60.62, "60.62"), ("60.62", "60.62"), (2510330, "2510330")]
)
def test_every_numeric_answer_is_a_decimal(data: Any, expected: str) -> None:
    transport = ScriptedTransport({("GET", CREDIT_PATH): [{"code": 200, "msg": "success", "data": data}]})
    with Client(api_key="k", transport=transport) as client:
        assert client.credits() == Decimal(expected)
    ((request, idempotent),) = transport.requests
    assert request.method == "GET" and request.body is None and idempotent


@pytest.mark.parametrize("data", [None, True, "lots", [], {"credits": 1}, "NaN", float("inf")])
def test_an_answer_without_a_number_is_a_parse_error(data: Any) -> None:
    transport = ScriptedTransport({("GET", CREDIT_PATH): [{"code": 200, "msg": "success", "data": data}]})
    with Client(api_key="k", transport=transport) as client, pytest.raises(ParseError):
        client.credits()


def test_the_async_client_reads_credits_too(emulator: Emulator, sample_registry: Registry) -> None:
    emulator.credits = 60.62

    async def read() -> Decimal:
        async with AsyncClient(api_key="test-key", base_url=emulator.base_url, registry=sample_registry) as client:
            return await client.credits()

    assert asyncio.run(read()) == Decimal("60.62")


# -- kie credits -------------------------------------------------------------------------------------------


def test_kie_credits(kie: KieRunner, kie_emulator: Emulator) -> None:
    kie_emulator.credits = 60.62
    code, out, err = kie("credits")
    assert (code, out, err) == (0, "60.62 credits (about $0.303)\n", "")
    code, out, _ = kie("credits", "--json")
    assert code == 0 and json.loads(out) == {"credits": 60.62}
    kie_emulator.credits = 100
    code, out, _ = kie("credits", "--json")
    assert json.loads(out) == {"credits": 100} and isinstance(json.loads(out)["credits"], int)
    assert kie("credits") == (0, "100 credits (about $0.50)\n", "")


def test_kie_credits_with_a_bad_key_exits_3(
    kie: KieRunner, kie_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kie_emulator, "api_key", "the-account-key")
    code, out, err = kie("credits")
    assert code == 3 and out == "" and err.startswith("kie: error:") and err.count("\n") == 1
    assert "Traceback" not in err
    monkeypatch.delenv("KIE_API_KEY")
    code, _, err = kie("credits", "--json")
    assert code == 2 and "KIE_API_KEY" in err


def test_insufficient_credits_stay_exit_3(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    kie_emulator.inject("credits", on="submit")
    code, out, err = kie("generate", "google/nano-banana", "a fox", "-o", str(tmp_path))
    assert code == 3 and out == "" and "not enough Kie credits" in err and "Traceback" not in err
    assert InsufficientCreditsError.exit_code == 3


# -- prices and estimates ----------------------------------------------------------------------------------


def _priced_models() -> tuple[ModelSpec, ...]:
    """Test models for each way a price can be stated."""
    resolution = stock.resolution("1K", "2K", "4K", default="1K")
    return (
        ModelSpec(
            id="test/by-resolution",
            title="By resolution",
            family="Test",
            live=stock.market_wire(
                "test/by-resolution",
                stock.prompt(),
                resolution,
                stock.image_count(4, as_string=True, omit_default=True),
            ),
            max_images=4,
            price=Price(by="resolution", by_value={"1K": 8, "2K": 12, "4K": 18}),
        ),
        ModelSpec(
            id="test/partly-priced",
            title="Partly priced",
            family="Test",
            live=stock.market_wire("test/partly-priced", stock.prompt(), resolution),
            price=Price(by="resolution", by_value={"1K": "6.5"}),
        ),
        ModelSpec(
            id="test/per-request",
            title="Per request",
            family="Test",
            live=stock.market_wire("test/per-request", stock.prompt(), stock.image_count(4)),
            max_images=4,
            price=Price(credits=2.5, per="request"),
        ),
        ModelSpec(
            id="test/no-count-default",
            title="No count default",
            family="Test",
            live=stock.market_wire("test/no-count-default", stock.prompt(), stock.image_count(4, default=None)),
            max_images=4,
            price=Price(credits="0.8"),
        ),
        ModelSpec(
            id="test/unpriced",
            title="Unpriced",
            family="Test",
            live=stock.market_wire("test/unpriced", stock.prompt(), stock.image_count(4)),
            max_images=4,
        ),
    )


TEST_REGISTRY = Registry.from_plugins((DeclarativePlugin(*_priced_models()), PluginInfo("test", "kiecore-test", "0")))


def _expected(spec: ModelSpec, profile: Profile, body: Any) -> Decimal | None:
    """The cost of a create body, read from the body itself: the price of the value it sends (or the declared
    default) times the image count it sends (or the default; what a task makes without a count)."""
    price = spec.price
    if price is None:
        return None
    wire = spec.wire(profile)
    sent = body["input"] if wire.layout is BodyLayout.INPUT else body

    def as_sent(name: str) -> Any:
        declared = wire.param(name)
        assert declared is not None
        return sent.get(name, declared.default)

    if price.by is None:
        unit = price.credits
    else:
        unit = price.by_value.get(price_key(as_sent(price.by))) if wire.param(price.by) else None
    if unit is None or price.per is PriceUnit.REQUEST:
        return unit
    count = wire.for_common("num_images")
    if count is None:
        return unit * spec.images_per_task
    images = as_sent(count.name)
    return None if images is None else unit * int(images)


def _cases(registry: Registry) -> list[tuple[ModelSpec, Profile]]:
    return [(entry.spec, profile) for entry in registry.models() for profile in entry.spec.profiles()]


@given(data=st.data())
def test_estimates_are_images_times_the_declared_price(kie_registry: Registry, data: st.DataObject) -> None:
    """Every installed model in each profile: the estimate is the price times the images the body asks for;
    `None` for a model without a price."""
    spec, profile = data.draw(st.sampled_from(_cases(kie_registry)))
    request = data.draw(valid_requests(spec, profile))
    with Client(api_key=None, registry=kie_registry) as client:
        prepared = client.prepare(spec.id, request, profile=profile)
    cost = estimate(prepared)
    assert cost == _expected(spec, profile, prepared.wire.body)
    if spec.price is None:
        assert cost is None


@given(data=st.data())
def test_estimates_of_every_kind_of_price(data: st.DataObject) -> None:
    spec, profile = data.draw(st.sampled_from(_cases(TEST_REGISTRY)))
    request = data.draw(valid_requests(spec, profile))
    with Client(api_key=None, registry=TEST_REGISTRY) as client:
        prepared = client.prepare(spec.id, request, profile=profile)
    assert estimate(prepared) == _expected(spec, profile, prepared.wire.body)


@pytest.mark.parametrize(
    ("model", "fields", "credits"),
    [
        ("test/by-resolution", {}, "8"),  # 1K, one image: neither is sent
        ("test/by-resolution", {"resolution": "4K", "num_images": 3}, "54"),
        ("test/by-resolution", {"resolution": "2k", "num_images": 1}, "12"),  # canonical spelling
        ("test/partly-priced", {"resolution": "1K"}, "6.5"),
        ("test/partly-priced", {"resolution": "2K"}, None),  # the docs state no price for it
        ("test/per-request", {"num_images": 4}, "2.5"),
        ("test/no-count-default", {}, None),  # how many images the service makes is not known
        ("test/no-count-default", {"num_images": 3}, "2.4"),
        ("test/unpriced", {"num_images": 2}, None),
    ],
)
def test_estimate_examples(model: str, fields: dict[str, Any], credits: str | None) -> None:
    with Client(api_key=None, registry=TEST_REGISTRY) as client:
        cost = estimate(client.prepare(model, prompt="a fox", **fields))
    assert cost == (None if credits is None else Decimal(credits))


def test_image_counts_as_sent() -> None:
    gpt4o = ModelSpec(
        id="t/4o",
        title="t",
        family="t",
        live=stock.market_wire("t/4o", stock.image_count(name="nVariants", choices=(1, 2, 4), omit_default=True)),
    )
    assert image_count(gpt4o, Profile.LIVE, {}) == 1  # left out: its default
    assert image_count(gpt4o, Profile.LIVE, {"nVariants": 4}) == 4
    assert image_count(gpt4o, Profile.LIVE, {"nVariants": "2"}) == 2  # sent as a string
    plain = ModelSpec(id="t/one", title="t", family="t", live=stock.market_wire("t/one", stock.prompt()))
    assert image_count(plain, Profile.LIVE, {"prompt": "x"}) == 1


#: The prices the docs state (kie-live-api.md §5 for google/nano-banana, kie-models-2026.md for the rest):
#: credits, or {value: credits} of the parameter named, and the unit.
_BY_RESOLUTION = {"1K": 6, "2K": 10, "4K": 16}
DOCUMENTED_PRICES: dict[str, tuple[object, str | None, PriceUnit]] = {
    "google/nano-banana": (4, None, PriceUnit.IMAGE),
    "nano-banana-2": ({"1K": 8, "2K": 12, "4K": 18}, "resolution", PriceUnit.IMAGE),
    "nano-banana-2-1": ({"1K": 4}, "resolution", PriceUnit.IMAGE),  # "about $0.02 at 1K", one source
    **{
        f"gpt-image-{version}-{kind}": (_BY_RESOLUTION, "resolution", PriceUnit.IMAGE)
        for version in ("2", "2-5-flare", "2-5-sunburst")
        for kind in ("text-to-image", "image-to-image")
    },
    "seedream/4.5-text-to-image": (6.5, None, PriceUnit.IMAGE),
    "seedream/4.5-edit": (6.5, None, PriceUnit.IMAGE),
    **{
        f"flux-2/pro-{kind}": ({"1K": 5, "2K": 7}, "resolution", PriceUnit.IMAGE)
        for kind in ("text-to-image", "image-to-image")
    },
    **{
        f"flux-2/flex-{kind}": ({"1K": 14, "2K": 24}, "resolution", PriceUnit.IMAGE)
        for kind in ("text-to-image", "image-to-image")
    },
    "grok-imagine/text-to-image": ({"false": 4, "true": 5}, "enable_pro", PriceUnit.REQUEST),
    "grok-imagine/image-to-image": (4, None, PriceUnit.REQUEST),
    "z-image": (0.8, None, PriceUnit.IMAGE),
    "topaz/image-upscale": (20, None, PriceUnit.REQUEST),  # 10 up to 2K, 20 at 4K: the estimate is the upper bound
}


def test_the_installed_prices_are_the_documented_ones(kie_registry: Registry) -> None:
    priced = {entry.spec.id: entry.spec.price for entry in kie_registry.models() if entry.spec.price is not None}
    assert set(priced) <= set(DOCUMENTED_PRICES), "a price the docs do not state"
    assert "google/nano-banana" in priced, "the check proves nothing"
    for model, price in priced.items():
        assert price is not None
        amounts, by, per = DOCUMENTED_PRICES[model]
        assert (price.by, price.per) == (by, per), model
        if by is None:
            assert price.credits == Decimal(str(amounts)), model
        else:
            assert isinstance(amounts, dict)
            assert price.by_value == {key: Decimal(str(value)) for key, value in amounts.items()}, model
        assert price.source, model


@pytest.mark.parametrize(
    "make",
    [
        lambda: Price(),
        lambda: Price(credits=-1),
        lambda: Price(credits=True),
        lambda: Price(credits="four"),
        lambda: Price(credits=float("nan")),
        lambda: Price(credits=1, by="resolution", by_value={"1K": 1}),
        lambda: Price(by="resolution"),
        lambda: Price(by_value={"1K": 1}),
        lambda: Price(by="resolution", by_value={"1K": -8}),
        lambda: Price(credits=1, per="token"),
    ],
)
def test_a_malformed_price_is_refused(make: Any) -> None:
    with pytest.raises(ValueError):
        make()


def test_a_price_must_vary_with_a_declared_parameter_and_its_values() -> None:
    wire = stock.market_wire("t/m", stock.prompt(), stock.resolution("1K", "2K", default="1K"))
    with pytest.raises(ValueError, match="does not take"):
        ModelSpec(id="t/m", title="t", family="t", live=wire, price=Price(by="quality", by_value={"high": 1}))
    with pytest.raises(ValueError, match="'8K' is not one of its values"):
        ModelSpec(id="t/m", title="t", family="t", live=wire, price=Price(by="resolution", by_value={"8K": 1}))
    spec = ModelSpec(id="t/m", title="t", family="t", live=wire, price=Price(by="resolution", by_value={"2K": 0.1}))
    assert spec.price is not None and spec.price.by_value == {"2K": Decimal("0.1")}
    assert to_json(spec)["price"] == {
        "credits": None,
        "per": "image",
        "by": "resolution",
        "by_value": {"2K": 0.1},
        "source": "",
    }


# -- kie models --------------------------------------------------------------------------------------------


def test_kie_models_shows_prices(kie: KieRunner, kie_registry: Registry) -> None:
    code, out, _ = kie("models")
    header, *rows = out.splitlines()
    column = header.index("CREDITS")
    shown = {row.split()[0]: row[column:].split()[0] for row in rows}
    assert code == 0 and shown["google/nano-banana"] == "4/image"
    assert all(shown[entry.spec.id] == "-" for entry in kie_registry.models() if entry.spec.price is None)
    code, out, _ = kie("models", "--json")
    prices = {model["id"]: model["price"] for model in map(json.loads, out.splitlines())}
    assert code == 0 and all(prices[entry.spec.id] == to_json(entry.spec.price) for entry in kie_registry.models())
    assert prices["google/nano-banana"]["credits"] == 4 and prices["nano-banana-pro"] is None
    _, out, _ = kie("models", "nano-banana")
    assert "  price: 4 credits per image (docs.kie.ai" in out
    _, out, _ = kie("models", "nbp")
    assert "  price: no price declared" in out


# -- --dry-run ---------------------------------------------------------------------------------------------


def _wire_body(registry: Registry, model: str, **fields: Any) -> Any:
    with Client(api_key=None, registry=registry) as client:
        prepared = client.prepare(model, **fields)
    return prepared.wire.method, prepared.wire.path, json.loads(json.dumps(prepared.wire.body))


@pytest.mark.parametrize(
    ("args", "model", "fields"),
    [
        (["nano-banana", "a fox", "--aspect-ratio", "16:9"], "nano-banana", {"aspect_ratio": "16:9"}),
        (
            ["seedream", "a fox", "-n", "2", "-p", "nsfw_checker=true"],
            "seedream",
            {"num_images": 2, "extra": {"nsfw_checker": True}},
        ),
        (
            ["nbp", "a fox", "--resolution", "4K", "--image", "https://example.com/a.png"],
            "nbp",
            {"resolution": "4K", "image_urls": ("https://example.com/a.png",)},
        ),
    ],
)
def test_a_dry_run_prints_the_wire_body_and_sends_nothing(
    kie: KieRunner,
    kie_emulator: Emulator,
    kie_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    model: str,
    fields: dict[str, Any],
) -> None:
    monkeypatch.delenv("KIE_API_KEY")  # a dry run needs no key
    code, out, err = kie("generate", *args, "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0, err
    method, path, body = _wire_body(kie_registry, model, prompt="a fox", **fields)
    endpoint, sent = out.splitlines()
    assert endpoint == f"{method} {kie_emulator.base_url}{path}" and json.loads(sent) == body
    assert err.startswith("kie: dry run: ") and err.endswith("; nothing was sent\n")
    assert kie_emulator.requests == [] and not kie_emulator.tasks
    assert not (tmp_path / "out").exists() and not (tmp_path / "journal.sqlite3").exists()


def test_a_dry_run_as_json_carries_the_estimate(kie: KieRunner, kie_emulator: Emulator, kie_registry: Registry) -> None:
    code, out, err = kie("generate", "nano-banana", "a fox", "--dry-run", "--json")
    assert code == 0, err
    shown = json.loads(out)
    method, path, body = _wire_body(kie_registry, "nano-banana", prompt="a fox")
    assert shown == {
        "model": "google/nano-banana",
        "method": method,
        "url": kie_emulator.base_url + path,
        "body": body,
        "uploads": [],
        "estimated_credits": 4,
    }
    assert "estimated cost 4 credits (about $0.02)" in err
    code, out, err = kie("generate", "nbp", "a fox", "--dry-run", "--json", "--emulator")
    assert json.loads(out)["estimated_credits"] is None and json.loads(out)["url"] == "/api/v1/jobs/createTask"
    assert "no price is declared for nano-banana-pro" in err and kie_emulator.requests == []


def test_a_dry_run_says_which_local_images_would_be_uploaded(
    kie: KieRunner, kie_emulator: Emulator, tmp_path: Path
) -> None:
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(photo)
    code, out, err = kie(
        "generate", "google/nano-banana-edit", "at night", "--image", str(photo), "--dry-run", "--json"
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["uploads"] == [photo.as_uri()] and shown["body"]["input"]["image_urls"] == [photo.as_uri()]
    assert "1 local image would be uploaded first" in err and kie_emulator.requests == []


@pytest.mark.parametrize(
    "args",
    [
        ["nano-banana-pro", "x", "--aspect-ratio", "7:3"],
        ["seedream", "x", "-n", "0"],
        ["nano-banana-pro", "x", "--timeout", "-1"],
        ["nano-banana-pro", "x", "--base-url", "http://kie.example"],
    ],
)
def test_a_dry_run_refuses_what_a_real_run_refuses(kie: KieRunner, kie_emulator: Emulator, args: list[str]) -> None:
    code, out, err = kie("generate", *args, "--dry-run")
    assert code == 2 and out == "" and err.startswith("kie: error:") and kie_emulator.requests == []


def test_a_batch_dry_run_shows_every_line_and_the_total(
    kie: KieRunner, kie_emulator: Emulator, kie_registry: Registry, tmp_path: Path
) -> None:
    file = tmp_path / "batch.txt"
    file.write_text(
        "a red fox\n"
        '{"prompt": "a wide fox", "aspect_ratio": "16:9"}\n'
        '{"model": "seedream", "prompt": "two foxes", "num_images": 2}\n'
        "a blue fox\n"
    )
    code, out, err = kie("batch", str(file), "--model", "nano-banana", "-o", str(tmp_path / "out"), "--dry-run")
    assert code == 0, err
    expected = {
        1: _wire_body(kie_registry, "nano-banana", prompt="a red fox"),
        2: _wire_body(kie_registry, "nano-banana", prompt="a wide fox", aspect_ratio="16:9"),
        3: _wire_body(kie_registry, "seedream", prompt="two foxes", num_images=2),
        4: _wire_body(kie_registry, "nano-banana", prompt="a blue fox"),
    }
    for number, line in enumerate(out.splitlines(), start=1):
        word, label, method, url, body = line.split(" ", 4)
        assert f"{word} {label}" == f"line {number}:" and (method, url, json.loads(body)) == (
            expected[number][0],
            kie_emulator.base_url + expected[number][1],
            expected[number][2],
        )
    assert err == (
        "kie: batch: dry run: 4 items, estimated 12 credits (about $0.06) for 3 of them"
        " (no price is declared for the others); nothing was sent\n"
    )
    assert kie_emulator.requests == [] and not (tmp_path / "out").exists()
    assert not (tmp_path / "journal.sqlite3").exists()

    code, out, err = kie("batch", str(file), "--model", "nano-banana", "--dry-run", "--json")
    shown = [json.loads(line) for line in out.splitlines()]
    assert [item["line"] for item in shown] == [1, 2, 3, 4]
    assert [item["estimated_credits"] for item in shown] == [4, 4, None, 4]
    assert [item["body"] for item in shown] == [expected[n][2] for n in (1, 2, 3, 4)]
    assert kie_emulator.requests == []


def test_a_batch_dry_run_reports_bad_lines(kie: KieRunner, kie_emulator: Emulator, tmp_path: Path) -> None:
    file = tmp_path / "batch.txt"
    file.write_text('a red fox\n{"prompt": "x", "aspect_ratio": "7:3"}\na blue fox\n')
    code, out, err = kie("batch", str(file), "--model", "nano-banana", "--dry-run")
    assert code == 2 and out == "" and "kie: line 2:" in err and "nothing was sent" in err
    code, out, err = kie("batch", str(file), "--model", "nano-banana", "--dry-run", "--skip-invalid")
    assert code == 2 and [line.split(":")[0] for line in out.splitlines()] == ["line 1", "line 3"]
    assert "2 items, estimated 8 credits (about $0.04), 1 bad line skipped; nothing was sent" in err
    assert kie_emulator.requests == []


# -- the estimate before a real run --------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _on_a_terminal(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """What `kie ARGS` writes to stderr when stderr is a terminal."""
    terminal = _Terminal()
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stderr", terminal)
        assert main([*args, "--poll-interval", "0.05"]) == 0
    return terminal.getvalue()


def test_the_estimate_is_shown_on_a_terminal_only(
    kie: KieRunner, kie_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, err = kie("generate", "nano-banana", "a fox", "-o", str(tmp_path))
    assert code == 0 and "estimated" not in err  # piped: as before
    shown = _on_a_terminal(monkeypatch, "generate", "nano-banana", "a fox", "-o", str(tmp_path))
    assert shown.startswith("kie: estimated cost: 4 credits (about $0.02)\n") and "submitted" in shown
    assert CLI_KEY not in shown
    assert "estimated" not in _on_a_terminal(monkeypatch, "generate", "nbp", "a fox", "-o", str(tmp_path))  # no price
    file = tmp_path / "batch.txt"
    file.write_text("a red fox\na blue fox\n")
    shown = _on_a_terminal(monkeypatch, "batch", str(file), "--model", "nano-banana", "-o", str(tmp_path))
    assert "kie: batch: 2 items to submit, estimated cost: 8 credits (about $0.04)\n" in shown
    assert len(kie_emulator.tasks) == 5
