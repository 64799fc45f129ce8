"""Issue 17's R2 fidelity on every CPython backend (OpenDAL memory, local directory, moto's S3):
storage classes, checksums read back, ``iter_objects``, progress callbacks, and bad input refused
before any I/O."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from cap_opendal_core.errors import InvalidInput
from tests.workers.checks.check_r2 import chunks_of

if TYPE_CHECKING:
    from cap_cloudflare_r2 import R2Bucket, R2Object

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


async def test_storage_class_is_stored_and_returned(bucket: R2Bucket) -> None:
    put = await bucket.put("ia", b"cold", storage_class="InfrequentAccess")
    assert put is not None
    assert put.storage_class == "InfrequentAccess"
    head = await bucket.head("ia")
    assert head is not None
    assert head.storage_class == "InfrequentAccess"
    got = await bucket.get("ia")
    assert got is not None
    assert got.storage_class == "InfrequentAccess"
    await got.aclose()
    await bucket.put("std", b"warm")
    head = await bucket.head("std")
    assert head is not None
    assert head.storage_class == "Standard"


async def test_multipart_upload_keeps_its_storage_class(bucket: R2Bucket) -> None:
    upload = await bucket.create_multipart_upload("mp", storage_class="InfrequentAccess")
    part = await upload.upload_part(1, b"x" * 1000)
    done = await upload.complete([part])
    assert done.storage_class == "InfrequentAccess"
    head = await bucket.head("mp")
    assert head is not None
    assert head.storage_class == "InfrequentAccess"


async def test_a_streamed_put_reports_what_head_reports(bucket: R2Bucket) -> None:
    body = b"s" * (6 * MiB)  # over TRANSFER.part_size: uploaded in parts
    digest = hashlib.sha256(body).hexdigest()
    put = await bucket.put("big", chunks_of(body, 1 * MiB), sha256=digest, storage_class="InfrequentAccess")
    head = await bucket.head("big")
    assert put is not None
    assert head is not None
    assert (put.key, put.size, put.etag, put.storage_class) == (
        head.key,
        head.size,
        head.etag,
        "InfrequentAccess",
    )
    assert put.checksums.sha256 == digest
    got = await bucket.get("big")
    assert got is not None
    assert await got.read() == body


async def test_a_wrong_checksum_on_a_multipart_stream_stores_nothing(bucket: R2Bucket) -> None:
    body = b"w" * (6 * MiB)
    with pytest.raises(InvalidInput) as caught:
        await bucket.put("wrong", chunks_of(body, 1 * MiB), sha256="0" * 64)
    assert caught.value.field == "sha256"
    assert await bucket.head("wrong") is None


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
async def test_checksums_sent_on_put_are_read_back(bucket: R2Bucket, algorithm: str) -> None:
    body = b"checked body"
    digest = hashlib.new(algorithm, body).hexdigest()
    put = await bucket.put("c", body, **{algorithm: digest})  # type: ignore[arg-type]
    assert put is not None
    assert getattr(put.checksums, algorithm) == digest
    head = await bucket.head("c")
    assert head is not None
    assert getattr(head.checksums, algorithm) == digest
    got = await bucket.get("c")
    assert got is not None
    assert getattr(got.checksums, algorithm) == digest
    await got.aclose()


async def test_iter_objects_walks_every_page(bucket: R2Bucket) -> None:
    keys = [f"it/{n:02d}" for n in range(7)] + ["it/sub/deep", "other"]
    for key in keys:
        await bucket.put(key, key)
    seen: list[R2Object] = [o async for o in bucket.iter_objects(prefix="it/", page_size=3)]
    assert [o.key for o in seen] == sorted(k for k in keys if k.startswith("it/"))
    shallow = [o.key async for o in bucket.iter_objects(prefix="it/", delimiter="/", page_size=2)]
    assert shallow == [f"it/{n:02d}" for n in range(7)]
    with_meta = [o async for o in bucket.iter_objects(prefix="it/0", include=["custom_metadata"])]
    assert len(with_meta) == 7


async def test_progress_is_reported_for_streams_and_bodies(bucket: R2Bucket) -> None:
    body = b"p" * (3 * MiB)
    sent: list[tuple[int, int | None]] = []
    await bucket.put(
        "prog", chunks_of(body, 1 * MiB), on_progress=lambda done, total: sent.append((done, total))
    )
    assert sent[0] == (0, None)
    assert sent[-1] == (len(body), None)
    assert [done for done, _ in sent] == sorted(done for done, _ in sent)
    read: list[tuple[int, int | None]] = []
    got = await bucket.get("prog", on_progress=lambda done, total: read.append((done, total)))
    assert got is not None
    assert await got.read() == body
    assert read[-1] == (len(body), len(body))
    small: list[tuple[int, int | None]] = []
    await bucket.put("prog-small", b"abc", on_progress=lambda done, total: small.append((done, total)))
    assert small == [(3, 3)]


async def test_bad_storage_class_and_progress_are_refused_before_io(bucket: R2Bucket) -> None:
    with pytest.raises(InvalidInput) as caught:
        await bucket.put("x", b"1", storage_class="STANDARD_IA")
    assert caught.value.field == "storage_class"
    with pytest.raises(InvalidInput) as caught:
        await bucket.create_multipart_upload("x", storage_class="Glacier")
    assert caught.value.field == "storage_class"
    with pytest.raises(InvalidInput) as caught:
        await bucket.put("x", b"1", on_progress=42)  # type: ignore[arg-type]
    assert caught.value.field == "on_progress"
    with pytest.raises(InvalidInput):
        await anext(bucket.iter_objects(page_size=0))
    assert await bucket.head("x") is None
