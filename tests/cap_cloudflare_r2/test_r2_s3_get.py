"""The S3 backend's one-request ``get`` (backends/s3_get.py, backends/http1.py).

Against moto's S3 server, every answer is compared with the two-request path it replaced (OpenDAL's
``stat`` then a read pinned to its etag; a bucket with a ``concurrency`` limit still takes it), on
the same objects: metadata, conditions (including the second boundaries of HTTP dates), ranges,
missing keys. Against a scripted HTTP/1.1 server on 127.0.0.1, what moto cannot show: that a get is
one signed request, keep-alive reuse, a connection the server dropped while idle, retried statuses,
a chunked body, a body cut off mid-stream, and that the secret key never travels or shows; and of
the connections themselves: a server that closes each one (their buffers handed on intact), names
looked up once, not per connection, an upload the server reads slowly, TLS verified.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import os
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

from cap_cloudflare_r2 import R2Bucket, R2Conditional, R2Range
from cap_cloudflare_r2.backends.s3_get import condition_headers, direct_get_for, range_header
from cap_opendal_core.errors import CapabilityError, InvalidInput, Misconfigured, Unavailable
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from cap_opendal_core.operators import S3Config
from tests.workers.checks.check_r2 import TRANSFER, chunks_of, md5

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.support.moto_server import MotoS3

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024
FAST_RETRY = RetryPolicy(attempts=3, base=0.001, cap=0.01)
SETTINGS = LayerSettings(logging=False, retry=FAST_RETRY)
TWO_REQUEST_SETTINGS = LayerSettings(logging=False, retry=FAST_RETRY, concurrency=64)
SECRET = "scripted-secret-access-key-0123456789"
ACCESS_KEY = "AKIDSCRIPTED"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment turns the one-request get off; these tests need it on."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


# -- against moto: the same answers as the two-request path ----------------------------------------


@dataclass
class Pair:
    direct: R2Bucket
    two_request: R2Bucket
    client: Any
    name: str


@pytest.fixture
async def pair(moto_s3: MotoS3) -> AsyncIterator[Pair]:
    name = moto_s3.create_bucket()
    url = moto_s3.url(name)
    async with (
        R2Bucket.from_url(url, settings=SETTINGS, transfer=TRANSFER) as direct,
        R2Bucket.from_url(url, settings=TWO_REQUEST_SETTINGS, transfer=TRANSFER) as two_request,
    ):
        yield Pair(direct, two_request, moto_s3.client(), name)


async def observe(bucket: R2Bucket, key: str, **options: Any) -> Any:
    """Everything a caller can see of one get: the object, the range served and the body, or the
    error's kind and field."""
    try:
        got = await bucket.get(key, **options)
    except CapabilityError as err:
        return ("error", type(err).__name__, getattr(err, "field", None))
    if got is None:
        return None
    # OpenDAL's stat (the two-request path's metadata) reports no storage class; GetObject does
    return (dataclasses.replace(got.object, storage_class=None), got.range, await got.read())


async def test_metadata_is_what_head_and_the_two_request_path_report(pair: Pair) -> None:
    pair.client.put_object(
        Bucket=pair.name,
        Key="dir/report.csv",
        Body=b"a,b\n1,2\n",
        ContentType="text/csv",
        ContentDisposition='attachment; filename="r.csv"',
        ContentEncoding="identity",
        CacheControl="no-store",
        Metadata={"owner": "flow-7", "Stage": "raw"},
    )
    got = await pair.direct.get("dir/report.csv")
    assert got is not None
    assert got.http_metadata.content_type == "text/csv"
    assert got.http_metadata.content_disposition == 'attachment; filename="r.csv"'
    assert got.http_metadata.content_encoding == "identity"
    assert dict(got.custom_metadata) == {"owner": "flow-7", "stage": "raw"}
    assert got.etag == md5(b"a,b\n1,2\n")
    assert got.checksums.md5 == got.etag
    assert got.range == R2Range(offset=0, length=8)
    assert await got.read() == b"a,b\n1,2\n"
    head = await pair.direct.head("dir/report.csv")
    assert got.object == head
    assert await observe(pair.direct, "dir/report.csv") == await observe(pair.two_request, "dir/report.csv")


@pytest.mark.parametrize("key", ["dir with space/é.bin", "a+b=c&d", "100%/~tilde_-.k", "ключ/日本"])
async def test_keys_that_need_encoding_are_read(pair: Pair, key: str) -> None:
    pair.client.put_object(Bucket=pair.name, Key=key, Body=key.encode())
    got = await pair.direct.get(key)
    assert got is not None
    assert got.key == key
    assert await got.read() == key.encode()


async def test_conditions_answer_as_the_two_request_path(pair: Pair) -> None:
    stored = await pair.direct.put("c", b"conditional")
    assert stored is not None
    head = await pair.direct.head("c")
    assert head is not None
    modified = head.uploaded  # S3's Last-Modified: whole seconds
    second, half = dt.timedelta(seconds=1), dt.timedelta(milliseconds=500)
    past, future = modified - dt.timedelta(days=1), modified + dt.timedelta(days=1)
    expected_body = {
        "etag hit": (R2Conditional(etag_matches=stored.etag), True),
        "quoted etag hit": (R2Conditional(etag_matches=stored.http_etag), True),
        "etag miss": (R2Conditional(etag_matches="0" * 32), False),
        "any etag": (R2Conditional(etag_matches="*"), True),
        "etag not matching": (R2Conditional(etag_does_not_match=stored.etag), False),
        "other etag not matching": (R2Conditional(etag_does_not_match="0" * 32), True),
        "no etag at all": (R2Conditional(etag_does_not_match="*"), False),
        "after the past": (R2Conditional(uploaded_after=past), True),
        "after the future": (R2Conditional(uploaded_after=future), False),
        "after its own second": (R2Conditional(uploaded_after=modified), False),
        "after half a second earlier": (R2Conditional(uploaded_after=modified - half), True),
        "after half a second later": (R2Conditional(uploaded_after=modified + half), False),
        "after, seconds granularity": (
            R2Conditional(uploaded_after=modified + half, seconds_granularity=True),
            False,
        ),
        "after the second before": (R2Conditional(uploaded_after=modified - second), True),
        "before the future": (R2Conditional(uploaded_before=future), True),
        "before the past": (R2Conditional(uploaded_before=past), False),
        "before its own second": (R2Conditional(uploaded_before=modified), False),
        "before half a second later": (R2Conditional(uploaded_before=modified + half), True),
        "before half a second later, seconds granularity": (
            R2Conditional(uploaded_before=modified + half, seconds_granularity=True),
            False,
        ),
        "before the second after": (R2Conditional(uploaded_before=modified + second), True),
        # HTTP's precedence, which moto does not follow: the etag condition outranks the date
        "etag hit outranks a failed before": (
            R2Conditional(etag_matches=stored.etag, uploaded_before=past),
            True,
        ),
        "etag non-match outranks a failed after": (
            R2Conditional(etag_does_not_match="0" * 32, uploaded_after=future),
            True,
        ),
        "etag miss with a holding before": (
            R2Conditional(etag_matches="0" * 32, uploaded_before=future),
            False,
        ),
        "everything holds": (
            R2Conditional(
                etag_matches=stored.etag,
                etag_does_not_match="0" * 32,
                uploaded_before=future,
                uploaded_after=past,
            ),
            True,
        ),
    }
    for name, (condition, has_body) in expected_body.items():
        ours = await observe(pair.direct, "c", only_if=condition)
        assert ours == await observe(pair.two_request, "c", only_if=condition), name
        assert (ours is not None) == has_body, name
        if has_body:
            assert ours[2] == b"conditional", name
    for condition in (R2Conditional(etag_matches="*"), R2Conditional(uploaded_after=past)):
        assert await pair.direct.get("absent", only_if=condition) is None


async def test_ranges_answer_as_the_two_request_path(pair: Pair) -> None:
    await pair.direct.put("ten", b"0123456789")
    await pair.direct.put("empty", b"")
    ranges = [
        None,
        R2Range(offset=0, length=3),
        R2Range(offset=4),
        R2Range(offset=7, length=100),
        R2Range(length=2),
        R2Range(suffix=3),
        R2Range(suffix=100),
        R2Range(offset=9, length=1),
        R2Range(offset=10, length=5),  # at the end: R2 serves nothing
        R2Range(offset=10),  # nothing left: not satisfiable
        R2Range(offset=11),
        R2Range(offset=11, length=1),
    ]
    for key in ("ten", "empty"):
        for wanted in ranges:
            ours = await observe(pair.direct, key, range=wanted)
            assert ours == await observe(pair.two_request, key, range=wanted), (key, wanted)
    ranged = await observe(pair.direct, "ten", range=R2Range(offset=7, length=100))
    assert ranged[1:] == (R2Range(offset=7, length=3), b"789")
    assert (await observe(pair.direct, "ten", range=R2Range(suffix=3)))[2] == b"789"
    assert await observe(pair.direct, "ten", range=R2Range(offset=11)) == ("error", "InvalidInput", "range")
    with pytest.raises(InvalidInput):
        await pair.direct.get("empty", range=R2Range(suffix=1))
    # a range and a condition together
    hit = await pair.direct.get(
        "ten", range=R2Range(offset=1, length=2), only_if={"etag_matches": md5(b"0123456789")}
    )
    assert hit is not None
    assert await hit.read() == b"12"
    assert (
        await pair.direct.get("ten", range=R2Range(offset=1, length=2), only_if={"etag_matches": "0" * 32})
        is None
    )


async def test_a_missing_key_is_none_and_a_missing_bucket_is_misconfigured(
    pair: Pair, moto_s3: MotoS3
) -> None:
    assert await pair.direct.get("absent") is None
    assert await pair.direct.get("absent", range=R2Range(offset=5)) is None
    assert await pair.direct.get("absent", only_if=R2Conditional(etag_does_not_match="*")) is None
    async with R2Bucket.from_url(moto_s3.url("no-such-bucket-here"), settings=SETTINGS) as missing:
        with pytest.raises(Misconfigured, match="NoSuchBucket"):
            await missing.get("k")


async def test_a_large_body_streams_and_an_abandoned_one_is_let_go(pair: Pair) -> None:
    data = os.urandom(3 * MiB + 17)
    await pair.direct.put("big", chunks_of(data, MiB))
    got = await pair.direct.get("big")
    assert got is not None
    sizes: list[int] = []
    collected = bytearray()
    async for chunk in got:
        sizes.append(len(chunk))
        collected += chunk
    assert bytes(collected) == data
    assert len(sizes) > 1
    assert max(sizes) <= TRANSFER.read_chunk_size
    for _ in range(3):  # left unread: its connection is closed, and the next gets are unaffected
        abandoned = await pair.direct.get("big")
        assert abandoned is not None
        async with abandoned:
            async for _chunk in abandoned:
                break
        again = await pair.direct.get("big", range=R2Range(suffix=5))
        assert again is not None
        assert await again.read() == data[-5:]


async def test_boto3_sees_the_same_object_after_many_concurrent_gets(pair: Pair) -> None:
    bodies = {f"k{i}": os.urandom(1000 + i) for i in range(40)}
    for key, body in bodies.items():
        await pair.direct.put(key, body)

    async def fetch(key: str) -> bytes:
        got = await pair.direct.get(key)
        assert got is not None
        return await got.read()

    fetched = await asyncio.gather(*(fetch(k) for k in bodies))
    assert dict(zip(bodies, fetched, strict=True)) == bodies


# -- when the one-request get steps aside ----------------------------------------------------------


def s3_config(**changes: Any) -> S3Config:
    values: dict[str, Any] = {
        "bucket": "bucket",
        "endpoint": "http://127.0.0.1:9",
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET,
        **changes,
    }
    return S3Config(**values)


def test_it_steps_aside_for_what_only_opendal_can_honour(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = LayerSettings()
    assert direct_get_for(s3_config(), plain, MiB) is not None
    assert direct_get_for(s3_config(anonymous=True, access_key_id=None, secret_access_key=None), plain, MiB)
    ambient = S3Config(bucket="bucket", endpoint="http://127.0.0.1:9", ambient_credentials=True)
    assert direct_get_for(ambient, plain, MiB) is None
    assert direct_get_for(s3_config(), LayerSettings(concurrency=4), MiB) is None
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    # the environment's proxy counts only for a configuration that opted in (issue 13)
    assert direct_get_for(s3_config(), plain, MiB) is not None
    assert direct_get_for(s3_config(trust_env=True), plain, MiB) is None
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert direct_get_for(s3_config(trust_env=True), plain, MiB) is not None


def test_conditional_headers_only_refuse_what_r2_refuses() -> None:
    moment = dt.datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=dt.UTC)
    assert condition_headers(None) == {}
    assert condition_headers(R2Conditional(etag_matches="*", etag_does_not_match="*")) == {}
    assert condition_headers(R2Conditional(etag_matches='"abc"', etag_does_not_match="def")) == {
        "if-match": '"abc"',
        "if-none-match": '"def"',
    }
    assert condition_headers(R2Conditional(uploaded_before=moment, uploaded_after=moment)) == {
        "if-unmodified-since": "Fri, 01 May 2026 12:00:01 GMT",  # rounded up
        "if-modified-since": "Fri, 01 May 2026 12:00:00 GMT",  # rounded down
    }
    # a date condition beside an etag condition is left to the local check (precedence differs)
    assert condition_headers(R2Conditional(etag_matches="abc", uploaded_before=moment)) == {
        "if-match": '"abc"'
    }
    assert condition_headers(R2Conditional(etag_does_not_match="abc", uploaded_after=moment)) == {
        "if-none-match": '"abc"'
    }
    assert condition_headers(R2Conditional(uploaded_after=dt.datetime(1969, 1, 1, tzinfo=dt.UTC))) == {}
    assert range_header(R2Range(offset=3, length=2)) == "bytes=3-4"
    assert range_header(R2Range(offset=3)) == "bytes=3-"
    assert range_header(R2Range(length=2)) == "bytes=0-1"
    assert range_header(R2Range(suffix=7)) == "bytes=-7"


# -- against a scripted server: what moto cannot show ----------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    close: bool = False  # close the connection after this reply (without saying so)
    cut_at: int | None = None  # send only this many body bytes, then close
    drop: bool = False  # close the connection without answering

    def encode(self) -> bytes:
        headers = {
            "etag": f'"{md5(self.body)}"',
            "last-modified": "Fri, 01 May 2026 12:00:00 GMT",
            **self.headers,
        }
        if self.chunked:
            headers["transfer-encoding"] = "chunked"
            body = (
                b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (self.body[:3], self.body[3:]) if p)
                + b"0\r\n\r\n"
            )
        else:
            headers.setdefault("content-length", str(len(self.body)))
            body = self.body if self.cut_at is None else self.body[: self.cut_at]
        head = f"HTTP/1.1 {self.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode("latin-1") + b"\r\n" + body


class ScriptedS3:
    """A real HTTP/1.1 server on 127.0.0.1 answering each request with the next scripted reply and
    recording what it received, connection by connection."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.raw = bytearray()
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.raw += head
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                self.requests.append((method, target, headers))
                reply = self.replies.popleft()
                if reply.drop:
                    return
                writer.write(reply.encode())
                await writer.drain()
                if reply.close or reply.cut_at is not None:
                    return
        finally:
            writer.close()

    def url(self) -> str:
        query = {
            "endpoint": f"http://127.0.0.1:{self.port}",
            "region": "auto",
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET,
        }
        return f"s3://bucket?{urlencode(query)}"


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedS3]:
    server = ScriptedS3()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_get_is_one_signed_get(scripted: ScriptedS3) -> None:
    scripted.replies.append(
        Reply(
            body=b"hello",
            headers={"content-type": "text/plain", "x-amz-meta-owner": "me", "cache-control": "x"},
        )
    )
    async with R2Bucket.from_url(scripted.url(), settings=SETTINGS) as bucket:
        got = await bucket.get("dir/a b.txt", only_if={"etag_matches": md5(b"hello")})
        assert got is not None
        assert await got.read() == b"hello"
        assert got.http_metadata.content_type == "text/plain"
        assert got.http_metadata.cache_control is None  # as head reports it (OpenDAL's stat omits it)
        assert dict(got.custom_metadata) == {"owner": "me"}
        assert got.uploaded == dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
        assert SECRET not in repr(bucket)
    [(method, target, headers)] = scripted.requests
    assert (method, target) == ("GET", "/bucket/dir/a%20b.txt")
    assert headers["host"] == f"127.0.0.1:{scripted.port}"
    assert headers["if-match"] == f'"{md5(b"hello")}"'
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "if-match" in headers["authorization"]  # the condition is signed
    assert SECRET.encode() not in scripted.raw


async def test_connections_are_kept_and_one_dropped_while_idle_is_replaced(scripted: ScriptedS3) -> None:
    no_retry = LayerSettings(logging=False, retry=None)
    scripted.replies.extend([Reply(body=b"one"), Reply(body=b"two"), Reply(drop=True), Reply(body=b"three")])
    async with R2Bucket.from_url(scripted.url(), settings=no_retry) as bucket:
        for expected in (b"one", b"two", b"three"):
            got = await bucket.get("k")
            assert got is not None
            assert await got.read() == expected
    assert len(scripted.requests) == 4
    assert scripted.connections == 2  # one kept for two gets, then one after the idle one was dropped


async def test_retryable_statuses_are_retried_then_raised(scripted: ScriptedS3) -> None:
    busy = Reply(503, b"<Error><Code>SlowDown</Code></Error>", {"retry-after": "0"})
    scripted.replies.extend([busy, Reply(500), Reply(body=b"at last")])
    async with R2Bucket.from_url(scripted.url(), settings=SETTINGS) as bucket:
        got = await bucket.get("k")
        assert got is not None
        assert await got.read() == b"at last"
        assert len(scripted.requests) == 3
        scripted.replies.extend([Reply(503), Reply(503), Reply(503)])
        with pytest.raises(Unavailable):
            await bucket.get("k")
        assert len(scripted.requests) == 6
        forbidden = Reply(
            403, f"<Error><Code>AccessDenied</Code><Message>{SECRET}</Message></Error>".encode()
        )
        scripted.replies.append(forbidden)
        with pytest.raises(CapabilityError) as caught:
            await bucket.get("k")
        assert len(scripted.requests) == 7, "a 403 is not retried"
        assert caught.value.retryable is False


async def test_a_chunked_body_and_one_cut_short(scripted: ScriptedS3) -> None:
    content_range = {"content-range": "bytes 2-9/10"}
    scripted.replies.append(Reply(206, b"23456789", content_range, chunked=True))
    async with R2Bucket.from_url(scripted.url(), settings=SETTINGS) as bucket:
        got = await bucket.get("k", range=R2Range(offset=2))
        assert got is not None
        assert (got.size, got.range) == (10, R2Range(offset=2, length=8))
        assert await got.read() == b"23456789"
        assert scripted.requests[0][2]["range"] == "bytes=2-"

        small = os.urandom(100_000)
        scripted.replies.append(Reply(body=small, cut_at=50_000))
        with pytest.raises(Unavailable, match="broke off"):
            await bucket.get("small")  # read whole inside get: the failure is get's

        large = os.urandom(2 * MiB)
        scripted.replies.append(Reply(body=large, cut_at=MiB))
        big = await bucket.get("large")
        assert big is not None
        with pytest.raises(Unavailable, match="broke off"):
            await big.read()


async def test_an_unreachable_endpoint_is_unavailable_after_the_retries() -> None:
    with socket.socket() as probe:  # a port nothing listens on once this socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with R2Bucket.from_config(
        s3_config(endpoint=f"http://127.0.0.1:{port}"), settings=SETTINGS
    ) as bucket:
        with pytest.raises(Unavailable, match="could not reach") as caught:
            await bucket.get("k")
    assert SECRET not in str(caught.value)


async def test_a_server_that_closes_every_connection_gets_each_body_intact(scripted: ScriptedS3) -> None:
    """Each answer on its own connection (as moto's own server does), many at once: every body
    matches its own etag although the connections' buffers are handed from closed ones to new ones."""
    bodies = [os.urandom(size) for size in (10, 70_000, 1_000, 200_000, 65_536) * 8]
    scripted.replies.extend(Reply(body=body, close=True) for body in bodies)
    async with R2Bucket.from_url(scripted.url(), settings=SETTINGS) as bucket:

        async def one(i: int) -> bytes:
            got = await bucket.get(f"k{i}")
            assert got is not None
            data = await got.read()
            assert md5(data) == got.etag
            return data

        read = await asyncio.gather(*(one(i) for i in range(len(bodies))))
    assert sorted(read) == sorted(bodies)
    assert scripted.connections == len(bodies)


def count_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The host names the running loop resolves from now on (``getaddrinfo`` still does the work)."""
    loop = asyncio.get_running_loop()
    lookups: list[str] = []
    real = loop.getaddrinfo

    async def counted(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counted)
    return lookups


async def test_an_ip_literal_is_never_resolved_and_a_host_name_once_for_many_connections(
    scripted: ScriptedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolving a name (``getaddrinfo`` in a worker thread) for every new connection would cost a
    client that connects often more than the connection itself; the addresses are reused a while."""
    from cap_cloudflare_r2.backends.http1 import Http1Pool
    from cap_opendal_core.redact import SealedHeaders

    lookups = count_lookups(monkeypatch)
    for host, expected in (("127.0.0.1", []), ("localhost", ["localhost"])):
        lookups.clear()
        scripted.replies.extend(Reply(body=b"hi", close=True) for _ in range(3))
        pool = Http1Pool(host, scripted.port)
        for _ in range(3):
            response = await pool.request("GET", "/bucket/k", SealedHeaders({"host": host}))
            assert await response.read() == b"hi"
        await pool.aclose()
        assert lookups == expected


async def test_a_name_whose_addresses_stop_answering_is_resolved_again(
    scripted: ScriptedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cap_cloudflare_r2.backends.http1 import Http1Pool
    from cap_opendal_core.redact import SealedHeaders

    lookups = count_lookups(monkeypatch)
    scripted.replies.append(Reply(body=b"hi", close=True))
    pool = Http1Pool("localhost", scripted.port)
    response = await pool.request("GET", "/bucket/k", SealedHeaders({"host": "localhost"}))
    assert await response.read() == b"hi"
    await scripted.stop()  # nothing listens there any more
    with pytest.raises(OSError, match=r"Connect call failed|could not connect"):
        await pool.request("GET", "/bucket/k", SealedHeaders({"host": "localhost"}))
    assert lookups == ["localhost"]  # the addresses looked up a moment ago were tried
    with pytest.raises(OSError, match=r"Connect call failed|could not connect"):
        await pool.request("GET", "/bucket/k", SealedHeaders({"host": "localhost"}))
    assert lookups == ["localhost", "localhost"]  # none answered: the name is looked up again


async def test_a_body_the_server_reads_slowly_arrives_whole_and_in_order() -> None:
    """The socket fills while the server waits before reading: the rest of the body is queued, the
    request waits for it to drain, and the server gets every byte in order (the head and the
    first slice go out together)."""
    import hashlib

    from cap_cloudflare_r2.backends.http1 import Http1Pool
    from cap_opendal_core.redact import SealedHeaders

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
        await asyncio.sleep(0.2)  # let the client's socket fill up
        digest = hashlib.md5(await reader.readexactly(length)).hexdigest().encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(digest), digest))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    body = bytearray(os.urandom(12 * MiB + 123))
    pool = Http1Pool("127.0.0.1", port)
    try:
        response = await pool.request("PUT", "/bucket/k", SealedHeaders({"host": "x"}), body)
        assert await response.read() == md5(bytes(body)).encode()
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()


def _self_signed(directory: Any) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by its own key (files: certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


async def test_tls_connections_are_verified_and_a_refused_certificate_says_so(tmp_path: Any) -> None:
    """TLS keeps asyncio's transport: a trusted certificate serves requests, connection after
    connection; an untrusted one fails with the certificate error itself."""
    import ssl

    from cap_cloudflare_r2.backends.http1 import Http1Pool
    from cap_opendal_core.redact import SealedHeaders

    cert_file, key_file = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    headers = SealedHeaders({"host": f"127.0.0.1:{port}"})
    trusted = Http1Pool("127.0.0.1", port, ssl_context=lambda: ssl.create_default_context(cafile=cert_file))
    untrusted = Http1Pool("127.0.0.1", port, ssl_context=ssl.create_default_context)
    try:
        for _ in range(3):
            response = await trusted.request("GET", "/bucket/k", headers)
            assert await response.read() == b"hello"
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusted.request("GET", "/bucket/k", headers)
    finally:
        await trusted.aclose()
        await untrusted.aclose()
        server.close()
        await server.wait_closed()
