"""Differential test: the same R2 sequence on the local backend and on moto's S3 server (the S3
backend) must observe the same thing in every field both can return.

Left out, and why: ``uploaded`` and ``version`` (each store's own clock and ids);
``cache_control``, ``content_language`` and ``cache_expiry`` (OpenDAL's S3 stat does not report the
first, and cannot store the others); SHA-384/SHA-512 read back by ``head``/``get`` (S3 has no header
for them: ``put`` reports them on both); a put result's ``storage_class`` when none was given (S3's
answer does not name the bucket's default; ``head`` does, and is compared); a listing's SHA
checksums and storage class (S3's listing, read through OpenDAL, carries neither).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final

import pytest

from cap_cloudflare_r2 import R2Bucket, R2Object
from cap_opendal_core.errors import CapabilityError
from tests.workers.checks.check_r2 import SETTINGS, TRANSFER, chunks_of

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.moto_server import MotoS3

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024
STREAMED: Final = "d/s-big"
"""A stream over ``part_size``: R2 and S3 store it in parts (etag ``…-N``, no MD5), the local
backend as one body; its etag and checksums are compared by the streamed put's own tests."""


def _object(obj: R2Object | None, *, put: bool = False) -> Any:
    if obj is None:
        return None
    checksums = obj.checksums.to_dict()
    if obj.key == STREAMED:
        return {"key": obj.key, "size": obj.size, "storage_class": obj.storage_class}
    if not put:
        checksums = {k: v for k, v in checksums.items() if k not in ("sha384", "sha512")}
    http = obj.http_metadata
    return {
        "key": obj.key,
        "size": obj.size,
        "etag": obj.etag,
        "http_etag": obj.http_etag,
        # S3 (moto, AWS) gives an object stored without a content type its default; R2 and local none
        "content_type": None if http.content_type == "binary/octet-stream" else http.content_type,
        "content_disposition": http.content_disposition,
        "content_encoding": http.content_encoding,
        "custom": dict(obj.custom_metadata),
        "checksums": checksums,
        # S3's answer to a put names no class when none was given: the bucket's default, Standard here
        "storage_class": obj.storage_class or "Standard" if put else obj.storage_class,
    }


async def _run(bucket: R2Bucket) -> list[Any]:
    record: list[Any] = []

    async def step(name: str, call: Any, **shape: Any) -> None:
        try:
            result = await call
        except CapabilityError as exc:
            record.append((name, "error", type(exc).__name__, getattr(exc, "field", None)))
            return
        record.append((name, _observe(result, **shape)))

    async def body_of(key: str, **options: Any) -> Any:
        got = await bucket.get(key, **options)
        if got is None:
            return None
        return {
            "object": _object(got.object),
            "range": (got.range.offset, got.range.length),
            "body": await got.read(),
        }

    small = b"hello differential"
    big = bytes(range(256)) * (24 * 1024)  # 6 MiB: a streamed put in parts
    await step(
        "put-meta",
        bucket.put(
            "d/meta.txt",
            small,
            http_metadata={
                "content_type": "text/plain",
                "content_disposition": "inline",
                "content_encoding": "identity",
            },
            custom_metadata={"owner": "diff", "n": "1"},
        ),
        put=True,
    )
    for algorithm in ("md5", "sha1", "sha256", "sha384", "sha512"):
        digest = hashlib.new(algorithm, small).hexdigest()
        given: dict[str, Any] = {algorithm: digest}
        await step(f"put-{algorithm}", bucket.put(f"d/{algorithm}", small, **given), put=True)
        await step(f"head-{algorithm}", bucket.head(f"d/{algorithm}"))
    await step("put-bad-sha256", bucket.put("d/bad", small, sha256="0" * 64), put=True)
    await step("head-bad", bucket.head("d/bad"))
    await step("put-ia", bucket.put("d/ia", small, storage_class="InfrequentAccess"), put=True)
    await step("put-std", bucket.put("d/std", small, storage_class="Standard"), put=True)
    await step("put-stream-small", bucket.put("d/s-small", chunks_of(small, 5)), put=True)
    await step(
        "put-stream-big",
        bucket.put(
            STREAMED,
            chunks_of(big, 1 * MiB),
            sha256=hashlib.sha256(big).hexdigest(),
            storage_class="InfrequentAccess",
        ),
        put=True,
    )
    upload = await bucket.create_multipart_upload(
        "d/mp", custom_metadata={"via": "mp"}, storage_class="InfrequentAccess"
    )
    parts = [await upload.upload_part(1, big[: 5 * MiB]), await upload.upload_part(2, big[5 * MiB :])]
    record.append(("parts", [p.etag for p in parts]))
    await step("complete", upload.complete(parts))
    for key in ("d/meta.txt", "d/ia", "d/std", "d/s-small", "d/s-big", "d/mp", "d/missing"):
        await step(f"head {key}", bucket.head(key))
        record.append((f"get {key}", await body_of(key)))
    record.append(("get-range", await body_of("d/meta.txt", range={"offset": 2, "length": 5})))
    record.append(("get-suffix", await body_of("d/meta.txt", range={"suffix": 4})))
    etag = (await bucket.head("d/meta.txt")).etag  # type: ignore[union-attr]
    record.append(("get-if-match", await body_of("d/meta.txt", only_if={"etag_matches": etag})))
    record.append(("get-if-not-match", await body_of("d/meta.txt", only_if={"etag_does_not_match": etag})))
    await step(
        "put-if-absent-exists",
        bucket.put("d/meta.txt", b"no", only_if={"etag_does_not_match": "*"}),
        put=True,
    )
    await step("put-if-etag", bucket.put("d/meta.txt", b"yes", only_if={"etag_matches": etag}), put=True)
    record.append(
        (
            "list",
            [_listed(o) async for o in bucket.iter_objects(prefix="d/", page_size=4)],
        )
    )
    await bucket.delete(["d/ia", "d/std"])
    record.append(("after-delete", [o.key async for o in bucket.iter_objects(prefix="d/", delimiter="/")]))
    return record


def _listed(obj: R2Object) -> Any:
    shape = _object(obj)
    if "checksums" in shape:  # S3's listing, read through OpenDAL, carries only the etag
        shape["checksums"] = {k: v for k, v in shape["checksums"].items() if k == "md5"}
    return shape | {"storage_class": None}


def _observe(result: Any, *, put: bool = False) -> Any:
    return _object(result, put=put) if isinstance(result, R2Object) or result is None else result


async def test_local_and_s3_observe_the_same(moto_s3: MotoS3, tmp_path: Path) -> None:
    async with R2Bucket.local(tmp_path / "local", settings=SETTINGS, transfer=TRANSFER) as local:
        expected = await _run(local)
    async with R2Bucket.from_url(
        moto_s3.url(moto_s3.create_bucket()), settings=SETTINGS, transfer=TRANSFER
    ) as s3:
        actual = await _run(s3)
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        assert mine == theirs, f"\n  s3:    {mine!r:.3000}\n  local: {theirs!r:.3000}"
