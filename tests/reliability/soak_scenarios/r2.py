"""Soak scenario: R2 on OpenDAL's s3 service (moto's S3 server) through the fault proxy (run by
``tests/conformance/test_soak.py``).

Workers each own a few keys and run a seeded mix of puts (with content type and custom metadata),
gets (whole and ranged), heads, deletes, listings and multipart uploads (create, one part, complete);
one worker also streams a few objects larger than a part (OpenDAL's chunked writer, S3 multipart
underneath). What each object may hold at a moment is worked out afterwards from the requests moto
got and when (:mod:`tests.reliability.soak_history`: a put that failed may still land late, over a
newer object): every acknowledged write must have reached moto inside its call, reads through the
proxy must have seen a state the object may have had while they ran, and every key, read directly
from moto with boto3 (no proxy), must hold a state it may end in, with its content type and
metadata — otherwise it is a lost write.

Multipart completion is not idempotent: every CompleteMultipartUpload the proxy saw is counted per
upload id, and a second one for the same upload (a blind repeat) fails the soak. That is how the soak
found OpenDAL's writer repeating it (now fixed: streamed puts use an operator without OpenDAL's retry),
and ``tests/reliability/test_r2_soak_regressions.py`` pins the regression down.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import re
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from cap_cloudflare_r2 import R2Bucket, R2HttpMetadata, TransferSettings
from cap_opendal_core.errors import NotFound, PreconditionFailed
from cap_opendal_core.layers import LayerSettings
from tests.reliability.soak_history import Registers, applies_from, check
from tests.reliability.soak_support import (
    RegisterWorker,
    SoakLedger,
    SoakScenario,
    SoakTask,
    late_requests,
    soak_settings,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from tests.support.fault_proxy import FaultProxy, ProxyRecord, ProxyRequest
    from tests.support.moto_server import MotoS3

SEED = 4242
WORKERS = 12
OPS_PER_WORKER = 125
KEYS_PER_WORKER = 6
DEADLINE = 1.0
STREAM_DEADLINE = 20.0
STREAMED_PUTS = 3
MiB = 1024 * 1024
SETTINGS = soak_settings(DEADLINE, attempts=3, base=0.01)
TRANSFER = TransferSettings(part_size=5 * MiB, concurrency=2, read_chunk_size=256 * 1024)
CONTENT_TYPES = ("application/octet-stream", "text/plain; charset=utf-8", "application/json", "image/png")

Version = tuple[str, str, tuple[tuple[str, str], ...]] | None
"""An object's state: (etag, content type, sorted custom metadata), or None for absent."""


def is_complete(req: ProxyRequest | Any) -> bool:
    query = req.query if isinstance(req.query, str) else "&".join(f"{k}={v}" for k, v in req.query.items())
    return req.method == "POST" and "uploadId=" in query and "uploads" not in query


def _is_create(req: Any) -> bool:
    query = req.query if isinstance(req.query, str) else "&".join(req.query)
    return req.method == "POST" and "uploads" in query


def _multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


class Worker(RegisterWorker):
    def __init__(self, number: int, bucket: R2Bucket, ledger: SoakLedger) -> None:
        keys = [f"w{number:02d}/o{j}" for j in range(KEYS_PER_WORKER - 1)] + [f"w{number:02d}/ü ß/obj"]
        super().__init__(number, ledger, seed=SEED, ops=OPS_PER_WORKER, keys=keys)
        self.bucket = bucket
        self.data: dict[str, bytes] = {}
        self.versions: dict[str, Version] = {}
        """etag → the state a write of it leaves (etags are unique: every body carries its write)."""
        self.create_calls = 0

    def _new(self, key: str, size: int) -> tuple[bytes, str, dict[str, str]]:
        self.counter += 1
        head = f"{key}#{self.counter}|".encode()
        data = (head + self.rng.randbytes(max(0, size - len(head))))[: max(size, len(head))]
        meta = {"n": str(self.counter), "w": str(self.number)}
        return data, self.rng.choice(CONTENT_TYPES), meta

    def _version(self, etag: str, data: bytes, content_type: str, meta: dict[str, str]) -> Version:
        version: Version = (etag, content_type, tuple(sorted(meta.items())))
        self.data[etag] = data
        self.versions[etag] = version
        return version

    async def step(self) -> None:
        rng, bucket, ledger = self.rng, self.bucket, self.ledger
        key = rng.choice(self.keys)
        roll = rng.random()
        if roll < 0.30:
            data, content_type, meta = self._new(key, rng.choice([0, 1, 100, 4096, 20_000]))
            etag = hashlib.md5(data).hexdigest()
            version = self._version(etag, data, content_type, meta)
            out = await ledger.run(
                "put",
                lambda: bucket.put(
                    key, data, http_metadata=R2HttpMetadata(content_type=content_type), custom_metadata=meta
                ),
                bound=DEADLINE,
            )
            if out.ok and out.value.etag != etag:
                ledger.problem(f"put of {key!r} reported etag {out.value.etag!r}, expected {etag!r}")
            self._written(key, version, out, "put")
        elif roll < 0.50:
            # every body starts with a head of 9 bytes or more, so a range from under 8 always fits
            ranged = rng.random() < 0.4
            offset, length = rng.randrange(8), rng.randrange(1, 33)

            async def read() -> tuple[Any, bytes] | None:
                got = await bucket.get(key, range={"offset": offset, "length": length} if ranged else None)
                if got is None:
                    return None
                return got, await got.read()

            what = "get/range" if ranged else "get"
            out = await ledger.run(what, read, bound=DEADLINE)
            if out.ok:
                if out.value is None:
                    self._read(key, out, None, what)
                else:
                    obj, body = out.value
                    self._read(key, out, _seen(obj), what)
                    full = self.data.get(obj.etag)
                    want = None if full is None else (full[offset : offset + length] if ranged else full)
                    if body != want:
                        ledger.problem(
                            f"get of {key!r} returned {len(body)} bytes that are not etag {obj.etag}'s"
                        )
        elif roll < 0.60:
            out = await ledger.run("head", lambda: bucket.head(key), bound=DEADLINE)
            if out.ok:
                self._read(key, out, None if out.value is None else _seen(out.value), "head")
        elif roll < 0.70:
            out = await ledger.run("delete", lambda: bucket.delete(key), bound=DEADLINE)
            self._written(key, None, out, "delete")
        elif roll < 0.80:
            out = await ledger.run("list", lambda: bucket.list(prefix=self.prefix), bound=DEADLINE)
            self._listed(out, lambda page: (o.key for o in page.objects))
        else:
            await self.multipart(key)

    async def multipart(self, key: str) -> None:
        ledger, bucket = self.ledger, self.bucket
        data, content_type, meta = self._new(key, self.rng.choice([10, 3000]))
        version = self._version(_multipart_etag([data]), data, content_type, meta)
        self.create_calls += 1
        created = await ledger.run(
            "create_multipart_upload",
            lambda: bucket.create_multipart_upload(
                key, http_metadata=R2HttpMetadata(content_type=content_type), custom_metadata=meta
            ),
            bound=DEADLINE,
        )
        if not created.ok:
            return
        upload = created.value
        part = await ledger.run("upload_part", lambda: upload.upload_part(1, data), bound=DEADLINE)
        if not part.ok:
            await ledger.run("abort_multipart_upload", upload.abort, bound=DEADLINE)
            return
        done = await ledger.run(
            "complete_multipart_upload",
            lambda: upload.complete([part.value]),
            bound=DEADLINE,
            judged_by_caller=(NotFound, PreconditionFailed),
        )
        if isinstance(done.error, PreconditionFailed):
            # complete() completed, then its read-back (pinned to the upload's etag) found another
            # version: only acceptable if the key held something other than this upload during the call
            ours = _etag(version)
            self._read(
                key, done, False, "complete_multipart_upload (reported replaced)", lambda s: _etag(s) == ours
            )
        if isinstance(done.error, NotFound):
            # complete() reads the object back after completing it; a late delete of this key landing
            # in between makes it report NotFound — only acceptable if the key may have been absent
            self._read(key, done, None, "complete_multipart_upload (object reported gone)")
        if done.ok and version is not None and done.value.etag != version[0]:
            # complete() reads the object back (stat, if-match its etag, else plain): when another
            # write replaced it in between (worker 0's streamed puts share its keys), it reports that
            # write - which must then be a state the key may have had during the call
            self._read(key, done, done.value.etag, "complete_multipart_upload (object reported)", _etag)
        self._written(key, version, done, "complete_multipart_upload")

    async def streamed_puts(self, big: R2Bucket) -> None:
        """Objects over one part, streamed: OpenDAL's writer uploads them with S3 multipart.

        They run beside this worker's other operations, which may pick the same keys: the history
        model does not need a key's writes to take turns."""
        for i in range(STREAMED_PUTS):
            key = f"w{self.number:02d}/big{i}"
            self.keys.append(key)
            parts = [self.rng.randbytes(5 * MiB), self.rng.randbytes(MiB // 2 + i)]
            meta = {"n": str(i), "w": str(self.number)}

            async def chunks(parts: list[bytes] = parts) -> AsyncIterator[bytes]:
                for p in parts:
                    for start in range(0, len(p), MiB):
                        yield p[start : start + MiB]

            version = self._version(_multipart_etag(parts), b"".join(parts), "video/mp4", meta)
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
                judged_by_caller=(NotFound,),
            )
            if isinstance(out.error, NotFound):  # its stat after the upload met a delete, as complete()'s
                self._read(key, out, None, "put/stream (object reported gone)")
            self._written(key, version, out, "put/stream")


def _seen(obj: Any) -> Version:
    return (obj.etag, obj.http_metadata.content_type or "", tuple(sorted(dict(obj.custom_metadata).items())))


def _etag(state: Version) -> str | None:
    return None if state is None else state[0]


_ETAG = re.compile(rb"<ETag>\s*(?:&quot;|\")?([0-9a-fA-F]{32})")
_KEY = re.compile(rb"<Key>(.*?)</Key>", re.S)


def _classifier(bucket: str, versions: dict[str, Version], ledger: SoakLedger) -> Any:
    """What a request moto got would leave in which object (nothing for reads and parts)."""
    prefix = f"/{bucket}/"

    def effect(etag: str, record: ProxyRecord) -> Version:
        if etag not in versions:
            ledger.problem(f"moto got a write no call made: {record.method} {record.target} (etag {etag})")
        return versions.get(etag, ("?", "?", ()))

    def classify(record: ProxyRecord) -> list[tuple[str, Version]]:
        path = unquote(record.path)
        query = record.query
        if not path.startswith(prefix):
            if record.method == "POST" and "delete" in query:  # DeleteObjects: a batch of deletes
                return [(html.unescape(k.decode()), None) for k in _KEY.findall(record.body)]
            return []
        key = path[len(prefix) :]
        if record.method == "PUT" and "partNumber" not in query and "uploadId" not in query:
            return [(key, effect(hashlib.md5(record.body).hexdigest(), record))]
        if record.method == "POST" and "uploadId" in query:  # CompleteMultipartUpload
            etags = [bytes.fromhex(e.decode()) for e in _ETAG.findall(record.body)]
            joined = hashlib.md5(b"".join(etags)).hexdigest()
            return [(key, effect(f"{joined}-{len(etags)}", record))]
        if record.method == "DELETE" and "uploadId" not in query:
            return [(key, None)]
        return []

    return classify


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


class R2Soak(SoakScenario):
    """R2 on OpenDAL's s3 service against moto's S3 server."""

    capability = "r2"
    seed = SEED
    flavor = "s3"
    fault_share = 0.10

    def __init__(self, moto: MotoS3) -> None:
        self.moto = moto
        self.name = moto.create_bucket("soak")
        self.workers: list[Worker] = []

    @contextlib.contextmanager
    def upstream(self) -> Iterator[str]:
        yield self.moto.endpoint

    @contextlib.asynccontextmanager
    async def load(self, proxy: FaultProxy, ledger: SoakLedger) -> AsyncIterator[list[SoakTask]]:
        url = self.moto.url(self.name, endpoint=proxy.origin)
        big_settings = LayerSettings(logging=False, deadline=STREAM_DEADLINE, retry=SETTINGS.retry)
        async with (
            R2Bucket.from_url(url, settings=SETTINGS, transfer=TRANSFER) as bucket,
            R2Bucket.from_url(url, settings=big_settings, transfer=TRANSFER) as big,
        ):
            self.workers = [Worker(n, bucket, ledger) for n in range(WORKERS)]
            tasks: list[SoakTask] = [worker.run for worker in self.workers]
            tasks.append(partial(self.workers[0].streamed_puts, big))
            yield tasks

    async def judge(self, records: list[ProxyRecord], upstream: str, ledger: SoakLedger) -> str:
        name, workers = self.name, self.workers
        # non-idempotent requests: at most one CompleteMultipartUpload per upload id, and no more
        # CreateMultipartUpload requests than create calls (none repeated)
        completes = Counter(r.query.get("uploadId") for r in records if is_complete(r))
        repeated = {upload: n for upload, n in completes.items() if n > 1}
        if repeated:
            ledger.problem(f"CompleteMultipartUpload repeated for {len(repeated)} upload(s): {repeated}")
        creates = sum(1 for r in records if _is_create(r))
        calls = sum(w.create_calls for w in workers)
        if creates > calls:
            ledger.problem(f"{creates} CreateMultipartUpload requests for {calls} calls: some were repeated")

        # what each object may have held when, from what moto got: judge the soak's reads and writes
        versions = {etag: v for w in workers for etag, v in w.versions.items()}
        model: Registers[Version] = Registers(
            applies_from(records, _classifier(name, versions, ledger)), None
        )
        for worker in workers:
            check(model, worker.reads, worker.writes, ledger.problem, ledger.lost)

        # every object, read back directly from moto (boto3, no proxy)
        client = self.moto.client()
        expected = set()
        for worker in workers:
            for key in worker.keys:
                possible = model.possible(key)
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
        ledger.check_listing("the bucket", listed, expected)
        return (
            f", completes={sum(completes.values())}, creates={creates}, late={late_requests(records)}, "
            f"reads_judged={sum(len(w.reads) for w in workers)}"
        )
