"""Soak: R2 on OpenDAL's s3 service (moto's S3 server) through the fault proxy.

Workers each own a few keys and run a seeded mix of puts (with content type and custom metadata),
gets (whole and ranged), heads, deletes, listings and multipart uploads (create, one part, complete);
one worker also streams a few objects larger than a part (OpenDAL's chunked writer, S3 multipart
underneath). As in the KV soak, each key has the set of states it may be in; reads through the proxy
must return one of them, and afterwards every key is read directly from moto with boto3 (no proxy)
and must hold one of them, with its content type and metadata — otherwise it is a lost write.

Multipart completion is not idempotent: every CompleteMultipartUpload the proxy saw is counted per
upload id, and a second one for the same upload (a blind repeat) fails the soak. That is how the soak
found OpenDAL's writer repeating it (now fixed: streamed puts use an operator without OpenDAL's retry),
and :func:`test_a_lost_complete_answer_is_not_repeated` pins the regression down.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cap_cloudflare_r2 import R2Bucket, R2HttpMetadata, TransferSettings
from cap_opendal_core.errors import CapabilityError, DeadlineExceeded, Unavailable
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.reliability.soak_support import SoakLedger
from tests.support.fault_proxy import FaultPlan, FaultProxy, ProxyRequest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.support.moto_server import MotoS3

pytestmark = pytest.mark.anyio

SEED = 4242
WORKERS = 12
OPS_PER_WORKER = 125
KEYS_PER_WORKER = 6
DEADLINE = 1.0
STREAM_DEADLINE = 20.0
STREAMED_PUTS = 3
MiB = 1024 * 1024
SETTINGS = LayerSettings(logging=False, deadline=DEADLINE, retry=RetryPolicy(attempts=3, base=0.01, cap=0.05))
TRANSFER = TransferSettings(part_size=5 * MiB, concurrency=2, read_chunk_size=256 * 1024)
CONTENT_TYPES = ("application/octet-stream", "text/plain; charset=utf-8", "application/json", "image/png")

Version = tuple[str, str, tuple[tuple[str, str], ...]] | None
"""An object's state: (etag, content type, sorted custom metadata), or None for absent."""


def _is_complete(req: ProxyRequest | Any) -> bool:
    query = req.query if isinstance(req.query, str) else "&".join(f"{k}={v}" for k, v in req.query.items())
    return req.method == "POST" and "uploadId=" in query and "uploads" not in query


def _is_create(req: Any) -> bool:
    query = req.query if isinstance(req.query, str) else "&".join(req.query)
    return req.method == "POST" and "uploads" in query


def _multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


class Worker:
    def __init__(self, number: int, bucket: R2Bucket, ledger: SoakLedger, proxy: FaultProxy) -> None:
        self.rng = random.Random(SEED * 1000 + number)
        self.number = number
        self.bucket = bucket
        self.ledger = ledger
        self.proxy = proxy
        self.keys = [f"w{number:02d}/o{j}" for j in range(KEYS_PER_WORKER - 1)] + [f"w{number:02d}/ü ß/obj"]
        self.possible: dict[str, set[Version]] = {key: {None} for key in self.keys}
        self.data: dict[str, bytes] = {}
        self.counter = 0
        self.create_calls = 0

    def _written(self, key: str, version: Version, ok: bool) -> None:
        if ok:
            self.possible[key] = {version}
        else:
            self.possible[key].add(version)

    def _new(self, key: str, size: int) -> tuple[bytes, str, dict[str, str]]:
        self.counter += 1
        head = f"{key}#{self.counter}|".encode()
        data = (head + self.rng.randbytes(max(0, size - len(head))))[: max(size, len(head))]
        meta = {"n": str(self.counter), "w": str(self.number)}
        return data, self.rng.choice(CONTENT_TYPES), meta

    def _check(self, key: str, etag: str, content_type: str | None, meta: dict[str, str], what: str) -> None:
        seen: Version = (etag, content_type or "", tuple(sorted(meta.items())))
        if seen not in self.possible[key]:
            self.ledger.problem(f"{what} of {key!r} saw {seen!r}, expected one of {self.possible[key]!r}")

    async def run(self) -> None:
        for _ in range(OPS_PER_WORKER):
            out_error = await self.step()
            if isinstance(out_error, DeadlineExceeded):
                await self.proxy.wait_idle()  # a late request lands before the next op on these keys

    async def step(self) -> CapabilityError | None:
        rng, bucket, ledger = self.rng, self.bucket, self.ledger
        key = rng.choice(self.keys)
        roll = rng.random()
        if roll < 0.30:
            data, content_type, meta = self._new(key, rng.choice([0, 1, 100, 4096, 20_000]))
            etag = hashlib.md5(data).hexdigest()
            self.data[etag] = data
            out = await ledger.run(
                "put",
                lambda: bucket.put(
                    key, data, http_metadata=R2HttpMetadata(content_type=content_type), custom_metadata=meta
                ),
                bound=DEADLINE,
            )
            if out.ok and out.value.etag != etag:
                ledger.problem(f"put of {key!r} reported etag {out.value.etag!r}, expected {etag!r}")
            self._written(key, (etag, content_type, tuple(sorted(meta.items()))), out.ok)
            return out.error
        if roll < 0.50:
            sizes = {len(self.data[v[0]]) for v in self.possible[key] if v is not None}
            ranged = None not in self.possible[key] and min(sizes, default=0) >= 64 and rng.random() < 0.4
            offset, length = rng.randrange(32), rng.randrange(1, 33)

            async def read() -> tuple[Any, bytes] | None:
                got = await bucket.get(key, range={"offset": offset, "length": length} if ranged else None)
                if got is None:
                    return None
                return got, await got.read()

            out = await ledger.run("get/range" if ranged else "get", read, bound=DEADLINE)
            if out.ok:
                if out.value is None:
                    if None not in self.possible[key]:
                        ledger.problem(
                            f"get of {key!r} found nothing, expected one of {self.possible[key]!r}"
                        )
                else:
                    obj, body = out.value
                    self._check(
                        key, obj.etag, obj.http_metadata.content_type, dict(obj.custom_metadata), "get"
                    )
                    full = self.data.get(obj.etag)
                    want = None if full is None else (full[offset : offset + length] if ranged else full)
                    if body != want:
                        ledger.problem(
                            f"get of {key!r} returned {len(body)} bytes that are not etag {obj.etag}'s"
                        )
            return out.error
        if roll < 0.60:
            out = await ledger.run("head", lambda: bucket.head(key), bound=DEADLINE)
            if out.ok:
                if out.value is None:
                    if None not in self.possible[key]:
                        ledger.problem(
                            f"head of {key!r} found nothing, expected one of {self.possible[key]!r}"
                        )
                else:
                    obj = out.value
                    self._check(
                        key, obj.etag, obj.http_metadata.content_type, dict(obj.custom_metadata), "head"
                    )
            return out.error
        if roll < 0.70:
            out = await ledger.run("delete", lambda: bucket.delete(key), bound=DEADLINE)
            self._written(key, None, out.ok)
            return out.error
        if roll < 0.80:
            prefix = f"w{self.number:02d}/"
            out = await ledger.run("list", lambda: bucket.list(prefix=prefix), bound=DEADLINE)
            if out.ok:
                listed = {o.key for o in out.value.objects}
                for k in self.keys:
                    if None not in self.possible[k] and k not in listed:
                        ledger.problem(f"list missed {k!r}, which must exist")
                    if self.possible[k] == {None} and k in listed:
                        ledger.problem(f"list showed {k!r}, which must not exist")
            return out.error
        return await self.multipart(key)

    async def multipart(self, key: str) -> CapabilityError | None:
        ledger, bucket = self.ledger, self.bucket
        data, content_type, meta = self._new(key, self.rng.choice([10, 3000]))
        self.create_calls += 1
        created = await ledger.run(
            "create_multipart_upload",
            lambda: bucket.create_multipart_upload(
                key, http_metadata=R2HttpMetadata(content_type=content_type), custom_metadata=meta
            ),
            bound=DEADLINE,
        )
        if not created.ok:
            return created.error
        upload = created.value
        part = await ledger.run("upload_part", lambda: upload.upload_part(1, data), bound=DEADLINE)
        if not part.ok:
            await ledger.run("abort_multipart_upload", upload.abort, bound=DEADLINE)
            return part.error
        etag = _multipart_etag([data])
        self.data[etag] = data
        done = await ledger.run(
            "complete_multipart_upload", lambda: upload.complete([part.value]), bound=DEADLINE
        )
        if done.ok and done.value.etag != etag:
            ledger.problem(f"complete of {key!r} reported etag {done.value.etag!r}, expected {etag!r}")
        self._written(key, (etag, content_type, tuple(sorted(meta.items()))), done.ok)
        return done.error

    async def streamed_puts(self, big: R2Bucket) -> None:
        """Objects over one part, streamed: OpenDAL's writer uploads them with S3 multipart."""
        for i in range(STREAMED_PUTS):
            key = f"w{self.number:02d}/big{i}"
            self.keys.append(key)
            self.possible[key] = {None}
            parts = [self.rng.randbytes(5 * MiB), self.rng.randbytes(MiB // 2 + i)]
            meta = {"n": str(i), "w": str(self.number)}

            async def chunks(parts: list[bytes] = parts) -> AsyncIterator[bytes]:
                for p in parts:
                    for start in range(0, len(p), MiB):
                        yield p[start : start + MiB]

            etag = _multipart_etag(parts)
            self.data[etag] = b"".join(parts)
            self.create_calls += 1
            out = await self.ledger.run(
                "put/stream",
                lambda key=key, chunks=chunks, meta=meta: big.put(  # type: ignore[misc]
                    key,
                    chunks(),
                    http_metadata=R2HttpMetadata(content_type="video/mp4"),
                    custom_metadata=meta,
                ),
                bound=STREAM_DEADLINE,
            )
            self._written(key, (etag, "video/mp4", tuple(sorted(meta.items()))), out.ok)


def _direct_state(client: Any, bucket: str, key: str) -> Version:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except client.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return (
        head["ETag"].strip('"'),
        head.get("ContentType", ""),
        tuple(sorted(head.get("Metadata", {}).items())),
    )


async def test_r2_s3_soak_through_faults(moto_s3: MotoS3, capsys: pytest.CaptureFixture[str]) -> None:
    name = moto_s3.create_bucket("soak")
    plan = FaultPlan.mixed(SEED, total=0.10, stall_share=0.1, flavor="s3", stall_seconds=5.0)
    with FaultProxy(moto_s3.endpoint, plan) as proxy:
        ledger = SoakLedger("r2")
        url = moto_s3.url(name, endpoint=proxy.origin)
        big_settings = LayerSettings(logging=False, deadline=STREAM_DEADLINE, retry=SETTINGS.retry)
        async with (
            R2Bucket.from_url(url, settings=SETTINGS, transfer=TRANSFER) as bucket,
            R2Bucket.from_url(url, settings=big_settings, transfer=TRANSFER) as big,
        ):
            workers = [Worker(n, bucket, ledger, proxy) for n in range(WORKERS)]
            with anyio.fail_after(150):
                async with anyio.create_task_group() as group:
                    for worker in workers:
                        group.start_soon(worker.run)
                    group.start_soon(workers[0].streamed_puts, big)
        await proxy.wait_idle()

        # non-idempotent requests: at most one CompleteMultipartUpload per upload id, and no more
        # CreateMultipartUpload requests than create calls (none repeated)
        records = proxy.snapshot()
        completes = Counter(r.query.get("uploadId") for r in records if _is_complete(r))
        repeated = {upload: n for upload, n in completes.items() if n > 1}
        if repeated:
            ledger.problem(f"CompleteMultipartUpload repeated for {len(repeated)} upload(s): {repeated}")
        creates = sum(1 for r in records if _is_create(r))
        calls = sum(w.create_calls for w in workers)
        if creates > calls:
            ledger.problem(f"{creates} CreateMultipartUpload requests for {calls} calls: some were repeated")

        # every object, read back directly from moto (boto3, no proxy)
        client = moto_s3.client()
        expected = set()
        for worker in workers:
            for key, possible in worker.possible.items():
                seen = _direct_state(client, name, key)
                if seen not in possible:
                    ledger.lost(f"{key!r} is {seen!r}, expected one of {possible!r}")
                elif seen is not None:
                    expected.add(key)
                    body = client.get_object(Bucket=name, Key=key)["Body"].read()
                    if body != worker.data[seen[0]]:
                        ledger.lost(f"{key!r}: its body does not match etag {seen[0]}")
        listed = {
            o["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name)
            for o in page.get("Contents", [])
        }
        if listed != expected:
            ledger.problem(f"the bucket lists {sorted(listed ^ expected)} unexpectedly")
        ledger.report(
            proxy, capsys, seed=SEED, extra=f", completes={sum(completes.values())}, creates={creates}"
        )


# --- regressions found by the soak ----------------------------------------------------------------


async def test_a_lost_complete_answer_is_not_repeated(moto_s3: MotoS3) -> None:
    """CompleteMultipartUpload whose answer is lost (the service did complete the upload) is sent once,
    on the public multipart API and in a streamed put, and the error says the fault was transient."""
    name = moto_s3.create_bucket("complete")
    for kind in ("error_after", "reset_body"):
        with FaultProxy(
            moto_s3.endpoint, FaultPlan(1, {kind: 1.0}, flavor="s3", eligible=_is_complete)
        ) as proxy:
            url = moto_s3.url(name, endpoint=proxy.origin)
            settings = LayerSettings(logging=False, deadline=STREAM_DEADLINE, retry=SETTINGS.retry)
            async with R2Bucket.from_url(url, settings=settings, transfer=TRANSFER) as bucket:
                upload = await bucket.create_multipart_upload(f"{kind}/api")
                part = await upload.upload_part(1, b"one part")
                with pytest.raises(Unavailable) as caught:
                    await upload.complete([part])
                assert caught.value.retryable is True

                async def chunks() -> AsyncIterator[bytes]:
                    yield b"a" * (5 * MiB)
                    yield b"b" * 10

                with pytest.raises(Unavailable) as caught:
                    await bucket.put(f"{kind}/stream", chunks())
                assert caught.value.retryable is True  # a 503 or a reset is transient, whoever retried it
            completes = Counter(r.path for r in proxy.snapshot() if _is_complete(r))
            assert completes == {f"/{name}/{kind}/api": 1, f"/{name}/{kind}/stream": 1}
            assert all(r.forwarded and r.upstream_status == 200 for r in proxy.snapshot() if _is_complete(r))
        # the service did complete both: the data is there, although the caller was told it failed
        client = moto_s3.client()
        assert client.get_object(Bucket=name, Key=f"{kind}/api")["Body"].read() == b"one part"
        assert client.head_object(Bucket=name, Key=f"{kind}/stream")["ContentLength"] == 5 * MiB + 10


async def test_a_transient_fault_stays_retryable_after_opendal_gave_up(moto_s3: MotoS3) -> None:
    """OpenDAL marks an error it retried in vain "persistent"; it is still a transient fault, and reads
    as one (``retryable=True``), as the same fault does on the REST backends once their retries are spent."""
    name = moto_s3.create_bucket("persistent")
    with FaultProxy(moto_s3.endpoint, FaultPlan(2, {"error_before": 1.0}, flavor="s3")) as proxy:
        async with R2Bucket.from_url(moto_s3.url(name, endpoint=proxy.origin), settings=SETTINGS) as bucket:
            with pytest.raises(Unavailable) as caught:
                await bucket.head("k")
            assert caught.value.retryable is True
            assert any("retry" in note for note in getattr(caught.value, "__notes__", ()))
        assert len(proxy.snapshot()) == SETTINGS.retry.attempts  # type: ignore[union-attr]
