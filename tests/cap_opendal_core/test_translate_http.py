"""HTTP status + Cloudflare envelope → CapabilityError; Retry-After; odd and huge bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from cap_opendal_core import errors
from cap_opendal_core.translate import from_exception, from_http, parse_retry_after


def envelope(*errs: tuple[int, str], **extra: Any) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"code": c, "message": m} for c, m in errs],
        "messages": [],
        "result": None,
        **extra,
    }


# --- statuses without a useful body ------------------------------------------------------------

STATUS_TABLE = [
    (304, errors.PreconditionFailed, False),
    (400, errors.InvalidInput, False),
    (401, errors.Unauthorized, False),
    (402, errors.Forbidden, False),
    (403, errors.Forbidden, False),
    (404, errors.NotFound, False),
    (405, errors.Unsupported, False),
    (408, errors.Unavailable, True),
    (409, errors.AlreadyExists, False),
    (410, errors.NotFound, False),
    (412, errors.PreconditionFailed, False),
    (413, errors.LimitExceeded, False),
    (414, errors.LimitExceeded, False),
    (415, errors.InvalidInput, False),
    (416, errors.InvalidInput, False),
    (422, errors.InvalidInput, False),
    (425, errors.Unavailable, True),
    (428, errors.PreconditionFailed, False),
    (429, errors.RateLimited, True),
    (431, errors.LimitExceeded, False),
    (500, errors.Unavailable, True),
    (501, errors.Unsupported, False),
    (502, errors.Unavailable, True),
    (503, errors.Unavailable, True),
    (504, errors.Unavailable, True),
    (507, errors.Unavailable, True),
    (522, errors.Unavailable, True),  # Cloudflare: connection timed out
    (418, errors.BackendError, False),
    (451, errors.BackendError, False),
    (200, errors.BackendError, False),
]


@pytest.mark.parametrize(("status", "kind", "retryable"), STATUS_TABLE)
@pytest.mark.parametrize(
    "body", [None, b"", "plain text", envelope()], ids=["none", "empty", "text", "envelope"]
)
def test_status_table(status: int, kind: type[errors.CapabilityError], retryable: bool, body: Any) -> None:
    cause = RuntimeError("the response")
    err = from_http(status, body, capability="kv", operation="get", key="k", cause=cause)
    assert type(err) is kind
    assert err.retryable is retryable
    assert (err.capability, err.operation, err.key) == ("kv", "get", "k")
    assert err.__cause__ is cause
    assert err.message.startswith(f"HTTP {status}")


def test_reason_phrase_and_body_text_in_message() -> None:
    err = from_http(404, "no such thing here", capability="kv", operation="get")
    assert err.message == "HTTP 404 Not Found: no such thing here"


# --- Cloudflare error codes -------------------------------------------------------------------

CODE_TABLE = [
    # capability, status, code, expected, retryable
    ("kv", 404, 10009, errors.NotFound, False),  # key not found
    ("kv", 404, 10013, errors.Misconfigured, False),  # namespace not found: not a missing key!
    ("kv", 400, 10011, errors.Misconfigured, False),  # malformed namespace ID
    ("r2", 400, 10011, errors.InvalidInput, False),  # EntityTooSmall
    ("kv", 400, 10030, errors.LimitExceeded, False),  # key too long
    ("kv", 413, 10024, errors.LimitExceeded, False),  # payload too large
    ("kv", 400, 10033, errors.InvalidInput, False),  # invalid expiration
    ("kv", 400, 10034, errors.InvalidInput, False),  # invalid expiration ttl
    ("kv", 403, 10037, errors.Forbidden, False),  # lacks permission
    ("kv", 429, 10022, errors.RateLimited, True),  # too many requests
    ("kv", 400, 10042, errors.InvalidInput, False),  # illegal key name
    ("kv", 409, 10014, errors.AlreadyExists, False),  # namespace already exists
    ("r2", 404, 10007, errors.NotFound, False),  # NoSuchKey
    ("r2", 404, 10006, errors.Misconfigured, False),  # NoSuchBucket
    ("r2", 412, 10031, errors.PreconditionFailed, False),
    ("r2", 400, 10012, errors.LimitExceeded, False),  # MetadataTooLarge
    ("r2", 400, 100100, errors.LimitExceeded, False),  # EntityTooLarge
    ("r2", 429, 10058, errors.RateLimited, True),
    ("r2", 400, 10013, errors.Unavailable, True),  # IncompleteBody (same number as KV's 10013!)
    ("r2", 400, 10009, errors.LimitExceeded, False),  # TooManyBuckets (KV's 10009 is key not found)
    ("r2", 409, 10073, errors.AlreadyExists, False),
    ("queue", 404, 10104, errors.Misconfigured, False),  # QueueNotFound
    ("queue", 400, 10204, errors.LimitExceeded, False),  # MessageSizeOutOfBounds
    ("queue", 400, 10206, errors.LimitExceeded, False),  # BatchCountOutOfBounds
    ("queue", 429, 10250, errors.RateLimited, True),  # QueueOverloaded
    ("queue", 429, 10252, errors.Unavailable, False),  # QueueDisabled (paused)
    ("queue", 500, 15000, errors.Unavailable, True),
    ("kv", 400, 10000, errors.Unauthorized, False),  # account-wide: Authentication error
    ("queue", 403, 9109, errors.Forbidden, False),  # account-wide: token lacks permission
    ("r2", 404, 7003, errors.Misconfigured, False),  # account-wide: no route for the URI
    ("kv", 404, 99999, errors.NotFound, False),  # unknown code: the status decides
    ("do", 400, 10009, errors.InvalidInput, False),  # no table for DOs: the status decides
]


@pytest.mark.parametrize(("capability", "status", "code", "kind", "retryable"), CODE_TABLE)
def test_cloudflare_codes(
    capability: str, status: int, code: int, kind: type[errors.CapabilityError], retryable: bool
) -> None:
    for body in (
        envelope((code, "what went wrong")),
        json.dumps(envelope((code, "what went wrong"))).encode(),
    ):
        err = from_http(status, body, capability=capability, operation="op")
        assert type(err) is kind, (capability, code)
        assert err.retryable is retryable
        assert f"[{code}] what went wrong" in err.message


def test_limit_names_come_from_the_code() -> None:
    err = from_http(400, envelope((10030, "key too long")), capability="kv", operation="put")
    assert isinstance(err, errors.LimitExceeded)
    assert err.limit == "kv.key_bytes"
    err = from_http(
        400, envelope((10204, "Message size out of bounds")), capability="queue", operation="send"
    )
    assert isinstance(err, errors.LimitExceeded)
    assert err.limit == "queue.message_bytes"


def test_limit_from_a_bare_413_names_what_the_text_says() -> None:
    err = from_http(413, "Value length of 1025 exceeds limit of 1024.", capability="kv", operation="put")
    assert isinstance(err, errors.LimitExceeded)
    assert (err.limit, err.value, err.maximum) == ("kv.value_bytes", 1025, 1024)
    err = from_http(413, None, capability="kv", operation="put")
    assert isinstance(err, errors.LimitExceeded)
    assert err.limit == "kv.request_bytes"


def test_error_chain_is_searched_innermost_first() -> None:
    body = {
        "success": False,
        "errors": [
            {
                "code": 6003,
                "message": "Invalid request headers",
                "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}],
            }
        ],
    }
    err = from_http(400, body, capability="kv", operation="get")
    assert type(err) is errors.Unauthorized
    assert "[6111] Invalid format for Authorization header" in err.message
    assert "[6003] Invalid request headers" in err.message


def test_first_known_code_wins_and_all_codes_are_reported() -> None:
    body = envelope((12345, "something unknown"), (10009, "key not found"), (10013, "namespace not found"))
    err = from_http(404, body, capability="kv", operation="get")
    assert type(err) is errors.NotFound
    for part in ("[12345] something unknown", "[10009] key not found", "[10013] namespace not found"):
        assert part in err.message


def test_s3_xml_body() -> None:
    body = b'<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>'
    err = from_http(503, body, {"Retry-After": "3"}, capability="r2", operation="put")
    assert isinstance(err, errors.RateLimited)
    assert err.retry_after == 3.0
    assert "SlowDown: Reduce your rate" in err.message


def test_html_error_page_contributes_its_title() -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Worker threw exception | example</title></head><body>...</body>"
    )
    err = from_http(520, page, capability="kv", operation="get")
    assert type(err) is errors.Unavailable
    assert "Worker threw exception" in err.message
    assert "<body>" not in err.message


# --- malformed and huge bodies -----------------------------------------------------------------

MALFORMED = [
    b"{not json",
    b'{"errors": "not a list"}',
    b'{"errors": [1, null, true, ["x"]]}',
    b'{"errors": [{"code": "abc", "message": 7}]}',
    b'{"errors": [{"message": "no code"}]}',
    b"[1, 2, 3]",
    b"\xff\xfe\x00garbage \xc3\x28",
    b"null",
    {"errors": None},
    {"success": True},
    {"errors": [{"code": True, "message": "bool is not a code"}]},
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_bodies_fall_back_to_the_status(body: Any) -> None:
    err = from_http(404, body, capability="kv", operation="get")
    assert type(err) is errors.NotFound
    assert err.message.startswith("HTTP 404")


def test_code_given_as_a_string_still_counts() -> None:
    err = from_http(
        404,
        b'{"errors": [{"code": "10013", "message": "namespace not found"}]}',
        capability="kv",
        operation="get",
    )
    assert type(err) is errors.Misconfigured


def test_error_without_envelope_shape() -> None:
    err = from_http(400, b'{"error": "bad thing"}', capability="kv", operation="put")
    assert "bad thing" in err.message


@pytest.mark.parametrize("kind", [bytes, str])
def test_huge_body_is_truncated_in_the_message(kind: type) -> None:
    raw = "x" * (5 * 1024 * 1024)
    body = raw.encode() if kind is bytes else raw
    err = from_http(500, body, capability="r2", operation="get")
    assert len(err.message) < 1200
    assert "in all]" in err.message


def test_huge_envelope_message_is_clipped() -> None:
    err = from_http(400, envelope((10029, "y" * 100_000)), capability="kv", operation="put")
    assert len(err.message) < 1100
    assert "more characters]" in err.message


def test_invalid_status_does_not_raise() -> None:
    err = from_http("oops", capability="kv", operation="get")  # type: ignore[arg-type]
    assert type(err) is errors.BackendError
    assert "'oops'" in err.message


# --- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", None),
        ("Wed, 99 Foo 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after_values(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_dates() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    future = format_datetime(now + timedelta(seconds=90), usegmt=True)
    past = format_datetime(now - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(future, now=now.timestamp()) == pytest.approx(90.0)
    assert parse_retry_after(past, now=now.timestamp()) == 0.0
    # without `now`: a date a minute ahead is about a minute away
    ahead = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    value = parse_retry_after(ahead)
    assert value is not None
    assert 50 < value <= 60


def test_rate_limited_carries_retry_after_from_headers_any_case() -> None:
    for headers in ({"Retry-After": "30"}, {"retry-after": "30"}, {"RETRY-AFTER": "30"}):
        err = from_http(
            429, envelope((10022, "too many requests")), headers, capability="kv", operation="put"
        )
        assert isinstance(err, errors.RateLimited)
        assert err.retry_after == 30.0
    err = from_http(429, None, {"X-Other": "1"}, capability="kv", operation="put")
    assert isinstance(err, errors.RateLimited)
    assert err.retry_after is None


def test_to_dict_and_from_exception_passthrough() -> None:
    err = from_http(429, None, {"Retry-After": "2"}, capability="kv", operation="put", key="k")
    data = err.to_dict()
    assert data["code"] == "rate_limited"
    assert data["retryable"] is True
    assert data["retry_after"] == 2.0
    # a CapabilityError passes through from_exception unchanged, missing context filled in
    bare = errors.NotFound("gone")
    assert from_exception(bare, capability="kv", operation="get", key="x") is bare
    assert (bare.capability, bare.operation, bare.key) == ("kv", "get", "x")
    assert from_exception(err, capability="other", operation="other").capability == "kv"
