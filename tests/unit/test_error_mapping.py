"""Kie's codes to typed errors: the table in kiecore.transport, and the structured fields every error keeps."""

from __future__ import annotations

import pytest

from kiecore import errors
from kiecore.transport import ERRORS, api_error


@pytest.mark.parametrize(
    ("code", "kind", "exit_code"),
    [
        (400, errors.InvalidRequestError, 1),
        (401, errors.AuthenticationError, 3),
        (402, errors.InsufficientCreditsError, 3),
        (404, errors.NotFoundError, 1),
        (422, errors.InvalidRequestError, 1),
        (429, errors.RateLimitedError, 1),
        (455, errors.ServiceUnavailableError, 1),
        (500, errors.ServerError, 1),
        (501, errors.APIError, 1),
        (502, errors.ServerError, 1),
        (503, errors.ServiceUnavailableError, 1),
        (550, errors.ServiceUnavailableError, 1),
        (599, errors.ServerError, 1),
        (600, errors.APIError, 1),
        (418, errors.APIError, 1),
    ],
)
def test_each_code_becomes_its_error(code: int, kind: type[errors.APIError], exit_code: int) -> None:
    error = api_error(code, "what Kie said", http_status=200, retry_after=None, host="api.kie.ai")
    assert type(error) is kind and error.exit_code == exit_code
    assert (error.code, error.http_status, error.kie_message) == (code, 200, "what Kie said")
    assert f"{code}: what Kie said" in str(error) and "\n" not in str(error)


def test_a_rate_limit_keeps_its_retry_after_and_the_host_is_named_for_404() -> None:
    limited = api_error(429, "", http_status=429, retry_after=7.0, host="api.kie.ai")
    assert isinstance(limited, errors.RateLimitedError) and limited.retry_after == 7.0 and "(429)" in str(limited)
    assert "api.kie.ai" in str(api_error(404, "gone", http_status=404, retry_after=None, host="api.kie.ai"))


def test_every_table_entry_names_its_detail() -> None:
    assert all("{detail}" in line for _, line in ERRORS.values())


def test_a_prefixed_error_keeps_its_type_and_facts_whatever_its_constructor_takes() -> None:
    refused = errors.InvalidParameterError("seed=-1 is out of range", parameter="seed", value=-1, named="seed")
    copied = errors.prefixed(refused, "item 2: ")
    assert (type(copied), str(copied), copied.parameter, copied.value) == (
        errors.InvalidParameterError,
        "item 2: seed=-1 is out of range",
        "seed",
        -1,
    )
    assert copied.renamed("--seed") == "item 2: --seed=-1 is out of range" and str(refused) == "seed=-1 is out of range"
    missing = errors.prefixed(errors.ModelNotInstalledError("google/nano-banana", "kiecore-nano-banana"), "line 3: ")
    assert type(missing) is errors.ModelNotInstalledError and str(missing).startswith("line 3: ")
