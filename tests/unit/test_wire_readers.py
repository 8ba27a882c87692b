"""The wire's small readers and builders: envelopes, progress, run times, upload replies and refusals, links."""

from __future__ import annotations

from typing import Any

import pytest

import kiecore.wire
from kiecore.dialects import reading
from kiecore.errors import AuthenticationError, ParseError, UploadError
from kiecore.model import GenerationRequest, Profile, TaskState
from kiecore.wire.builders import build_create_request, build_status_request
from kiecore.wire.envelope import json_string, reply_message, result_holders, run_seconds, url_list
from kiecore.wire.links import parse_link_reply
from kiecore.wire.progress import fraction
from kiecore.wire.request import WireRequest
from kiecore.wire.states import state_from_flag, state_from_word
from kiecore.wire.uploads import parse_upload_reply, upload_error
from tests import sample_plugin


def parse_error(read: Any, *args: Any) -> str:
    with pytest.raises(ParseError) as refused:
        read(*args)
    return str(refused.value)


# -- progress ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "percent", "expected"),
    [
        (None, False, None),
        (True, True, None),  # a flag is not a progress
        (object(), False, None),
        (float("inf"), False, None),
        ("0.45", False, 0.45),  # 4o: a fraction as a string
        ("0.45", True, 0.0045),  # a percent field keeps its unit, whatever the string says
        ("45", False, 0.45),  # a string above 1 is a percent
        ("1", False, 1.0),  # 1 is the whole, not one percent
        ("2", False, 0.02),
        ("45%", False, 0.45),
        (" 45 % ", False, 0.45),
        ("0.5%", False, 0.005),  # the sign makes it a percent even below 1
        ("%45", False, None),
        ("45X", False, None),
        (45, True, 0.45),  # the reference: an integer percent
        (0.5, True, 0.005),
        (1.5, False, 0.015),  # a number above 1 is a percent
        (1, False, 1.0),
        (250, True, 1.0),
        (-5, True, 0.0),
    ],
)
def test_progress_becomes_a_fraction_of_one(value: Any, percent: bool, expected: float | None) -> None:
    assert fraction(value, percent=percent) == (None if expected is None else pytest.approx(expected))


# -- the envelope and run times ------------------------------------------------------------------------------------


def test_a_reply_message_is_msg_then_message_then_nothing() -> None:
    assert reply_message({"msg": "a", "message": "b"}) == "a"
    assert reply_message({"msg": "", "message": "b"}) == "b"
    assert reply_message({"msg": 5}) == ""
    assert reply_message(["msg"]) == ""


def test_field_readers_say_which_field_is_wrong() -> None:
    assert parse_error(json_string, 5, "resultJson") == "resultJson is not a JSON string"
    assert parse_error(json_string, "{", "resultJson").startswith("resultJson is not valid JSON: ")
    assert parse_error(result_holders, {"response": 5}) == "'response' is not an object"
    assert parse_error(result_holders, {"info": "x"}) == "'info' is not an object"
    assert url_list("", "resultUrls") == []
    assert url_list("https://a/1.png", "resultUrls") == ["https://a/1.png"]


@pytest.mark.parametrize(
    ("created", "completed", "seconds"),
    [
        (1_000, 2_500, 1.5),
        (0, 86_400_000, 86_400.0),  # a day is the longest run learned from
        (0, 86_400_001, None),
        (2_000, 1_000, None),
        (True, 2_000, None),
        (1_000, False, None),
        ("1000", 2_000, None),
        (1_000, "2000", None),
    ],
)
def test_a_run_time_is_read_from_unix_milliseconds(created: Any, completed: Any, seconds: float | None) -> None:
    assert run_seconds(created, completed) == seconds


def test_state_words_and_flags_map_to_the_common_states() -> None:
    assert state_from_word(" Success ") is TaskState.SUCCEEDED
    assert state_from_word(1) is TaskState.UNKNOWN
    assert state_from_flag("1") is TaskState.SUCCEEDED
    assert state_from_flag(7) is TaskState.FAILED
    assert state_from_flag("soon") is TaskState.UNKNOWN


# -- requests ------------------------------------------------------------------------------------------------------


def test_a_query_may_be_given_as_a_mapping() -> None:
    assert WireRequest("GET", "/p", query={"taskId": 7}).query == (("taskId", "7"),)


def test_the_status_request_asks_the_models_status_path_for_the_task() -> None:
    request = build_status_request(sample_plugin.FLUX, Profile.LIVE, "t1")
    assert request == WireRequest("GET", "/api/v1/flux/kontext/record-info", query=(("taskId", "t1"),))


def test_a_flat_create_body_carries_the_params_and_the_callback_beside_the_model() -> None:
    request = build_create_request(
        sample_plugin.FLUX,
        Profile.LIVE,
        {"prompt": "a fox", "aspectRatio": "1:1"},
        GenerationRequest(prompt="a fox", callback_url="https://hooks.example/kie"),
    )
    assert request.body == {
        "model": "test/flux",
        "callBackUrl": "https://hooks.example/kie",
        "prompt": "a fox",
        "aspectRatio": "1:1",
    }


def test_the_dialect_readers_are_reachable_from_the_wire_package() -> None:
    assert kiecore.wire.parse_status_reply is reading.parse_status_reply
    assert kiecore.wire.extract_result_urls is reading.extract_result_urls
    with pytest.raises(AttributeError) as missing:
        _ = kiecore.wire.parse_everything  # type: ignore[attr-defined]
    assert str(missing.value) == "module 'kiecore.wire' has no attribute 'parse_everything'"


# -- fresh links ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        {"code": 200, "data": "https://cdn.example/a.png?sig=1"},
        {"code": 200, "data": {"url": "https://cdn.example/a.png?sig=1"}},
        {"code": 200, "data": {"downloadUrl": "https://cdn.example/a.png?sig=1"}},
    ],
)
def test_a_fresh_link_is_read_as_a_string_or_inside_an_object(reply: Any) -> None:
    assert parse_link_reply(reply) == "https://cdn.example/a.png?sig=1"


@pytest.mark.parametrize(
    "reply", [{"data": "ftp://cdn.example/a.png"}, {"data": {"link": "https://a/b"}}, {"data": None}, ["data"]]
)
def test_a_reply_without_an_http_link_is_a_parse_error(reply: Any) -> None:
    assert parse_error(parse_link_reply, reply) == "the download-url reply holds no http(s) link"


# -- uploads -------------------------------------------------------------------------------------------------------


def upload_refusal(reply: Any) -> UploadError:
    with pytest.raises(UploadError) as refused:
        parse_upload_reply(reply, host="up.example")
    return refused.value


def test_an_unconfirmed_upload_quotes_what_the_host_said_in_one_line() -> None:
    said = upload_refusal({"success": False, "code": 200, "msg": "  busy,\n  try\tlater "})
    assert str(said) == "up.example did not confirm the upload (success False, code 200): busy, try later"
    silent = upload_refusal({"success": "yes"})
    assert str(silent) == "up.example did not confirm the upload (success 'yes', code None)"


def test_a_long_host_message_is_clipped_to_300_characters() -> None:
    fits = "m" * 300
    assert upload_refusal({"success": False, "code": 400, "msg": fits}).kie_message == fits
    clipped = upload_refusal({"success": False, "code": 400, "msg": "m" * 301}).kie_message
    assert clipped == "m" * 297 + "..."


def test_a_refused_upload_names_the_host_and_what_to_do() -> None:
    refused = upload_refusal({"success": False, "code": 400, "msg": "file is required"})
    assert str(refused) == "up.example refused the upload (400: file is required); check the file"
    assert (type(refused), refused.code, refused.kie_message) == (UploadError, 400, "file is required")


@pytest.mark.parametrize(
    ("code", "message", "line"),
    [
        (400, "", "h refused the upload (400); check the file"),
        (405, "m", "h does not take uploads this way (405: m); check the upload URL (KIE_UPLOAD_URL)"),
        (429, "m", "h rate limited the upload (429: m); try again later"),
        (500, "m", "h had a server error during the upload (500: m); try again later"),
        (599, "m", "h had a server error during the upload (599: m); try again later"),
        (600, "m", "h answered the upload with 600: m"),
        (418, "", "h answered the upload with 418"),
    ],
)
def test_each_upload_refusal_code_has_its_line(code: int, message: str, line: str) -> None:
    error = upload_error(code, message, host="h")
    assert (type(error), str(error), error.code, error.kie_message) == (UploadError, line, code, message)


def test_a_refused_key_on_upload_is_an_authentication_error_with_its_facts() -> None:
    error = upload_error(401, "Invalid API Key", host="h", http_status=401)
    assert isinstance(error, AuthenticationError)
    assert str(error) == "h refused the API key for the upload (401: Invalid API Key); check KIE_API_KEY"
    assert (error.http_status, error.code, error.kie_message) == (401, 401, "Invalid API Key")
