"""Every documented limit and malformed argument is refused before any I/O, and nothing is stored.

"Nothing sent" is proven two ways: against an S3 bucket whose endpoint has no server behind it, any
request would fail as ``Unavailable``, so getting the validation error instead shows none was made;
and inside an invocation scope, the pipeline (the only way to a backend) recorded no call.
"Nothing stored" is proven on a local directory that stays empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

from cap_cloudflare_r2 import R2Bucket, R2Conditional, R2Range, R2UploadedPart
from cap_cloudflare_r2.transfer import prepare_value
from cap_opendal_core.errors import CapabilityError, InvalidInput, LimitExceeded
from cap_opendal_core.scope import InvocationScope
from tests.workers.checks.check_r2 import SETTINGS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

pytestmark = pytest.mark.anyio

BIG_KEY = "k" * 1025
MiB = 1024 * 1024


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.fixture
async def unreachable() -> AsyncIterator[R2Bucket]:
    """An S3 bucket whose endpoint refuses connections: any request would be Unavailable."""
    query = urlencode(
        {
            "endpoint": f"http://127.0.0.1:{_closed_port()}",
            "access_key_id": "unreachable-key",
            "secret_access_key": "unreachable-secret",
        }
    )
    async with R2Bucket.from_url(f"s3://nowhere?{query}", settings=SETTINGS) as bucket:
        yield bucket


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[tuple[R2Bucket, Path]]:
    root = tmp_path / "bucket"
    async with R2Bucket.local(root, settings=SETTINGS) as bucket:
        yield bucket, root


async def _upload(bucket: R2Bucket) -> Any:
    return await bucket.resume_multipart_upload("k", "an-upload-id")


Call = tuple[str, "Callable[[R2Bucket], Awaitable[Any]]", type[CapabilityError], dict[str, Any]]

CASES: list[Call] = [
    ("empty key", lambda b: b.put("", b"x"), InvalidInput, {"field": "key"}),
    ("key not a str", lambda b: b.head(42), InvalidInput, {"field": "key"}),  # type: ignore[arg-type]
    ("key over 1024 bytes", lambda b: b.put(BIG_KEY, b"x"), LimitExceeded, {"limit": "r2.key_bytes"}),
    ("multibyte key over 1024 bytes", lambda b: b.get("é" * 513), LimitExceeded, {"value": 1026}),
    ("key with a lone surrogate", lambda b: b.put("bad\ud800", b"x"), InvalidInput, {"field": "key"}),
    (
        "custom metadata over 8192 bytes",
        lambda b: b.put("k", b"x", custom_metadata={"m": "v" * 8192}),
        LimitExceeded,
        {"limit": "r2.custom_metadata_bytes", "value": 8193, "maximum": 8192},
    ),
    (
        "custom metadata value not a str",
        lambda b: b.put("k", b"x", custom_metadata={"n": 1}),  # type: ignore[dict-item]
        InvalidInput,
        {"field": "custom_metadata"},
    ),
    (
        "custom metadata not a mapping",
        lambda b: b.create_multipart_upload("k", custom_metadata=["a"]),  # type: ignore[arg-type]
        InvalidInput,
        {"field": "custom_metadata"},
    ),
    (
        "http metadata with a line break",
        lambda b: b.put("k", b"x", http_metadata={"content_type": "text/plain\r\nX-Evil: 1"}),
        InvalidInput,
        {"field": "http_metadata"},
    ),
    (
        "http metadata field unknown",
        lambda b: b.put("k", b"x", http_metadata={"content_typo": "x"}),
        InvalidInput,
        {"field": "http_metadata"},
    ),
    (
        "delete of 1001 keys",
        lambda b: b.delete([f"k{i}" for i in range(1001)]),
        LimitExceeded,
        {"limit": "r2.delete_keys", "value": 1001, "maximum": 1000},
    ),
    ("delete with an empty key", lambda b: b.delete(["ok", ""]), InvalidInput, {"field": "keys[1]"}),
    ("list limit 0", lambda b: b.list(limit=0), InvalidInput, {"field": "limit"}),
    ("list limit 1001", lambda b: b.list(limit=1001), InvalidInput, {"field": "limit"}),
    ("list limit not an int", lambda b: b.list(limit="5"), InvalidInput, {"field": "limit"}),  # type: ignore[arg-type]
    ("list include unknown", lambda b: b.list(include=["body"]), InvalidInput, {"field": "include"}),
    ("part number 0", lambda b: _part(b, 0), InvalidInput, {"field": "part_number"}),
    ("part number 10001", lambda b: _part(b, 10_001), InvalidInput, {"field": "part_number"}),
    ("complete with no parts", lambda b: _complete(b, []), InvalidInput, {"field": "parts"}),
    (
        "complete with a part number twice",
        lambda b: _complete(b, [R2UploadedPart(1, "a"), R2UploadedPart(1, "b")]),
        InvalidInput,
        {"field": "parts"},
    ),
    (
        "complete with part number 10001",
        lambda b: _complete(b, [{"part_number": 10_001, "etag": "a"}]),
        InvalidInput,
        {"field": "parts[0].part_number"},
    ),
    (
        "range with negative offset",
        lambda b: b.get("k", range=R2Range(offset=-1)),
        InvalidInput,
        {"field": "range"},
    ),
    (
        "range of length 0",
        lambda b: b.get("k", range={"offset": 0, "length": 0}),
        InvalidInput,
        {"field": "range"},
    ),
    ("range suffix 0", lambda b: b.get("k", range=R2Range(suffix=0)), InvalidInput, {"field": "range"}),
    (
        "range with suffix and offset",
        lambda b: b.get("k", range=R2Range(offset=1, suffix=2)),
        InvalidInput,
        {"field": "range"},
    ),
    ("range without bounds", lambda b: b.get("k", range={}), InvalidInput, {"field": "range"}),
    ("range field unknown", lambda b: b.get("k", range={"start": 1}), InvalidInput, {"field": "range"}),
    (
        "md5 that does not match the body",
        lambda b: b.put("k", b"body", md5=hashlib.md5(b"other").hexdigest()),
        InvalidInput,
        {"field": "md5"},
    ),
    (
        "sha256 that does not match the body",
        lambda b: b.put("k", b"body", sha256=hashlib.sha256(b"other").digest()),
        InvalidInput,
        {"field": "sha256"},
    ),
    ("md5 that is not hex", lambda b: b.put("k", b"body", md5="z" * 32), InvalidInput, {"field": "md5"}),
    (
        "two checksums at once",
        lambda b: b.put(
            "k", b"body", md5=hashlib.md5(b"body").hexdigest(), sha1=hashlib.sha1(b"body").hexdigest()
        ),
        InvalidInput,
        {},
    ),
    (
        "weak etag condition",
        lambda b: b.put("k", b"x", only_if=R2Conditional(etag_matches='W/"abc"')),
        InvalidInput,
        {"field": "only_if"},
    ),
    (
        "etag list condition",
        lambda b: b.get("k", only_if={"etag_does_not_match": "a, b"}),
        InvalidInput,
        {"field": "only_if"},
    ),
    (
        "upload time not a datetime",
        lambda b: b.get("k", only_if={"uploaded_before": "2020-01-01"}),
        InvalidInput,
        {"field": "only_if"},
    ),
    (
        "value of an unsupported type",
        lambda b: b.put("k", 42),  # type: ignore[arg-type]
        InvalidInput,
        {"field": "value"},
    ),
    ("presign for 0 seconds", lambda b: b.presign("k", expires_in=0), InvalidInput, {"field": "expires_in"}),
    (
        "presign for 8 days",
        lambda b: b.presign("k", expires_in=8 * 24 * 3600),
        InvalidInput,
        {"field": "expires_in"},
    ),
    ("presign a DELETE", lambda b: b.presign("k", method="DELETE"), InvalidInput, {"field": "method"}),
    (
        "resume without an upload id",
        lambda b: b.resume_multipart_upload("k", ""),
        InvalidInput,
        {"field": "upload_id"},
    ),
]


async def _part(bucket: R2Bucket, number: int) -> Any:
    return await (await _upload(bucket)).upload_part(number, b"x")


async def _complete(bucket: R2Bucket, parts: list[Any]) -> Any:
    return await (await _upload(bucket)).complete(parts)


@pytest.mark.parametrize(("name", "call", "kind", "attributes"), CASES, ids=[c[0] for c in CASES])
async def test_refused_before_any_request(
    name: str,
    call: Callable[[R2Bucket], Awaitable[Any]],
    kind: type[CapabilityError],
    attributes: dict[str, Any],
    unreachable: R2Bucket,
) -> None:
    with InvocationScope("node") as scope, pytest.raises(kind) as caught:
        await call(unreachable)
    for attribute, value in attributes.items():
        assert getattr(caught.value, attribute) == value, repr(caught.value)
    assert caught.value.capability == "r2"
    # only resume (no I/O, kept through the pipeline) may have been recorded; no backend call was
    assert {r.operation for r in scope.records} <= {"resume_multipart_upload"}


@pytest.mark.parametrize(("name", "call", "kind", "attributes"), CASES, ids=[c[0] for c in CASES])
async def test_nothing_is_stored(
    name: str,
    call: Callable[[R2Bucket], Awaitable[Any]],
    kind: type[CapabilityError],
    attributes: dict[str, Any],
    local: tuple[R2Bucket, Path],
) -> None:
    bucket, root = local
    with pytest.raises(kind):
        await call(bucket)
    written = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    assert written == [], f"{name} left files behind: {written}"
    assert (await bucket.list()).objects == ()


async def test_a_streamed_body_that_fails_its_checksum_stores_nothing(local: tuple[R2Bucket, Path]) -> None:
    bucket, root = local

    async def body() -> AsyncIterator[bytes]:
        yield b"streamed "
        yield b"body"

    with pytest.raises(InvalidInput) as caught:
        await bucket.put("k", body(), md5=hashlib.md5(b"something else").hexdigest())
    assert caught.value.field == "md5"
    assert await bucket.head("k") is None
    assert [p for p in (root / "blobs").rglob("*") if p.is_file()] == [], "no value file is left"


async def test_a_stream_of_non_bytes_is_refused(local: tuple[R2Bucket, Path]) -> None:
    bucket, _ = local

    async def body() -> AsyncIterator[Any]:
        yield b"ok"
        yield "text is not bytes"

    with pytest.raises(InvalidInput, match="streams must yield bytes"):
        await bucket.put("k", body())
    assert await bucket.head("k") is None


def test_a_bytes_value_over_the_single_upload_limit_is_refused() -> None:
    # the real limit is ~5 GiB; the check is the same function with a smaller bound
    with pytest.raises(LimitExceeded) as caught:
        prepare_value(b"x" * 11, operation="put", max_bytes=10)
    assert caught.value.limit == "r2.single_upload_bytes"
    assert (caught.value.value, caught.value.maximum) == (11, 10)


async def test_conditions_in_the_past_and_future_are_values_not_errors(local: tuple[R2Bucket, Path]) -> None:
    bucket, _ = local
    naive = dt.datetime(2000, 1, 1)  # naive means UTC, as JS Dates are
    assert await bucket.put("k", b"x", only_if=R2Conditional(uploaded_after=naive)) is None
    assert await bucket.put("k", b"x", only_if=R2Conditional(uploaded_before=naive)) is not None
