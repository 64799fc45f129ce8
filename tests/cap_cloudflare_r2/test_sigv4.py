"""Our SigV4 signer (used for S3's multipart calls and the one-request get) signs as botocore does.

moto does not check signatures, so the multipart tests against it cannot catch a signing bug; this
compares ``Authorization`` headers with botocore's ``S3SigV4Auth`` for the same request and time.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from cap_cloudflare_r2.backends.sigv4 import (
    EMPTY_SHA256,
    UNSIGNED_PAYLOAD,
    Credentials,
    canonical_query,
    encode_path,
    sign,
)

NOW = dt.datetime(2026, 5, 1, 12, 34, 56, tzinfo=dt.UTC)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def botocore_authorization(
    monkeypatch: pytest.MonkeyPatch,
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    unsigned: bool,
    token: str | None,
    region: str,
) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    if unsigned:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    botocore.auth.S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", SECRET, token), "s3", region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


CASES = [
    (
        "POST",
        "/bucket/a/b.txt",
        [("uploads", "")],
        {"content-type": "text/plain", "x-amz-meta-owner": "me"},
        b"",
    ),
    ("PUT", "/bucket/dir with space/é.bin", [("partNumber", "3"), ("uploadId", "a+b/c=")], {}, b"part-bytes"),
    ("POST", "/bucket/k", [("uploadId", "xyz")], {"content-type": "application/xml"}, b"<Complete/>"),
    ("DELETE", "/bucket/~tilde_-.k", [("uploadId", "abc")], {}, b""),
    # the one-request get: its range and conditional headers are signed too
    (
        "GET",
        "/bucket/dir with space/é+%.bin",
        [],
        {
            "range": "bytes=10-19",
            "if-match": '"5d41402abc4b2a76b9719d911017c592"',
            "if-modified-since": "Sat, 01 Jan 2000 00:00:00 GMT",
        },
        b"",
    ),
]


@pytest.mark.parametrize(("method", "path", "params", "headers", "body"), CASES)
@pytest.mark.parametrize("token", [None, "session-token-value"])
@pytest.mark.parametrize("unsigned", [False, True])
def test_signature_matches_botocore(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    params: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    token: str | None,
    unsigned: bool,
) -> None:
    host = "account.r2.cloudflarestorage.com"
    encoded = encode_path(path)
    query = canonical_query(params)
    url = f"https://{host}{encoded}" + (f"?{query}" if query else "")
    payload = UNSIGNED_PAYLOAD if unsigned else (hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256)
    ours = sign(
        method=method,
        host=host,
        path=encoded,
        query=query,
        headers=headers,
        payload_sha256=payload,
        credentials=Credentials("AKIDEXAMPLE", SECRET, token),
        region="auto",
        now=NOW,
    )
    theirs = botocore_authorization(
        monkeypatch,
        method=method,
        url=url,
        headers=headers,
        body=body,
        unsigned=unsigned,
        token=token,
        region="auto",
    )
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"]
    assert ours["x-amz-content-sha256"] == theirs["x-amz-content-sha256"]
    assert SECRET not in ours["authorization"]


def test_credentials_do_not_show_their_secrets() -> None:
    shown = repr(Credentials("AKIDEXAMPLE", SECRET, "session-token-value"))
    assert SECRET not in shown
    assert "session-token-value" not in shown


def test_the_canonical_query_sorts_and_encodes() -> None:
    assert canonical_query([("uploadId", "a b"), ("partNumber", "2")]) == "partNumber=2&uploadId=a%20b"
    assert canonical_query([("uploads", "")]) == "uploads="
    assert encode_path("/b/a b/é~") == "/b/a%20b/%C3%A9~"
