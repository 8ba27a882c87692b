"""The transport's pure helpers: which base URLs are accepted, which keys can travel, and how replies are read."""

from __future__ import annotations

from typing import Any

import pytest
from urllib3 import HTTPHeaderDict

from kiecore import transport
from kiecore.errors import KieError, UsageError
from kiecore.transport import KieFailure, check_base_url, is_loopback

# -- which hosts and base URLs are accepted ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("api.kie.ai", False),
        ("localhost.example", False),
        ("", False),
    ],
)
def test_only_localhost_and_loopback_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("base_url", "normalised"),
    [
        ("https://api.kie.ai", "https://api.kie.ai"),
        ("https://api.kie.ai/", "https://api.kie.ai"),
        ("https://proxy.example:8443/kie//", "https://proxy.example:8443/kie"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://127.0.0.1:9/api", "http://127.0.0.1:9/api"),
        ("http://localhost:8080/kieX/", "http://localhost:8080/kieX"),
        ("http://[::1]:9", "http://[::1]:9"),
    ],
)
def test_a_base_url_is_accepted_without_its_trailing_slashes(base_url: str, normalised: str) -> None:
    assert check_base_url(base_url) == normalised


@pytest.mark.parametrize("base_url", ["ftp://api.kie.ai", "api.kie.ai", "https://", "https:///path", ""])
def test_a_base_url_without_an_http_scheme_or_host_is_refused_by_name(base_url: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_base_url(base_url)
    assert str(caught.value) == f"invalid base URL {base_url!r}: use https://host[:port]"


def test_the_refusal_names_what_the_url_is_for() -> None:
    with pytest.raises(UsageError) as caught:
        check_base_url("gopher://upload.kie.ai", what="upload URL")
    assert str(caught.value) == "invalid upload URL 'gopher://upload.kie.ai': use https://host[:port]"


@pytest.mark.parametrize("base_url", ["http://api.kie.ai", "http://192.168.1.5:8080/", "http://localhost.example"])
def test_plain_http_to_a_host_that_is_not_loopback_is_refused(base_url: str) -> None:
    host = base_url.split("//")[1].split(":")[0].rstrip("/")
    with pytest.raises(UsageError) as caught:
        check_base_url(base_url)
    assert str(caught.value) == f"refusing to send the API key over plain http to {host}; use https"


# -- which keys can travel in a header ---------------------------------------------------------------------


def test_a_latin1_key_is_sent_cleaned() -> None:
    assert transport._sendable_key(" kie-key-\u00ff\u00e9 \n") == "kie-key-\u00ff\u00e9"


def test_a_key_beyond_latin1_is_refused_without_quoting_it() -> None:
    with pytest.raises(UsageError) as caught:
        transport._sendable_key("kie-key-\u0100")
    assert str(caught.value) == (
        "the API key contains a character that cannot be sent in an HTTP header; check KIE_API_KEY"
    )


# -- reading a reply -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "length"),
    [
        ({"Content-Length": "1048577"}, 1048577),
        ({"content-length": "12"}, 12),
        ({"Content-Length": ""}, 0),
        ({"Content-Length": "12, 12"}, 0),
        ({"Content-Length": "lots"}, 0),
        ({}, 0),
    ],
)
def test_the_declared_length_is_zero_unless_it_is_a_number(headers: dict[str, str], length: int) -> None:
    assert transport._declared_length(HTTPHeaderDict(headers)) == length


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        (b'{"code": 200}', (True, {"code": 200})),
        (b"null", (True, None)),
        (b"0", (True, 0)),
        (b"", (False, None)),
        (b"<html>", (False, None)),
        (b"\xff\xfe{", (False, None)),
        (b"[" * 100_000 + b"]" * 100_000, (False, None)),
    ],
    ids=["object", "null", "zero", "empty", "html", "not-utf8", "too-deep"],
)
def test_a_body_is_json_or_nothing(data: bytes, decoded: tuple[bool, Any]) -> None:
    assert transport._decode(data) == decoded


@pytest.mark.parametrize(
    ("reply", "code"),
    [({"code": 433}, 433), ({"code": "422"}, 422), ({"code": 0}, 0), ({"msg": "no code"}, 503), ([1, 2], 503)],
)
def test_the_body_code_falls_back_to_the_http_status_only_when_absent(reply: Any, code: int) -> None:
    assert transport._body_code(reply, 503) == code


@pytest.mark.parametrize(
    ("http_status", "body_code", "code"),
    [
        (200, 401, 401),
        (200, 550, 550),
        (200, 455, 455),
        (403, 499, 499),
        (422, 400, 400),
        (403, 500, 403),
        (404, 399, 404),
        (401, 200, 401),
        (403, None, 403),
    ],
)
def test_a_refusal_is_reported_under_the_body_code_only_when_it_names_one(
    http_status: int, body_code: int | None, code: int
) -> None:
    assert transport._refusal_code(http_status, body_code) == code


@pytest.mark.parametrize(
    ("text", "limit", "clipped"),
    [
        ("short", 10, "short"),
        ("exactly 10", 10, "exactly 10"),
        ("eleven char", 10, "eleven ..."),
        ("  two\n lines\tand  tabs ", 100, "two lines and tabs"),
        ("a\r\nb" * 3, 6, "a b..."),
        ("", 5, ""),
    ],
)
def test_clip_keeps_one_line_within_its_limit(text: str, limit: int, clipped: str) -> None:
    assert transport._clip(text, limit) == clipped
    assert len(transport._clip(text, limit)) <= limit


def test_a_failure_may_be_retried_unless_it_says_otherwise() -> None:
    error = KieError("lost")
    failure = KieFailure(error)
    assert (failure.error, failure.retryable, failure.retry_after) == (error, True, None)
    final = KieFailure(error, retryable=False, retry_after=3.0)
    assert (final.retryable, final.retry_after) == (False, 3.0)
