"""R2Bucket's behaviour, written once, run on every backend.

Each ``scenario_*`` takes a bucket and a fresh key prefix and asserts what R2 does. Under Pyodide the
harness runs them against Miniflare's real R2 binding (the ``check_*`` functions below);
``tests/cap_cloudflare_r2/test_r2_bucket.py`` runs the very same functions on CPython against the
memory, local-fs and moto S3 backends. Where a backend cannot do something R2 does, the difference is
named in :data:`FEATURES` (and documented in the package README), never hidden in an ``if``.

No pytest here (it does not run under Pyodide): :func:`expect_error` stands in for ``pytest.raises``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from cap_cloudflare_r2 import R2Bucket, R2Conditional, R2HttpMetadata, R2Range, TransferSettings
from cap_opendal_core.errors import CapabilityError, InvalidInput
from cap_opendal_core.layers import LayerSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

MiB = 1024 * 1024
PAST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
TRANSFER = TransferSettings(part_size=5 * MiB, concurrency=2, read_chunk_size=256 * 1024)
SETTINGS = LayerSettings(logging=False)

FEATURES: dict[str, dict[str, bool]] = {
    # R2 itself: every field round-trips; a streamed put over part_size is a multipart upload
    "workers": dict(version=True, all_http_fields=True, cache_control_read=True, stream_parts=True),
    # OpenDAL's s3 service: no content_language/cache_expiry option, stat omits cache_control,
    # S3 does not expose R2's version; the chunked writer uploads streams in parts
    "opendal": {
        "version": False,
        "all_http_fields": False,
        "cache_control_read": False,
        "stream_parts": True,
    },
    # records kept beside the bytes: everything round-trips; a stream is one object (MD5 etag)
    "local": dict(version=True, all_http_fields=True, cache_control_read=True, stream_parts=False),
}


def features(bucket: R2Bucket) -> dict[str, bool]:
    return FEATURES[bucket.backend]


def new_prefix(tag: str) -> str:
    return f"r2-{tag}/{os.urandom(4).hex()}/"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@asynccontextmanager
async def expect_error(kind: type[CapabilityError], **attributes: Any) -> AsyncIterator[None]:
    """The block must raise ``kind`` whose attributes equal ``attributes``."""
    caught: CapabilityError | None = None
    try:
        yield
    except kind as exc:
        caught = exc
    if caught is None:
        raise AssertionError(f"expected {kind.__name__}")
    for name, value in attributes.items():
        actual = getattr(caught, name)
        assert actual == value, f"{name}={actual!r}, expected {value!r}: {caught!r}"


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


# -- scenarios ----------------------------------------------------------------------------------


async def scenario_metadata_round_trip(bucket: R2Bucket, prefix: str) -> None:
    feats = features(bucket)
    key = prefix + "doc.json"
    body = b'{"hello": "world"}'
    fields: dict[str, Any] = {
        "content_type": "application/json",
        "content_disposition": 'attachment; filename="doc.json"',
        "content_encoding": "identity",
        "cache_control": "max-age=60",
    }
    if feats["all_http_fields"]:
        fields |= {
            "content_language": "en-GB",
            "cache_expiry": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        }
    custom = (
        {"origin": "scenario", "n": "42", "empty": ""}
        if bucket.backend != "opendal"
        else {
            "origin": "scenario",
            "n": "42",
        }
    )
    put = await bucket.put(key, body, http_metadata=fields, custom_metadata=custom)
    assert put is not None
    assert put.key == key
    assert put.size == len(body)
    assert put.etag == md5(body)
    assert put.http_etag == f'"{md5(body)}"'
    assert put.checksums.md5 == md5(body)
    assert (put.version is not None) == feats["version"]

    expected_http = dict(fields)
    if not feats["cache_control_read"]:
        expected_http.pop("cache_control")
    head = await bucket.head(key)
    assert head is not None
    assert head.etag == put.etag
    assert head.size == put.size
    assert dict(head.custom_metadata) == custom
    assert head.http_metadata.to_dict() == R2HttpMetadata(**expected_http).to_dict(), head.http_metadata
    assert abs((head.uploaded - put.uploaded).total_seconds()) < 2
    assert abs((dt.datetime.now(dt.UTC) - head.uploaded).total_seconds()) < 300

    got = await bucket.get(key)
    assert got is not None
    assert got.http_metadata == head.http_metadata
    assert dict(got.custom_metadata) == custom
    assert await got.json() == {"hello": "world"}
    assert got.body_used

    listed = await bucket.list(prefix=prefix, include=["http_metadata", "custom_metadata"])
    assert [o.key for o in listed.objects] == [key]
    assert dict(listed.objects[0].custom_metadata) == custom
    assert listed.objects[0].http_metadata.content_type == "application/json"
    bare = await bucket.list(prefix=prefix)
    assert dict(bare.objects[0].custom_metadata) == {}  # without include, R2 leaves metadata out
    assert bare.objects[0].etag == put.etag

    text = await bucket.put(prefix + "text", "héllo")
    assert text is not None
    assert text.size == len("héllo".encode())
    got_text = await bucket.get(prefix + "text")
    assert got_text is not None
    assert await got_text.text() == "héllo"
    assert await bucket.head(prefix + "absent") is None
    assert await bucket.get(prefix + "absent") is None


async def scenario_conditional_get(bucket: R2Bucket, prefix: str) -> None:
    key = prefix + "c"
    put = await bucket.put(key, b"conditional")
    assert put is not None

    async def body(only_if: Any) -> bytes | None:
        got = await bucket.get(key, only_if=only_if)
        return None if got is None else await got.read()

    assert await body(R2Conditional(etag_matches=put.etag)) == b"conditional"
    assert await body(R2Conditional(etag_matches=put.http_etag)) == b"conditional"
    assert await body({"etag_matches": "0" * 32}) is None
    assert await body(R2Conditional(etag_does_not_match=put.etag)) is None
    assert await body(R2Conditional(etag_does_not_match="0" * 32)) == b"conditional"
    assert await body(R2Conditional(etag_matches="*")) == b"conditional"
    assert await body(R2Conditional(uploaded_after=PAST)) == b"conditional"
    assert await body(R2Conditional(uploaded_after=FUTURE)) is None
    assert await body(R2Conditional(uploaded_before=FUTURE)) == b"conditional"
    assert await body(R2Conditional(uploaded_before=PAST)) is None
    # an etag match outranks a failed upload-time condition (HTTP's If-Match precedence)
    assert await body(R2Conditional(etag_matches=put.etag, uploaded_before=PAST)) == b"conditional"
    assert await bucket.get(prefix + "absent", only_if=R2Conditional(etag_does_not_match="*")) is None


async def scenario_conditional_put(bucket: R2Bucket, prefix: str) -> None:
    key = prefix + "p"
    first = await bucket.put(key, b"one", only_if=R2Conditional(etag_does_not_match="*"))
    assert first is not None, "create-only put of a missing key must store it"
    assert await bucket.put(key, b"two", only_if=R2Conditional(etag_does_not_match="*")) is None
    assert await bucket.put(key, b"two", only_if=R2Conditional(etag_matches="0" * 32)) is None
    got = await bucket.get(key)
    assert got is not None
    assert await got.read() == b"one", "a failed condition must leave the object"

    second = await bucket.put(key, b"two", only_if=R2Conditional(etag_matches=first.etag))
    assert second is not None
    assert second.etag == md5(b"two")
    assert await bucket.put(key, b"three", only_if=R2Conditional(etag_matches=first.etag)) is None
    third = await bucket.put(key, b"three", only_if={"etag_does_not_match": first.etag})
    assert third is not None
    assert await bucket.put(key, b"four", only_if=R2Conditional(uploaded_before=PAST)) is None
    fourth = await bucket.put(key, b"four", only_if=R2Conditional(uploaded_after=PAST))
    assert fourth is not None
    got = await bucket.get(key)
    assert got is not None
    assert await got.read() == b"four"
    assert await bucket.put(prefix + "missing", b"x", only_if=R2Conditional(etag_matches=fourth.etag)) is None
    assert await bucket.head(prefix + "missing") is None


async def scenario_ranges(bucket: R2Bucket, prefix: str) -> None:
    key = prefix + "r"
    data = bytes(range(256)) * 4
    await bucket.put(key, data)

    async def read(range: Any) -> tuple[bytes, R2Range]:
        got = await bucket.get(key, range=range)
        assert got is not None
        return await got.read(), got.range

    assert await read(R2Range(offset=10, length=5)) == (data[10:15], R2Range(offset=10, length=5))
    assert (await read({"offset": 1000}))[0] == data[1000:]
    assert await read(R2Range(suffix=24)) == (data[-24:], R2Range(offset=1000, length=24))
    assert (await read(R2Range(offset=1020, length=100)))[0] == data[1020:], "a length past the end is cut"
    assert (await read(R2Range(suffix=5000)))[0] == data, "a suffix longer than the object is all of it"
    assert (await read({"length": 3}))[0] == data[:3]
    async with expect_error(InvalidInput, field="range"):
        await bucket.get(key, range=R2Range(offset=5000))
    # nothing left to read: the same refusal on every backend, not an empty body (nor, on the
    # binding, its "Unspecified error (0)")
    await bucket.put(prefix + "empty", b"")
    for where, nothing in (
        (key, R2Range(offset=len(data), length=3)),
        (key, R2Range(offset=len(data))),
        (prefix + "empty", R2Range(length=3)),
        (prefix + "empty", R2Range(offset=0, length=1)),
        (prefix + "empty", R2Range(suffix=3)),
    ):
        async with expect_error(InvalidInput, field="range"):
            await bucket.get(where, range=nothing)
    empty = await bucket.get(prefix + "empty")
    assert empty is not None
    assert await empty.read() == b""
    whole = await bucket.get(key)
    assert whole is not None
    assert whole.range == R2Range(offset=0, length=len(data))
    await whole.aclose()


async def scenario_delimiter_listing_with_paging(bucket: R2Bucket, prefix: str) -> None:
    keys = ["a", "b/1", "b/2", "b/c/3", "c", "d/4", "e:1", "e:2", "f"]
    for k in keys:
        await bucket.put(prefix + k, k.encode())

    async def pages(**options: Any) -> tuple[list[str], list[str], int]:
        objects: list[str] = []
        prefixes: list[str] = []
        cursor = None
        count = 0
        while True:
            page = await bucket.list(prefix=prefix, cursor=cursor, **options)
            count += 1
            objects += [o.key[len(prefix) :] for o in page.objects]
            prefixes += [p[len(prefix) :] for p in page.delimited_prefixes]
            if not page.truncated:
                assert page.cursor is None
                return objects, prefixes, count
            assert page.cursor
            cursor = page.cursor

    assert await pages() == (keys, [], 1)
    assert await pages(limit=2) == (keys, [], 5)
    assert await pages(delimiter="/", limit=2) == (["a", "c", "e:1", "e:2", "f"], ["b/", "d/"], 4)
    assert await pages(delimiter=":", limit=3) == (["a", "b/1", "b/2", "b/c/3", "c", "d/4", "f"], ["e:"], 3)
    sub = await bucket.list(prefix=prefix + "b/", delimiter="/")
    assert [o.key for o in sub.objects] == [prefix + "b/1", prefix + "b/2"]
    assert list(sub.delimited_prefixes) == [prefix + "b/c/"]
    after = await bucket.list(prefix=prefix, start_after=prefix + "c")
    assert [o.key[len(prefix) :] for o in after.objects] == ["d/4", "e:1", "e:2", "f"]
    partial = await bucket.list(prefix=prefix + "b")
    assert [o.key[len(prefix) :] for o in partial.objects] == ["b/1", "b/2", "b/c/3"]


async def scenario_batch_delete(bucket: R2Bucket, prefix: str) -> None:
    keys = [f"{prefix}k{i}" for i in range(6)]
    for k in keys:
        await bucket.put(k, b"x")
    await bucket.delete([keys[0], keys[2], keys[4], prefix + "never-existed"])
    await bucket.delete(keys[5])
    await bucket.delete([])
    listed = await bucket.list(prefix=prefix)
    assert [o.key for o in listed.objects] == [keys[1], keys[3]]
    await bucket.delete(keys[1])
    await bucket.delete(keys[1])  # deleting twice is fine
    assert await bucket.head(keys[1]) is None


async def scenario_multipart(bucket: R2Bucket, prefix: str) -> None:
    key = prefix + "big"
    part1 = os.urandom(5 * MiB)
    part2 = b"the tail"
    upload = await bucket.create_multipart_upload(
        key, http_metadata={"content_type": "application/x-parts"}, custom_metadata={"kind": "multipart"}
    )
    uploaded2 = await upload.upload_part(2, part2)  # any order
    resumed = await bucket.resume_multipart_upload(key, upload.upload_id)
    uploaded1 = await resumed.upload_part(1, part1)
    assert await bucket.head(key) is None, "nothing is visible before complete"
    obj = await resumed.complete([uploaded2, uploaded1])
    expected_etag = hashlib.md5(
        bytes.fromhex(md5(part1)) + bytes.fromhex(md5(part2)), usedforsecurity=False
    ).hexdigest()
    assert obj.etag == f"{expected_etag}-2"
    assert obj.size == len(part1) + len(part2)
    got = await bucket.get(key)
    assert got is not None
    assert got.http_metadata.content_type == "application/x-parts"
    assert dict(got.custom_metadata) == {"kind": "multipart"}
    assert await got.read() == part1 + part2
    tail = await bucket.get(key, range=R2Range(suffix=len(part2) + 2))
    assert tail is not None
    assert await tail.read() == part1[-2:] + part2, "ranges span parts"

    small = await bucket.create_multipart_upload(prefix + "small")
    parts = [await small.upload_part(1, b"too small"), await small.upload_part(2, b"tail")]
    async with expect_error(InvalidInput, field="parts"):  # a non-final part under 5 MiB
        await small.complete(parts)
    await small.abort()
    assert await bucket.head(prefix + "small") is None

    aborted = await bucket.create_multipart_upload(prefix + "aborted")
    never = await aborted.upload_part(1, b"never")
    await aborted.abort()
    assert await bucket.head(prefix + "aborted") is None
    # R2 answers NoSuchUpload (NotFound); moto's S3 server answers 500 (Unavailable) - either way it fails
    async with expect_error(CapabilityError):
        await aborted.complete([never])
    assert await bucket.head(prefix + "aborted") is None


async def scenario_streaming(bucket: R2Bucket, prefix: str) -> None:
    feats = features(bucket)
    key = prefix + "stream"
    data = os.urandom(3 * MiB + 17)
    put = await bucket.put(key, chunks_of(data, 100_000), sha256=hashlib.sha256(data).hexdigest())
    assert put is not None
    assert put.size == len(data)
    assert put.etag == md5(data), "one part: the etag is the body's MD5"
    got = await bucket.get(key)
    assert got is not None
    sizes: list[int] = []
    collected = bytearray()
    async for chunk in got:
        sizes.append(len(chunk))
        collected += chunk
    assert bytes(collected) == data
    assert len(sizes) > 1, f"the body arrived whole ({sizes[:3]}…)"
    assert max(sizes) < len(data)

    large = os.urandom(11 * MiB + 5)
    stored = await bucket.put(
        prefix + "large", chunks_of(large, 1 * MiB), http_metadata={"content_type": "x/y"}
    )
    assert stored is not None
    assert stored.size == len(large)
    if feats["stream_parts"]:
        assert stored.etag.endswith("-3"), f"{stored.etag}: 11 MiB in 5 MiB parts is 3 parts"
    else:
        assert stored.etag == md5(large)
    back = await bucket.get(prefix + "large")
    assert back is not None
    assert await back.read() == large
    assert back.http_metadata.content_type == "x/y"

    async with expect_error(InvalidInput, field="sha256"):
        await bucket.put(prefix + "bad", chunks_of(large, 1 * MiB), sha256="0" * 64)
    assert await bucket.head(prefix + "bad") is None, "a stream that fails its checksum stores nothing"


SCENARIOS: dict[str, Callable[[R2Bucket, str], Awaitable[None]]] = {
    "metadata_round_trip": scenario_metadata_round_trip,
    "conditional_get": scenario_conditional_get,
    "conditional_put": scenario_conditional_put,
    "ranges": scenario_ranges,
    "delimiter_listing_with_paging": scenario_delimiter_listing_with_paging,
    "batch_delete": scenario_batch_delete,
    "multipart": scenario_multipart,
    "streaming": scenario_streaming,
}


# -- the Workers harness runs each scenario against Miniflare's R2 binding ------------------------


def _bucket(env: Any) -> R2Bucket:
    return R2Bucket.from_env(env, "BUCKET", settings=SETTINGS, transfer=TRANSFER)


async def check_metadata_round_trip(env: Any) -> None:
    await scenario_metadata_round_trip(_bucket(env), new_prefix("meta"))


async def check_conditional_get(env: Any) -> None:
    await scenario_conditional_get(_bucket(env), new_prefix("cget"))


async def check_conditional_put(env: Any) -> None:
    await scenario_conditional_put(_bucket(env), new_prefix("cput"))


async def check_ranges(env: Any) -> None:
    await scenario_ranges(_bucket(env), new_prefix("range"))


async def check_delimiter_listing_with_paging(env: Any) -> None:
    await scenario_delimiter_listing_with_paging(_bucket(env), new_prefix("list"))


async def check_batch_delete(env: Any) -> None:
    await scenario_batch_delete(_bucket(env), new_prefix("delete"))


async def check_multipart(env: Any) -> None:
    await scenario_multipart(_bucket(env), new_prefix("multipart"))


async def check_streaming(env: Any) -> None:
    await scenario_streaming(_bucket(env), new_prefix("stream"))


async def check_from_env_accepts_the_sdk_wrapped_env(env: Any) -> None:
    # what the ``workers`` SDK hands a Python Worker as env (installed in the harness only)
    from workers.rpc import _EnvWrapper  # type: ignore[import-not-found, unused-ignore]

    bucket = R2Bucket.from_env(_EnvWrapper(env), "BUCKET", settings=SETTINGS)
    key = new_prefix("wrapped") + "k"
    assert (await bucket.put(key, b"wrapped")) is not None
    got = await bucket.get(key)
    assert got is not None
    assert await got.read() == b"wrapped"
    assert bucket.info.durability == "durable"
    assert bucket.info.consistency == "strong"


async def check_binding_errors_become_capability_errors(env: Any) -> None:
    from cap_opendal_core.errors import Misconfigured, Unsupported

    bucket = _bucket(env)
    async with expect_error(Unsupported):
        await bucket.presign("k")
    async with expect_error(Misconfigured):
        R2Bucket.from_env(env, "NO_SUCH_BINDING")
    upload = await bucket.resume_multipart_upload(new_prefix("err") + "k", "not-an-upload-id")
    try:
        await upload.upload_part(1, b"x")
    except CapabilityError:
        pass  # Miniflare reports an unknown upload id as NoSuchUpload or an internal error
    else:
        raise AssertionError("uploading to an unknown upload id must fail")


async def check_a_conditional_put_of_a_large_stream_is_refused(env: Any) -> None:
    from cap_opendal_core.errors import Unsupported

    bucket = _bucket(env)
    key = new_prefix("cond-stream") + "k"
    data = os.urandom(5 * MiB + 1)  # over part_size: would need a multipart upload
    async with expect_error(Unsupported):
        await bucket.put(key, chunks_of(data, MiB), only_if=R2Conditional(etag_does_not_match="*"))
    assert await bucket.head(key) is None
    small = await bucket.put(key, chunks_of(b"small", 2), only_if=R2Conditional(etag_does_not_match="*"))
    assert small is not None, "a stream that fits one part keeps its condition"
    assert (
        await bucket.put(key, chunks_of(b"again", 2), only_if=R2Conditional(etag_does_not_match="*")) is None
    )


async def check_crc_checksums_are_unsupported_by_the_binding(env: Any) -> None:
    """The binding's put has no CRC fields: ``Unsupported`` naming what it takes, nothing stored."""
    from cap_opendal_core.errors import Unsupported

    bucket = _bucket(env)
    key = new_prefix("crc") + "k"
    async with expect_error(Unsupported, operation="put"):
        await bucket.put(key, b"123456789", crc32="y/Q5Jg==")
    async with expect_error(Unsupported, operation="put"):
        await bucket.put(key, b"123456789", crc32c="4waSgw==")
    assert await bucket.head(key) is None


async def check_results_read_their_fields_on_first_use(env: Any) -> None:
    """A get/head/put result reads its fields from the binding's result when first used: the values
    are the ones a listing (read whole) gives, however late they are read, and the object behaves as
    any R2Object (equality, pickling)."""
    import pickle

    bucket = _bucket(env)
    key = new_prefix("lazy") + "k"
    stored = await bucket.put(
        key,
        b"lazy",
        http_metadata={"content_type": "text/plain", "cache_expiry": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)},
        custom_metadata={"owner": "cap"},
        sha256=hashlib.sha256(b"lazy").hexdigest(),
    )
    assert stored is not None
    listed = (await bucket.list(prefix=key, include=("http_metadata", "custom_metadata"))).objects[0]
    got = await bucket.get(key)
    assert got is not None
    assert await got.read() == b"lazy"  # the body first, the fields after it
    head = await bucket.head(key)
    assert head is not None
    for obj in (stored, got.object, head):
        assert obj == listed
        assert pickle.loads(pickle.dumps(obj)) == listed
    assert got.range == R2Range(offset=0, length=4)
    assert head.checksums.sha256 == hashlib.sha256(b"lazy").hexdigest()
    assert head.http_metadata.cache_expiry == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
