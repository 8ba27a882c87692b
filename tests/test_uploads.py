"""Local images: checked before anything is sent, uploaded once (per bytes, host and key) on the create path,
and only their URLs reach the create body, the hooks and the journal."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import attrs
import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import kiecore
from kiecore.client import Client
from kiecore.emulator import Emulator
from kiecore.errors import (
    AuthenticationError,
    InvalidParameterError,
    KieError,
    MissingAPIKeyError,
    ParseError,
    TransportError,
    UploadError,
    UsageError,
)
from kiecore.journal import Journal
from kiecore.localimages import MAX_IMAGE_BYTES, file_url, local_files, local_path
from kiecore.model import GenerationRequest, Profile
from kiecore.ratelimit import RateLimits, account_fingerprint
from kiecore.registry import Registry
from kiecore.testing.endtoend import FAST_RETRY, check_image
from kiecore.testing.scripted import ScriptedTransport
from kiecore.testing.strategies import json_values
from kiecore.uploads import CACHE_SECONDS, UPLOAD_PATH, Uploader
from kiecore.validation import resolve_params
from kiecore.wire.request import WireRequest
from kiecore.wire.uploads import STREAM_UPLOAD_PATH, UploadedFile, parse_upload_reply, upload_error
from tests.conftest import CLI_KEY
from tests.sample_plugin import FOUR_O, MARKET

KEY = "sk-upload-test-key-0123456789"


def png(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    Image.new("RGB", (16, 12), colour).save(path, format="PNG")
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return png(tmp_path / "photo.png")


@pytest.fixture
def make_client(emulator: Emulator, sample_registry: Registry) -> Iterator[Callable[..., Client]]:
    """Clients of the sample emulator, uploading to its upload host."""
    made: list[Client] = []

    def make(**options: Any) -> Client:
        settings: dict[str, Any] = {
            "api_key": KEY,
            "base_url": emulator.base_url,
            "upload_url": emulator.upload_url,
            "registry": sample_registry,
            "poll_interval": 0.05,
            "retry": FAST_RETRY,
            "rate_limits": None,
            **options,
        }
        client = Client(**settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def uploads_sent(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.server == "uploads"]


def creates(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.server == "api" and r.method == "POST"]


# -- local checks, before anything is sent -------------------------------------------------------------------------


def refusal(request: GenerationRequest, model: Any = MARKET) -> str:
    with pytest.raises(InvalidParameterError) as caught:
        resolve_params(model, Profile.LIVE, request)
    return str(caught.value)


def test_a_missing_file_is_refused_naming_the_parameter(tmp_path: Path) -> None:
    message = refusal(GenerationRequest(prompt="x", image_urls=(str(tmp_path / "nope.png"),)))
    assert message.startswith("image_urls: ") and "no such file" in message and "\n" not in message


def test_a_value_no_file_system_takes_is_refused_not_crashed_on() -> None:
    message = refusal(GenerationRequest(prompt="x", image_urls=("photo\x00.png",)))
    assert message.startswith("image_urls must be an http(s) URL or the path of a local image file")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert "a directory, not an image file" in refusal(GenerationRequest(prompt="x", image_urls=(str(tmp_path),)))


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.png"  # the name says PNG; the bytes say otherwise
    notes.write_text("not an image at all")
    message = refusal(GenerationRequest(prompt="x", image_urls=(str(notes),)))
    assert "not a PNG, JPEG, WebP or GIF image" in message


def test_a_file_over_the_default_limit_is_refused(tmp_path: Path) -> None:
    big = png(tmp_path / "big.png")
    with big.open("r+b") as file:  # a sparse file: large, cheap, still a PNG by its first bytes
        file.truncate(MAX_IMAGE_BYTES + 1)
    assert "over the 30 MB limit" in refusal(GenerationRequest(prompt="x", image_urls=(str(big),)))
    with big.open("r+b") as file:
        file.truncate(MAX_IMAGE_BYTES)
    assert resolve_params(MARKET, Profile.LIVE, GenerationRequest(prompt="x", image_urls=(str(big),)))


def test_a_parameter_may_declare_a_smaller_limit(photo: Path) -> None:
    size = photo.stat().st_size
    wire = MARKET.live
    small = tuple(attrs.evolve(p, max_file_bytes=size - 1) if p.name == "image_urls" else p for p in wire.params)
    model = attrs.evolve(MARKET, live=attrs.evolve(wire, params=small))
    assert f"{size} bytes, over the {size - 1} bytes limit" in refusal(
        GenerationRequest(prompt="x", image_urls=(str(photo),)), model
    )


def test_other_schemes_are_refused_and_file_urls_accepted(photo: Path) -> None:
    assert "http(s) URL or the path of a local image" in refusal(
        GenerationRequest(prompt="x", image_urls=("ftp://host/a.png",))
    )
    params = resolve_params(MARKET, Profile.LIVE, GenerationRequest(prompt="x", image_urls=(photo.as_uri(),)))
    assert params["image_urls"] == [photo.as_uri()]


def test_a_relative_path_is_prepared_as_its_absolute_file_url(
    make_client: Callable[..., Client], photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(photo.parent)
    client = make_client()
    prepared = client.prepare("test/market", prompt="x", image_urls=("photo.png", "https://img.example/b.png"))
    assert prepared.request.image_urls == (photo.as_uri(), "https://img.example/b.png")
    assert prepared.params["image_urls"] == [photo.as_uri(), "https://img.example/b.png"]
    assert prepared.uploads == (photo.as_uri(),)
    assert prepared.wire.body is not None and prepared.wire.body["input"]["image_urls"][0] == photo.as_uri()


def test_extras_of_url_kinds_take_local_files_too(photo: Path) -> None:
    request = GenerationRequest(prompt="x", extra={"filesUrl": f"{photo},https://img.example/b.png"})
    params = resolve_params(FOUR_O, Profile.LIVE, request)
    assert params["filesUrl"] == [photo.as_uri(), "https://img.example/b.png"]
    with pytest.raises(InvalidParameterError, match=r"^filesUrl: "):
        resolve_params(FOUR_O, Profile.LIVE, GenerationRequest(prompt="x", extra={"filesUrl": "missing.png"}))


def test_requests_without_local_files_are_left_as_they_are() -> None:
    request = GenerationRequest(prompt="x", image_urls=("https://a.example/1.png",), extra={"filesUrl": "https://b/c"})
    assert local_files(FOUR_O.live, request) == []
    assert file_url("https://a.example/1.png") == "https://a.example/1.png"


def test_bad_local_input_sends_nothing(make_client: Callable[..., Client], emulator: Emulator, tmp_path: Path) -> None:
    client = make_client()
    with pytest.raises(InvalidParameterError):
        client.start("test/market", "x", image_urls=(str(tmp_path / "missing.jpg"),), output_dir=tmp_path)
    assert emulator.requests == []


# -- the upload host: configured, https except loopback ------------------------------------------------------------


def test_the_upload_host_is_https_unless_loopback(sample_registry: Registry, photo: Path) -> None:
    def prepare(upload_url: str) -> None:
        Client(api_key=KEY, upload_url=upload_url, registry=sample_registry).prepare(
            "test/market", prompt="x", image_urls=(str(photo),)
        )

    with pytest.raises(UsageError, match=r"plain http to uploads\.example"):
        prepare("http://uploads.example")
    with pytest.raises(UsageError, match="invalid upload URL"):
        prepare("ftp://uploads.example")
    prepare("https://uploads.example")
    prepare("http://127.0.0.1:9")
    prepare("http://localhost:9")


def test_the_default_upload_host_is_only_for_the_live_api_host(
    sample_registry: Registry, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KIE_UPLOAD_URL", raising=False)
    monkeypatch.delenv("KIE_BASE_URL", raising=False)
    assert Client(api_key=KEY, registry=sample_registry).upload_url == "https://kieai.redpandaai.co"
    other = Client(api_key=KEY, base_url="https://proxy.example", registry=sample_registry)
    assert other.upload_url is None
    other.prepare("test/market", prompt="x", image_urls=("https://img.example/a.png",))  # URLs need no upload host
    with pytest.raises(UsageError, match="set KIE_UPLOAD_URL"):
        other.prepare("test/market", prompt="x", image_urls=(str(photo),))
    monkeypatch.setenv("KIE_UPLOAD_URL", "https://uploads.example")
    assert Client(api_key=KEY, base_url="https://proxy.example").upload_url == "https://uploads.example"


# -- the whole journey ---------------------------------------------------------------------------------------------


def test_a_local_image_is_uploaded_and_only_its_url_is_sent(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    seen: list[Any] = []
    with Journal(tmp_path / "journal.sqlite3") as journal:
        client = make_client(journal=journal)
        registry = client.registry
        original = registry.build_request

        def spy(*args: Any, **kwargs: Any) -> WireRequest:
            seen.append((args, kwargs))
            return original(*args, **kwargs)

        registry.build_request = spy  # type: ignore[method-assign]
        result = client.generate(
            "test/market", "a fox", image_urls=(str(photo), "https://img.example/b.png"), output_dir=tmp_path / "o"
        )
        (entry,) = journal.entries()
    (upload,) = emulator.uploads
    assert upload.data == photo.read_bytes() and upload.mime_type == "image/png"
    (task,) = emulator.tasks.values()
    assert task.body["input"]["image_urls"] == [upload.download_url, "https://img.example/b.png"]
    assert entry.request.image_urls == (upload.download_url, "https://img.example/b.png")  # URLs, never paths
    assert check_image(result.files[0])
    # the hook saw the file: URL while preparing, then only http(s) URLs for what was sent
    sent_params = seen[-1][0][2]
    assert sent_params["image_urls"][0] == upload.download_url


def test_uploads_run_on_the_file_workers_outside_the_create_budget(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = Uploader.upload

    def spy(self: Uploader, path: Path, **options: Any) -> str:
        threads.append(threading.current_thread().name)
        return real(self, path, **options)

    monkeypatch.setattr(Uploader, "upload", spy)
    limits = RateLimits(creates=(1, 60.0), status=(50, 1.0), task_status=(3, 1.0))
    client = make_client(rate_limits=limits)
    first = client.start("test/market", "a fox", output_dir=tmp_path / "o")
    assert first.result(timeout=30).files
    # the one create slot is taken for a minute: an upload that needed it would not start before then
    second = client.start("test/market", "a fox again", image_urls=(str(photo),), output_dir=tmp_path / "o")
    for _ in range(500):
        if emulator.uploads:
            break
        time.sleep(0.01)
    assert len(emulator.uploads) == 1 and threads and threads[0].startswith("kie-files")
    assert not second.done()
    second.cancel()


def test_the_multipart_body_holds_the_file_and_the_upload_path(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    make_client().generate("test/market", "a fox", image_urls=(str(photo),), output_dir=tmp_path)
    (request,) = uploads_sent(emulator)
    assert (request.method, request.path) == ("POST", STREAM_UPLOAD_PATH)
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    assert message.get_content_type() == "multipart/form-data"
    parts = {part["Content-Disposition"].params["name"]: part for part in message.iter_parts()}
    assert set(parts) == {"file", "uploadPath", "fileName"}
    assert parts["file"].get_payload(decode=True) == photo.read_bytes()
    assert parts["file"].get_content_type() == "image/png"
    assert parts["uploadPath"].get_payload(decode=True) == UPLOAD_PATH.encode()
    name = parts["fileName"].get_payload(decode=True).decode()
    assert name.endswith(".png") and "photo" not in name  # named by its content, never by the local name
    assert parts["file"]["Content-Disposition"].params["filename"] == name


def test_the_key_goes_to_the_upload_host_and_never_to_the_file_host(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    make_client().generate("test/market", "a fox", image_urls=(str(photo),), output_dir=tmp_path)
    (upload,) = uploads_sent(emulator)
    assert upload.headers["Authorization"] == f"Bearer {KEY}"
    files = [r for r in emulator.requests if r.server == "files"]
    assert files and all("Authorization" not in r.headers and KEY.encode() not in r.body for r in files)
    assert all(not r.path.startswith("/uploads/") for r in files)  # the client never fetches what it uploaded
    assert {r.server for r in emulator.requests} == {"api", "uploads", "files"}


def test_a_failed_upload_fails_the_generation_and_creates_nothing(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    emulator.inject("server_error", on="upload", times=10)
    with Journal(tmp_path / "journal.sqlite3") as journal:
        client = make_client(journal=journal)
        with pytest.raises(UploadError, match="server error during the upload") as caught:
            client.generate("test/market", "a fox", image_urls=(str(photo),), output_dir=tmp_path)
        assert journal.entries() == []  # nothing recorded: nothing was sent
    assert caught.value.exit_code == 1 and caught.value.code == 500
    assert creates(emulator) == [] and emulator.tasks == {}


def test_a_refused_key_at_the_upload_host_is_an_authentication_error(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    emulator.inject("auth", on="upload")
    with pytest.raises(AuthenticationError, match="refused the API key for the upload") as caught:
        make_client().generate("test/market", "a fox", image_urls=(str(photo),), output_dir=tmp_path)
    assert caught.value.exit_code == 3 and KEY not in str(caught.value)
    assert creates(emulator) == []


def test_an_unreachable_upload_host_is_an_upload_error(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    client = make_client(upload_url="http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(UploadError, match=r"could not upload photo\.png to 127\.0\.0\.1:9"):
        client.generate("test/market", "a fox", image_urls=(str(photo),), output_dir=tmp_path, timeout=5)
    assert creates(emulator) == []


def test_a_server_error_at_the_upload_host_is_retried(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    emulator.inject("server_error", on="upload", times=2)
    make_client().generate("test/market", "a fox", image_urls=(str(photo),), output_dir=tmp_path)
    assert len(uploads_sent(emulator)) == 3 and len(emulator.uploads) == 1


def test_a_file_replaced_after_prepare_is_refused_at_upload(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    client = make_client()
    prepared = client.prepare("test/market", prompt="x", image_urls=(str(photo),))
    photo.write_text("no longer an image")
    with pytest.raises(UsageError, match="not a PNG"):
        client.start_submit(prepared).result(timeout=10)
    assert emulator.requests == []


# -- the cache -----------------------------------------------------------------------------------------------------


def test_the_same_bytes_are_uploaded_once_for_two_generations(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    client = make_client()
    copy = tmp_path / "copy.png"
    copy.write_bytes(photo.read_bytes())  # another path, the same bytes
    client.generate("test/market", "one", image_urls=(str(photo),), output_dir=tmp_path)
    client.generate("test/market", "two", image_urls=(str(copy), str(photo)), output_dir=tmp_path)
    assert len(uploads_sent(emulator)) == 1
    first, second = (task.body["input"]["image_urls"] for task in emulator.tasks.values())
    assert second == first * 2


def test_clients_sharing_a_journal_share_its_uploads(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        make_client(journal=journal).generate("test/market", "one", image_urls=(str(photo),), output_dir=tmp_path)
    with Journal(tmp_path / "journal.sqlite3") as journal:  # another client, another run
        make_client(journal=journal).generate("test/market", "two", image_urls=(str(photo),), output_dir=tmp_path)
        other_key = make_client(journal=journal, api_key="sk-another-key-0123456789")
        other_key.generate("test/market", "three", image_urls=(str(photo),), output_dir=tmp_path)
    assert len(uploads_sent(emulator)) == 2  # the second key does not reuse the first one's upload


def test_an_expired_journal_entry_uploads_again(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()
    fingerprint = account_fingerprint(emulator.upload_url, KEY)
    with Journal(tmp_path / "journal.sqlite3") as journal:
        old = time.time() - CACHE_SECONDS - 1
        journal.record_upload(emulator.upload_url, fingerprint, digest, "https://stale.example/x.png", uploaded_at=old)
        client = make_client(journal=journal)
        client.generate("test/market", "one", image_urls=(str(photo),), output_dir=tmp_path)
        (task,) = emulator.tasks.values()
        assert task.body["input"]["image_urls"] != ["https://stale.example/x.png"]
        assert len(uploads_sent(emulator)) == 1
        fresh = journal.cached_upload(emulator.upload_url, fingerprint, digest, newer_than=time.time() - 60)
        assert fresh is not None and fresh[0] == emulator.uploads[0].download_url


def test_a_fresh_journal_entry_is_used_without_uploading(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()
    fingerprint = account_fingerprint(emulator.upload_url, KEY)
    with Journal(tmp_path / "journal.sqlite3") as journal:
        journal.record_upload(emulator.upload_url, fingerprint, digest, "https://kept.example/x.png")
        make_client(journal=journal).generate("test/market", "one", image_urls=(str(photo),), output_dir=tmp_path)
    assert uploads_sent(emulator) == []
    (task,) = emulator.tasks.values()
    assert task.body["input"]["image_urls"] == ["https://kept.example/x.png"]


def test_the_memory_cache_expires_too(photo: Path) -> None:
    transport = ScriptedTransport({("POST", STREAM_UPLOAD_PATH): [success("https://f.example/1.png")]})
    now = [1000.0]
    uploader = Uploader(lambda: transport, upload_url="https://u.example", key_fingerprint="f", now=lambda: now[0])
    assert uploader.upload(photo) == uploader.upload(photo) == "https://f.example/1.png"
    assert len(transport.requests) == 1
    now[0] += CACHE_SECONDS + 1
    uploader.upload(photo)
    assert len(transport.requests) == 2


def test_concurrent_generations_share_one_upload(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    emulator.inject("slow", on="upload", seconds=0.3)  # every generation asks while the first upload is running
    client = make_client()
    futures = [client.start("test/market", f"fox {n}", image_urls=(str(photo),), output_dir=tmp_path) for n in range(4)]
    results = [future.result(timeout=30) for future in futures]
    assert len(results) == 4 and len(uploads_sent(emulator)) == 1
    assert len({tuple(task.body["input"]["image_urls"]) for task in emulator.tasks.values()}) == 1


def test_waiters_share_the_outcome_of_a_failed_upload(photo: Path) -> None:
    gate = threading.Event()

    class Slow(ScriptedTransport):
        def send(self, request: WireRequest, **kwargs: Any) -> Any:
            gate.wait(5)
            return super().send(request, **kwargs)

    transport = Slow({("POST", STREAM_UPLOAD_PATH): [TransportError("connection refused")]})
    uploader = Uploader(lambda: transport, upload_url="https://u.example", key_fingerprint="f")
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            uploader.upload(photo)
        except KieError as error:
            errors.append(error)

    threads = [threading.Thread(target=upload) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(transport.requests) == 1 and len(errors) == 3
    assert all(isinstance(error, UploadError) for error in errors)


# -- the envelope --------------------------------------------------------------------------------------------------


def success(url: str) -> dict[str, Any]:
    data = {"fileName": "a.png", "filePath": "p/a.png", "downloadUrl": url, "fileSize": 5, "mimeType": "image/png"}
    return {"success": True, "code": 200, "msg": "File uploaded successfully", "data": {**data, "uploadedAt": "t"}}


def test_a_successful_envelope_is_read() -> None:
    assert parse_upload_reply(success("https://f.example/a.png"), host="h") == UploadedFile(
        download_url="https://f.example/a.png",
        file_name="a.png",
        file_path="p/a.png",
        file_size=5,
        mime_type="image/png",
        uploaded_at="t",
    )
    odd = {"code": 200, "data": {"downloadUrl": "https://f/a", "fileSize": "7", "uploadedAt": 1700000000000}}
    assert parse_upload_reply(odd, host="h").file_size == 7  # no "success", but code 200; facts read leniently


@pytest.mark.parametrize(
    ("reply", "error", "fragment"),
    [
        ({"success": False, "code": 401, "msg": "Authentication failed: Invalid API Key"}, AuthenticationError, "key"),
        ({"success": False, "code": 400, "msg": "file is required"}, UploadError, "refused the upload (400"),
        ({"success": False, "code": 405, "msg": "Method Not Allowed"}, UploadError, "KIE_UPLOAD_URL"),
        ({"success": False, "code": 500, "msg": "boom"}, UploadError, "server error during the upload (500"),
        ({"success": False, "code": 200}, UploadError, "did not confirm the upload"),
        ({"success": True, "code": 200, "data": None}, UploadError, "without a data object"),
        ({"success": True, "code": 200, "data": {"fileName": "a"}}, UploadError, "without a downloadUrl"),
        ({"success": True, "code": 200, "data": {"downloadUrl": "ftp://x/a"}}, UploadError, "not an http(s) URL"),
        ([1, 2], UploadError, "not a JSON object"),
    ],
)
def test_refusals_and_broken_envelopes_are_typed(reply: Any, error: type[KieError], fragment: str) -> None:
    with pytest.raises(error) as caught:
        parse_upload_reply(reply, host="kieai.redpandaai.co")
    assert fragment in str(caught.value) and type(caught.value) is error


def test_server_text_is_redacted() -> None:
    reply = {"success": False, "code": 400, "msg": f"bad key {KEY}"}
    with pytest.raises(UploadError) as caught:
        parse_upload_reply(reply, host="h", redact=lambda text: text.replace(KEY, "***"))
    assert KEY not in str(caught.value) and "***" in str(caught.value)


def test_codes_map_to_errors() -> None:
    assert isinstance(upload_error(401, "", host="h"), AuthenticationError)
    for code in (400, 405, 429, 500, 503, 418):
        made = upload_error(code, "m", host="h")
        assert type(made) is UploadError and made.code == code and made.kie_message == "m"


_ENVELOPES = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"success": json_values, "code": st.one_of(st.integers(), json_values), "msg": json_values, "data": json_values}
    ),
    st.fixed_dictionaries(
        {
            "success": st.just(True),
            "code": st.just(200),
            "data": st.dictionaries(
                st.sampled_from(["downloadUrl", "fileName", "filePath", "fileSize", "mimeType", "uploadedAt"]),
                st.one_of(json_values, st.just("https://f.example/x.png")),
            ),
        }
    ),
)


@given(_ENVELOPES)
def test_envelope_parsing_raises_only_the_typed_errors(reply: Any) -> None:
    try:
        uploaded = parse_upload_reply(reply, host="h")
    except (UploadError, AuthenticationError):
        return
    assert uploaded.download_url.startswith(("http://", "https://"))


# -- Flux Kontext's one input image --------------------------------------------------------------------------------


def test_flux_takes_one_image_as_its_input_image(photo: Path) -> None:
    from kiecore_flux_kontext import FLUX_KONTEXT_PRO

    params = resolve_params(
        FLUX_KONTEXT_PRO, Profile.LIVE, GenerationRequest(prompt="snow", image_urls=("https://img.example/a.png",))
    )
    assert params["inputImage"] == "https://img.example/a.png"
    local = resolve_params(FLUX_KONTEXT_PRO, Profile.LIVE, GenerationRequest(prompt="snow", image_urls=(str(photo),)))
    assert local["inputImage"] == photo.as_uri()
    with pytest.raises(InvalidParameterError, match="takes one input image, got 2") as caught:
        resolve_params(
            FLUX_KONTEXT_PRO,
            Profile.LIVE,
            GenerationRequest(prompt="snow", image_urls=("https://img.example/a.png", str(photo))),
        )
    assert caught.value.parameter == "inputImage"


# -- Client.upload and AsyncClient.upload ---------------------------------------------------------------------------


def test_client_upload_gives_a_url_the_file_host_serves(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path
) -> None:
    client = make_client()
    url = client.upload(photo)
    assert client.upload(str(photo)) == url and len(uploads_sent(emulator)) == 1
    served = urllib3.request("GET", url, retries=False)
    assert served.status == 200 and served.data == photo.read_bytes()
    assert served.headers["Content-Type"] == "image/png"
    with pytest.raises(InvalidParameterError, match=r"^path: .*no such file"):
        client.upload(photo.parent / "missing.png")
    with pytest.raises(UsageError, match="already a URL"):
        client.upload("https://img.example/a.png")


def test_async_client_upload(emulator: Emulator, sample_registry: Registry, photo: Path) -> None:
    async def main() -> str:
        async with kiecore.AsyncClient(
            api_key=KEY, base_url=emulator.base_url, upload_url=emulator.upload_url, registry=sample_registry
        ) as client:
            return await client.upload(photo)

    url = asyncio.run(main())
    assert url == emulator.uploads[0].download_url


def test_an_upload_needs_a_key(emulator: Emulator, sample_registry: Registry, photo: Path) -> None:
    transport = ScriptedTransport({}, base_url=emulator.base_url)
    client = Client(transport=transport, upload_url=emulator.upload_url, registry=sample_registry, api_key="")
    with pytest.raises(MissingAPIKeyError):
        client.upload(photo)


def test_a_non_json_upload_reply_is_an_upload_error(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path
) -> None:
    emulator.inject("non_json", on="upload", times=10)
    with pytest.raises(UploadError, match="not JSON"):
        make_client().upload(photo)
    assert not issubclass(UploadError, ParseError)


# -- the command line ----------------------------------------------------------------------------------------------


def test_kie_generate_edits_a_local_photo_on_the_emulator(
    kie: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.new("RGB", (40, 30), (20, 90, 160)).save(tmp_path / "photo.jpg", format="JPEG")
    monkeypatch.chdir(tmp_path)
    code, out, err = kie(
        "generate", "google/nano-banana-edit", "make it night", "--image", "./photo.jpg", "--emulator", "-o", "out"
    )
    assert code == 0, err
    (path,) = (Path(line) for line in out.splitlines())
    assert path.parent == tmp_path / "out" and check_image(path)


def test_kie_generate_refuses_a_bad_local_path_sending_nothing(
    kie: Any, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    for value, fragment in (("./photo.jpg", "no such file"), ("notes.txt", "not a PNG"), (".", "a directory")):
        code, out, err = kie("generate", "google/nano-banana-edit", "x", "--image", value, "-o", str(tmp_path))
        assert code == 2 and out == ""
        (line,) = err.splitlines()
        assert line.startswith(f"kie: error: --image: {value}: ") and fragment in line
    assert kie_emulator.requests == []


def test_kie_batch_uploads_a_shared_image_once(
    kie: Any, kie_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    png(tmp_path / "ref.png")
    lines = [json.dumps({"prompt": f"fox {n}", "image": "ref.png"}) for n in range(3)]
    (tmp_path / "prompts.txt").write_text("\n".join(lines) + "\n")
    code, out, err = kie("batch", "prompts.txt", "--model", "google/nano-banana-edit", "-o", "out")
    assert code == 0, err
    assert len(out.splitlines()) == 3
    assert len([r for r in kie_emulator.requests if r.server == "uploads"]) == 1
    assert all(
        r.headers.get("Authorization") == f"Bearer {CLI_KEY}" for r in kie_emulator.requests if r.server != "files"
    )


def test_the_api_key_never_appears_in_what_an_upload_leaves(
    make_client: Callable[..., Client], emulator: Emulator, photo: Path, tmp_path: Path
) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        make_client(journal=journal).generate("test/market", "a fox", image_urls=(str(photo),), output_dir=tmp_path)
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("journal.sqlite3*"))
    assert emulator.uploads[0].download_url.encode() in raw  # the raw bytes really hold the upload's record...
    assert KEY.encode() not in raw and b"Bearer" not in raw  # ...and nothing like the key


_NAMES = st.text(alphabet=st.sampled_from("abcXYZ019 _-.%?#&+=é漢"), min_size=1, max_size=20).filter(
    lambda name: name not in (".", "..")
)


@given(_NAMES)
def test_a_local_path_survives_its_file_url(name: str) -> None:
    expected = Path(os.path.abspath(name))
    prepared = file_url(name)
    assert prepared.startswith("file:///") and local_path(prepared) == expected
    assert file_url(prepared) == prepared  # preparing twice changes nothing
