"""The shared wire helpers: every documented reply shape, and nothing but ParseError on garbage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from kiecore.declarations import Dialect
from kiecore.errors import ParseError
from kiecore.model import TaskState, TaskStatus
from kiecore.testing import strategies
from kiecore.wire import extract_result_urls, parse_status_reply, parse_submit_reply
from kiecore.wire.progress import fraction


def ok(data: Any, key: str = "msg") -> dict[str, Any]:
    return {"code": 200, key: "success", "data": data}


@pytest.mark.parametrize(
    ("data", "state"),
    [
        ({"state": "waiting"}, TaskState.QUEUED),
        ({"state": "queuing"}, TaskState.QUEUED),
        ({"state": "generating"}, TaskState.RUNNING),
        ({"state": "success", "resultJson": ""}, TaskState.SUCCEEDED),
        ({"state": "fail", "failCode": "500", "failMsg": "Internal server error"}, TaskState.FAILED),
        ({"state": "rendering"}, TaskState.UNKNOWN),
        ({"successFlag": 0, "status": "GENERATING", "progress": "0.45"}, TaskState.RUNNING),
        ({"successFlag": 1, "status": "SUCCESS"}, TaskState.SUCCEEDED),
        ({"successFlag": 2, "status": "GENERATE_FAILED"}, TaskState.FAILED),
        ({"successFlag": 3}, TaskState.FAILED),
        ({"successFlag": 7}, TaskState.FAILED),
        ({"successFlag": None, "status": "CREATE_TASK_FAILED", "progress": "0"}, TaskState.FAILED),
        ({"status": "pending"}, TaskState.QUEUED),
        ({"status": "processing", "progress": 50}, TaskState.RUNNING),
        ({"status": "completed", "imageUrl": "https://x/y.png"}, TaskState.SUCCEEDED),
        ({"status": "failed"}, TaskState.FAILED),
    ],
)
def test_documented_states(data: dict[str, Any], state: TaskState) -> None:
    assert parse_status_reply(ok(data)).state is state


def test_failure_details_are_kept() -> None:
    market = parse_status_reply(ok({"state": "fail", "failCode": "422", "failMsg": "prohibited content"}))
    assert (market.fail_code, market.fail_message) == ("422", "prohibited content")
    four_o = parse_status_reply(
        ok({"successFlag": 2, "status": "GENERATE_FAILED", "errorCode": 400, "errorMessage": "flagged"})
    )
    assert (four_o.fail_code, four_o.fail_message) == ("400", "flagged")


def test_progress_in_each_vocabulary() -> None:
    assert parse_status_reply(ok({"successFlag": 0, "status": "GENERATING", "progress": "0.45"})).progress == 0.45
    assert parse_status_reply(ok({"status": "processing", "progress": 45})).progress == 0.45
    assert parse_status_reply(ok({"state": "generating"})).progress is None
    assert fraction("abc", percent=False) is None
    assert fraction(float("nan"), percent=True) is None
    assert fraction(250, percent=True) == 1.0


def test_result_urls_in_every_place() -> None:
    market = ok({"state": "success", "resultJson": json.dumps({"resultUrls": ["https://c/a.png", "https://c/b.png"]})})
    assert extract_result_urls(market) == ["https://c/a.png", "https://c/b.png"]
    assert extract_result_urls(
        ok({"successFlag": 1, "status": "SUCCESS", "response": {"result_urls": ["https://c/1"]}})
    )
    flux = ok({"successFlag": 1, "response": {"originImageUrl": "https://o/x", "resultImageUrl": "https://c/r.jpg"}})
    assert extract_result_urls(flux) == ["https://c/r.jpg"]
    assert extract_result_urls(ok({"taskId": "t", "info": {"result_urls": ["https://c/cb.png"]}})) == [
        "https://c/cb.png"
    ]
    assert extract_result_urls(ok({"taskId": "t", "info": {"resultImageUrl": "https://c/f.png"}})) == [
        "https://c/f.png"
    ]
    assert extract_result_urls(ok({"status": "completed", "imageUrl": "https://c/one.png"})) == ["https://c/one.png"]


def test_submit_reply_in_both_spellings() -> None:
    assert parse_submit_reply(ok({"taskId": "abc"})) == "abc"
    assert parse_submit_reply({"code": 200, "message": "success", "data": {"task_id": "task_x"}}) == "task_x"
    with pytest.raises(ParseError):
        parse_submit_reply(ok({"id": "abc"}))
    with pytest.raises(ParseError):
        parse_submit_reply(ok(None))


def test_malformed_result_json_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        extract_result_urls(ok({"state": "success", "resultJson": "{not json"}))
    with pytest.raises(ParseError):
        extract_result_urls(ok({"state": "success", "resultJson": json.dumps({"resultUrls": [1, 2]})}))


@given(strategies.replies)
def test_parsers_raise_only_parse_error(reply: Any) -> None:
    """Each parser returns its type or raises ParseError; anything else escaping fails the test."""
    for parse, kind in ((parse_submit_reply, str), (parse_status_reply, TaskStatus), (extract_result_urls, list)):
        try:
            result = parse(reply)
        except ParseError:
            continue
        assert isinstance(result, kind), (parse.__name__, result)


#: A live recordInfo reply captured in 2026 (z-image; URL and ids shortened): successFlag and response beside state.
LIVE_2026_SUCCESS = {
    "code": 200,
    "msg": "success",
    "data": {
        "taskId": "152e0c",
        "model": "z-image",
        "state": "success",
        "param": "{}",
        "resultJson": json.dumps({"resultUrls": ["https://tempfile.aiquickdraw.com/js/z5/e2c4.png"]}),
        "failCode": None,
        "failMsg": None,
        "costTime": 6,
        "completeTime": 1789644179089,
        "createTime": 1789644173377,
        "creditsConsumed": 0.8,
        "operationType": "z-image",
        "response": {"resultUrls": ["https://tempfile.aiquickdraw.com/js/z5/e2c4.png"]},
        "successFlag": 1,
        "paramJson": "{}",
    },
}


@pytest.mark.parametrize("dialect", [Dialect.MARKET, None])
def test_a_live_2026_market_record_reads_as_market(dialect: Dialect | None) -> None:
    assert parse_status_reply(LIVE_2026_SUCCESS, dialect).state is TaskState.SUCCEEDED
    assert extract_result_urls(LIVE_2026_SUCCESS, dialect) == ["https://tempfile.aiquickdraw.com/js/z5/e2c4.png"]
    failed = {**LIVE_2026_SUCCESS["data"], "state": "fail", "successFlag": 2, "resultJson": "", "response": None}
    failed.update(failCode="500", failMsg="Internal server error")
    status = parse_status_reply(ok(failed), dialect)
    assert (status.state, status.fail_code, status.fail_message) == (TaskState.FAILED, "500", "Internal server error")


def test_a_market_record_with_only_response_urls_still_has_its_urls() -> None:
    data = {**LIVE_2026_SUCCESS["data"], "resultJson": ""}
    assert extract_result_urls(ok(data), Dialect.MARKET) == ["https://tempfile.aiquickdraw.com/js/z5/e2c4.png"]


def test_the_declared_dialect_comes_first_and_shape_only_for_other_dialects() -> None:
    flux = ok({"successFlag": 1, "response": {"resultImageUrl": "https://c/r.jpg"}})
    assert extract_result_urls(flux, Dialect.FLUX) == ["https://c/r.jpg"]
    assert extract_result_urls(flux, Dialect.MARKET) == ["https://c/r.jpg"]  # clearly a Flux reply
    market = ok({"state": "generating", "successFlag": 0})
    assert parse_status_reply(market, Dialect.FLUX).state is TaskState.RUNNING
    reference = ok({"status": "completed", "imageUrl": "https://c/one.png"})
    assert extract_result_urls(reference, Dialect.MARKET) == ["https://c/one.png"]


def test_deeply_nested_result_json_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="nested too deeply"):
        extract_result_urls(ok({"state": "success", "resultJson": "[" * 100_000}), Dialect.MARKET)
