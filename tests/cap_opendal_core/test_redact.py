"""Secrets stay out of text: the Secret wrapper, the registry, credential patterns, mappings — and a
token or secret key pushed through every translator never shows in ``str``/``repr``/``to_dict``."""

from __future__ import annotations

import json
import pickle
import secrets
import socket
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import opendal.exceptions
import pytest

from cap_opendal_core import errors
from cap_opendal_core.redact import REDACTED, Secret, is_sensitive_key, redact_mapping, register_secret, scrub
from cap_opendal_core.translate import from_exception, from_http, from_httpx, from_js, from_opendal


def fresh(prefix: str) -> str:
    """A value no other test has registered, so each test proves its own registration."""
    return f"{prefix}{secrets.token_urlsafe(24)}"


def assert_hidden(err: errors.CapabilityError, *values: str) -> None:
    rendered = [str(err), repr(err), json.dumps(err.to_dict()), err.message, *map(str, err.args)]
    for value in values:
        for text in rendered:
            assert value not in text, f"secret leaked into: {text!r}"


# --- Secret -----------------------------------------------------------------------------------


def test_secret_never_shows_itself() -> None:
    value = fresh("sk-")
    secret = Secret(value)
    assert secret.reveal() == value
    for text in (str(secret), repr(secret), f"{secret}", f"{secret!r}", f"{secret:>20}", f"{secret}"):
        assert value not in text
        assert "**********" in text
    assert value not in repr({"token": secret, "nested": [secret]})


def test_secret_equality_hash_and_pickle() -> None:
    value = fresh("sk-")
    assert Secret(value) == Secret(value)
    assert Secret(value) != Secret(value + "x")
    assert Secret(value) != value  # a Secret is not a str: no accidental comparisons with plain text
    assert hash(Secret(value)) == hash(Secret(value))
    assert pickle.loads(pickle.dumps(Secret(value))).reveal() == value
    assert bool(Secret("")) is False


def test_secret_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="Secret\\(\\) takes a str, not bytes"):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_constructing_a_secret_registers_it() -> None:
    value = fresh("tok-")
    Secret(value)
    assert scrub(f"the value is {value}.") == f"the value is {REDACTED}."


# --- the registry -------------------------------------------------------------------------------


def test_register_secret_refuses_short_values() -> None:
    with pytest.raises(ValueError, match="shorter than 6 characters \\(got 3\\)"):
        register_secret("abc")
    with pytest.raises(TypeError, match="not int"):
        register_secret(12345678)  # type: ignore[arg-type]
    # a short Secret is allowed (it still hides itself) but is not registered
    assert str(Secret("abc")) == "**********"
    assert scrub("abc abc") == "abc abc"


def test_registered_secret_and_its_url_encoded_forms_are_scrubbed() -> None:
    value = fresh("a/b+c d=")
    register_secret(value)
    forms = (value, quote(value, safe=""), quote_plus(value, safe=""))
    assert len(set(forms)) == 3
    out = scrub(" | ".join(forms) + f" | url {httpx.URL('http://h/p', params={'x': value})}")
    for form in forms:
        assert form not in out
    assert out.count(REDACTED) == 4


def test_longest_secret_wins_when_one_contains_another() -> None:
    short = fresh("abcdef")
    long = short + "-extended"
    register_secret(short)
    register_secret(long)
    assert scrub(long) == REDACTED
    assert scrub(f"{short}!") == f"{REDACTED}!"


# --- patterns ---------------------------------------------------------------------------------

PATTERN_CASES = [
    ("Authorization: Bearer abc.def-123_XYZ", "abc.def-123_XYZ"),
    (
        "authorization: AWS4-HMAC-SHA256 Credential=AKIAX/20260101/auto/s3/aws4_request, Signature=ab12",
        "ab12",
    ),
    ("{'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "dXNlcjpwYXNzd29yZA=="),
    ('{"authorization": "Bearer tok_live_999"}', "tok_live_999"),
    ("calling with bearer eyJhbGciOiJIUzI1NiJ9.payload.sig now", "eyJhbGciOiJIUzI1NiJ9.payload.sig"),
    (
        "GET https://acct.r2.cloudflarestorage.com/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Fauto%2Fs3%2Faws4_request"
        "&X-Amz-Signature=3f05b2e0b7c0a0ce0ed86e8b1e6c03a89eac48c0156a50ec379b38137d7a36ec",
        "3f05b2e0b7c0a0ce0ed86e8b1e6c03a89eac48c0156a50ec379b38137d7a36ec",
    ),
    ("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101", "AKIAIOSFODNN7EXAMPLE"),
    (
        "https://s3.example/b/k?AWSAccessKeyId=AKIDEXAMPLE&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D",
        "vjbyPxyb",
    ),
    ("https://s3.example/b/k?AWSAccessKeyId=AKIDEXAMPLE&Expires=1", "AKIDEXAMPLE"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("Config(secret_access_key='wJalrXUtnFEMI/K7MDENG', region='auto')", "wJalrXUtnFEMI"),
    ("https://api.example/v4/x?token=s3cr3tvalue&page=2", "s3cr3tvalue"),
    ("KvConfig(api_token='cfut_abcdef123456', account_id='acc')", "cfut_abcdef123456"),
    ('{"api_token": "cfut_abcdef123456", "x": 1}', "cfut_abcdef123456"),
    ("password: hunter2hunter2", "hunter2hunter2"),
    ("X-Auth-Key: 0123456789abcdef0123456789abcdef01234", "0123456789abcdef"),
    ("postgres://user:pa55w0rd@db.internal:5432/x", "pa55w0rd"),
]


@pytest.mark.parametrize(("text", "secret"), PATTERN_CASES)
def test_credential_patterns(text: str, secret: str) -> None:
    out = scrub(text)
    assert secret not in out
    assert REDACTED in out


def test_other_query_parameters_survive() -> None:
    out = scrub("https://api.example/v4/x?token=s3cr3tvalue&page=2&prefix=a")
    assert out == f"https://api.example/v4/x?token={REDACTED}&page=2&prefix=a"


@pytest.mark.parametrize(
    "text",
    [
        "KV key 'token-bucket' not found",
        "max_tokens=5 and 3 tokens left",
        "SignatureDoesNotMatch: check your secret",
        "NotFound (permanent) at stat => memory doesn't have this path (service: memory, path: nope)",
        "HTTP 404 Not Found: [10009] key not found",
        "",
        "secret=[REDACTED] already",
        "token=Secret('**********')",
    ],
)
def test_innocent_or_already_safe_text_is_unchanged(text: str) -> None:
    assert scrub(text) == text


def test_scrub_is_idempotent() -> None:
    once = scrub("Authorization: Bearer abcdefgh token=xyz123456 https://u:pw123456@h/")
    assert scrub(once) == once


# --- mappings ---------------------------------------------------------------------------------


def test_redact_mapping_recurses_and_keeps_data() -> None:
    value = fresh("cf-")
    data: dict[str, Any] = {
        "Authorization": f"Bearer {value}",
        "X-Auth-Key": "0123456789",
        "api_token": value,
        "cookie": "session=1",
        "headers": {"authorization": "Bearer x", "content-type": "application/json"},
        "secret_access_key": Secret(fresh("sk-")),
        "access_key_id": "AKIDEXAMPLE",
        "key": "user/42/profile",
        "items": [{"password": "p"}, "url?X-Amz-Signature=abcdef123456", 7],
        "pair": ("token=abc123456", None),
        "limit": 10,
    }
    out = redact_mapping(data)
    assert out["Authorization"] == REDACTED
    assert out["X-Auth-Key"] == REDACTED
    assert out["api_token"] == REDACTED
    assert out["cookie"] == REDACTED
    assert out["headers"] == {"authorization": REDACTED, "content-type": "application/json"}
    assert out["secret_access_key"] == REDACTED
    assert out["access_key_id"] == REDACTED
    assert out["key"] == "user/42/profile"  # KV keys are data
    assert out["items"] == [{"password": REDACTED}, f"url?X-Amz-Signature={REDACTED}", 7]
    assert out["pair"] == (f"token={REDACTED}", None)
    assert out["limit"] == 10
    assert data["api_token"] == value  # the input is not modified
    assert value not in repr(out)


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Set-Cookie", True),
        ("CF_API_TOKEN", True),
        ("client_secret", True),
        ("db_password", True),
        ("x-api-key", True),
        ("api-key", True),
        ("key", False),
        ("cursor", False),
        (42, False),
    ],
)
def test_is_sensitive_key(name: object, sensitive: bool) -> None:
    assert is_sensitive_key(name) is sensitive


# --- a secret through every translator -------------------------------------------------------


@pytest.fixture
def token() -> str:
    value = fresh("cfut_")
    Secret(value)  # what a config model does with the API token it holds
    return value


@pytest.fixture
def secret_key() -> str:
    value = fresh("r2sk/")
    register_secret(value)
    return value


def test_from_http_hides_secrets(token: str, secret_key: str) -> None:
    body = json.dumps(
        {
            "success": False,
            "errors": [{"code": 10000, "message": f"Authentication error for token {token} / {secret_key}"}],
        }
    )
    err = from_http(
        401, body, {"Authorization": f"Bearer {token}"}, capability="kv", operation="get", key="k"
    )
    assert type(err) is errors.Unauthorized
    assert_hidden(err, token, secret_key)
    assert REDACTED in err.message
    text_err = from_http(500, f"echo: Authorization: Bearer {token}", capability="kv", operation="get")
    assert_hidden(text_err, token)


def test_from_opendal_hides_presigned_signatures_and_keys(secret_key: str) -> None:
    message = (
        'PermissionDenied (permanent) at read => S3Error { code: "AccessDenied" }\n\nContext:\n'
        "   uri: https://acct.r2.cloudflarestorage.com/b/k?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F2026"
        "&X-Amz-Signature=deadbeefcafe0123456789\n"
        f"   note: secret_access_key={secret_key}\n"
    )
    err = from_opendal(opendal.exceptions.PermissionDenied(message), capability="r2", operation="get")
    assert type(err) is errors.Forbidden
    assert_hidden(err, secret_key, "deadbeefcafe0123456789", "AKIAIOSFODNN7EXAMPLE")


@pytest.mark.anyio
async def test_from_httpx_hides_tokens_in_urls(token: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(f"http://127.0.0.1:{port}/v4/x", params={"token": token, "page": "2"})
    err = from_httpx(info.value, capability="kv", operation="list")
    assert type(err) is errors.Unavailable
    assert "page=2" in err.message
    assert_hidden(err, token)


def test_from_js_hides_secrets(token: str) -> None:
    class JsException(Exception):
        def __init__(self, message: str) -> None:
            super().__init__(f"Error: {message}")
            self.name = "Error"
            self.message = message

    err = from_js(
        JsException(f"fetch failed: Authorization: Bearer {token} rejected"), capability="do", operation="f"
    )
    assert_hidden(err, token)


def test_from_exception_hides_secrets(token: str, secret_key: str) -> None:
    for exc in (
        ValueError(f"bad token {token}"),
        ConnectionResetError(f"reset while sending {secret_key}"),
        RuntimeError(f"https://x/?api_token={token}"),
    ):
        err = from_exception(exc, capability="kv", operation="put")
        assert_hidden(err, token, secret_key)


def test_short_unregistered_token_still_caught_by_patterns() -> None:
    err = from_exception(RuntimeError("Authorization: Bearer tiny"), capability="kv", operation="get")
    assert_hidden(err, "tiny")


def test_sealed_headers_show_names_only_and_refuse_pickling() -> None:
    """Issue 13 §4: a frame holding signed headers renders no credential (repr/str list names)."""
    import pickle

    from cap_opendal_core.redact import SealedHeaders

    value = "AWS4-HMAC-SHA256 Credential=AKIDSEALED123/x, Signature=0123abcd"
    sealed = SealedHeaders({"authorization": value}).plus({"host": "example.invalid"})
    assert dict(sealed) == {"authorization": value, "host": "example.invalid"}
    for shown in (repr(sealed), str(sealed), repr(sealed.items()), f"{sealed}"):
        assert "AKIDSEALED123" not in shown
        assert "Signature" not in shown
    assert "authorization" in repr(sealed)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(sealed)
