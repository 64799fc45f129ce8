"""The S3 backend against moto's S3 server: interop with boto3 both ways, presigned URLs with plain
httpx, native multipart, what OpenDAL cannot represent, and conditional writes under contention."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from cap_cloudflare_r2 import R2Bucket, R2Conditional, R2Config
from cap_opendal_core.errors import InvalidInput, Misconfigured, Unsupported
from tests.workers.checks.check_r2 import SETTINGS, TRANSFER, chunks_of, md5

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.support.moto_server import MotoS3

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


@pytest.fixture
async def s3(moto_s3: MotoS3) -> AsyncIterator[tuple[R2Bucket, Any, str]]:
    """(R2Bucket, boto3 client, bucket name) on one fresh moto bucket."""
    name = moto_s3.create_bucket()
    async with R2Bucket.from_url(moto_s3.url(name), settings=SETTINGS, transfer=TRANSFER) as bucket:
        yield bucket, moto_s3.client(), name


async def test_boto3_reads_what_r2bucket_wrote(s3: tuple[R2Bucket, Any, str]) -> None:
    bucket, client, name = s3
    body = b"a,b\n1,2\n"
    await bucket.put(
        "dir/report.csv",
        body,
        http_metadata={
            "content_type": "text/csv",
            "content_disposition": "attachment",
            "content_encoding": "identity",
            "cache_control": "no-store",
        },
        custom_metadata={"owner": "flow-7", "stage": "raw"},
    )
    head = client.head_object(Bucket=name, Key="dir/report.csv")
    assert head["ContentType"] == "text/csv"
    assert head["ContentDisposition"] == "attachment"
    assert head["CacheControl"] == "no-store"
    assert head["Metadata"] == {"owner": "flow-7", "stage": "raw"}
    assert head["ETag"] == f'"{md5(body)}"'
    assert client.get_object(Bucket=name, Key="dir/report.csv")["Body"].read() == body


async def test_r2bucket_reads_what_boto3_wrote(s3: tuple[R2Bucket, Any, str]) -> None:
    bucket, client, name = s3
    client.put_object(
        Bucket=name,
        Key="from-boto3.json",
        Body=b'{"ok": true}',
        ContentType="application/json",
        Metadata={"source": "boto3"},
    )
    got = await bucket.get("from-boto3.json")
    assert got is not None
    assert got.http_metadata.content_type == "application/json"
    assert dict(got.custom_metadata) == {"source": "boto3"}
    assert await got.json() == {"ok": True}
    listed = await bucket.list(include=["custom_metadata"])
    assert [(o.key, dict(o.custom_metadata)) for o in listed.objects] == [
        ("from-boto3.json", {"source": "boto3"})
    ]


async def test_presigned_get_and_put_work_with_plain_httpx(s3: tuple[R2Bucket, Any, str]) -> None:
    bucket, client, name = s3
    await bucket.put("shared.txt", b"for anyone with the link")
    get = await bucket.presign("shared.txt", expires_in=300)
    assert get.method == "GET"
    assert "X-Amz-Signature" not in repr(get), "the signature must not show in reprs"
    put = await bucket.presign("uploaded.txt", method="PUT", expires_in=300, content_type="text/plain")
    async with httpx.AsyncClient() as http:
        response = await http.get(get.url, headers=dict(get.headers))
        assert response.status_code == 200
        assert response.content == b"for anyone with the link"
        sent = await http.put(put.url, headers={**put.headers, "content-type": "text/plain"}, content=b"hi")
        assert sent.status_code == 200, sent.text
    head = await bucket.head("uploaded.txt")
    assert head is not None
    assert head.size == 2
    assert head.http_metadata.content_type == "text/plain"
    assert client.get_object(Bucket=name, Key="uploaded.txt")["Body"].read() == b"hi"


async def test_multipart_is_s3s_own_and_resumable_elsewhere(
    s3: tuple[R2Bucket, Any, str], moto_s3: MotoS3
) -> None:
    bucket, client, name = s3
    upload = await bucket.create_multipart_upload("mp", custom_metadata={"via": "multipart"})
    uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp", upload.upload_id)]
    part1 = await upload.upload_part(1, b"1" * (5 * MiB))
    # another process (here: another R2Bucket) finishes the upload from its id
    async with R2Bucket.from_url(moto_s3.url(name), settings=SETTINGS) as elsewhere:
        resumed = await elsewhere.resume_multipart_upload("mp", upload.upload_id)
        part2 = await resumed.upload_part(2, b"2")
        obj = await resumed.complete([part1, part2])
    assert obj.etag.endswith("-2")
    assert obj.etag == client.head_object(Bucket=name, Key="mp")["ETag"].strip('"')
    assert client.head_object(Bucket=name, Key="mp")["Metadata"] == {"via": "multipart"}
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []

    aborted = await bucket.create_multipart_upload("aborted")
    await aborted.upload_part(1, b"x")
    await aborted.abort()
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


async def test_a_file_part_streams_with_its_known_length(
    s3: tuple[R2Bucket, Any, str], tmp_path: Any
) -> None:
    bucket, client, name = s3
    path = tmp_path / "part.bin"
    data = os.urandom(5 * MiB + 1)
    path.write_bytes(data)
    upload = await bucket.create_multipart_upload("file-part")
    with path.open("rb") as file:
        part = await upload.upload_part(1, file)
    assert part.etag == md5(data)
    await upload.complete([part])
    assert client.get_object(Bucket=name, Key="file-part")["Body"].read() == data


@pytest.mark.parametrize("key", ["/leading", "trailing/", "a//b", "a/./b", "a/../b", ".."])
async def test_keys_opendal_would_rewrite_are_refused(s3: tuple[R2Bucket, Any, str], key: str) -> None:
    bucket, client, name = s3
    with pytest.raises(InvalidInput, match="normalises paths") as caught:
        await bucket.put(key, b"x")
    assert caught.value.field == "key"
    with pytest.raises(InvalidInput):
        await bucket.delete(["fine", key])
    assert client.list_objects_v2(Bucket=name).get("Contents", []) == []


async def test_metadata_s3_cannot_carry_is_refused(s3: tuple[R2Bucket, Any, str]) -> None:
    bucket, client, name = s3
    with pytest.raises(InvalidInput, match="lower-case"):
        await bucket.put("k", b"x", custom_metadata={"Owner": "x"})
    with pytest.raises(InvalidInput, match="printable ASCII"):
        await bucket.put("k", b"x", custom_metadata={"owner": "zoë"})
    with pytest.raises(Unsupported, match="content_language"):
        await bucket.put("k", b"x", http_metadata={"content_language": "en"})
    with pytest.raises(Unsupported, match="cache_expiry"):
        await bucket.create_multipart_upload(
            "k", http_metadata={"cache_expiry": __import__("datetime").datetime.now()}
        )
    assert client.list_objects_v2(Bucket=name).get("Contents", []) == []


async def test_concurrent_conditional_puts_let_exactly_one_win(s3: tuple[R2Bucket, Any, str]) -> None:
    bucket, _, _ = s3
    base = await bucket.put("k", b"base")
    assert base is not None
    winners: list[int] = []

    async def attempt(n: int) -> None:
        if await bucket.put("k", f"writer {n}".encode(), only_if=R2Conditional(etag_matches=base.etag)):
            winners.append(n)

    async with anyio.create_task_group() as group:
        for n in range(12):
            group.start_soon(attempt, n)
    assert len(winners) == 1, winners
    got = await bucket.get("k")
    assert got is not None
    assert await got.read() == f"writer {winners[0]}".encode()


async def test_a_stream_failing_its_checksum_never_becomes_visible(s3: tuple[R2Bucket, Any, str]) -> None:
    bucket, client, name = s3
    data = os.urandom(11 * MiB)
    with pytest.raises(InvalidInput) as caught:
        await bucket.put("bad", chunks_of(data, MiB), md5=hashlib.md5(b"other").hexdigest())
    assert caught.value.field == "md5"
    assert "Contents" not in client.list_objects_v2(Bucket=name)
    good = await bucket.put("good", chunks_of(data, MiB), md5=hashlib.md5(data).hexdigest())
    assert good is not None
    assert good.etag.endswith("-3")


async def test_a_get_pinned_to_its_metadata_retries_when_replaced(s3: tuple[R2Bucket, Any, str]) -> None:
    """The body is read with If-Match on the etag its metadata came with: never a mix."""
    bucket, _, _ = s3
    await bucket.put("k", b"old")
    got = await bucket.get("k", only_if=R2Conditional(etag_matches=md5(b"old")))
    assert got is not None
    assert await got.read() == b"old"
    await bucket.put("k", b"new")
    assert await bucket.get("k", only_if=R2Conditional(etag_matches=md5(b"old"))) is None


async def test_r2config_points_at_r2s_endpoint_without_any_request() -> None:
    config = R2Config(
        account_id="0123456789abcdef0123456789abcdef",
        bucket="assets",
        access_key_id="r2-access-key-id-value",
        secret_access_key="r2-secret-access-key-value",
    )
    assert "r2-secret-access-key-value" not in repr(config)
    assert (
        config.to_s3_config().endpoint == "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
    )
    bucket = R2Bucket.from_config(config, settings=SETTINGS)
    assert bucket.backend == "opendal"
    assert bucket.info.extensions["com.cloudflare.r2.presign"] is True
    presigned = await bucket.presign("k", expires_in=60)  # signed locally: no request is sent
    assert presigned.url.startswith(
        "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com/assets/k?"
    )
    assert "r2-secret-access-key-value" not in presigned.url
    with pytest.raises(Misconfigured, match="account_id"):
        R2Config(account_id="not-hex", bucket="assets").to_s3_config()
    with pytest.raises(Misconfigured, match="bucket") as caught:
        R2Config(account_id="0" * 32, secret_access_key="r2-secret-access-key-value")
    assert "r2-secret-access-key-value" not in str(caught.value)


async def test_keys_other_clients_wrote_that_opendal_cannot_address_are_still_listed(
    s3: tuple[R2Bucket, Any, str],
) -> None:
    bucket, client, name = s3
    client.put_object(Bucket=name, Key="odd//key", Body=b"12345")
    client.put_object(Bucket=name, Key="plain", Body=b"x", Metadata={"m": "1"})
    bare = await bucket.list()
    assert [(o.key, o.size) for o in bare.objects] == [("odd//key", 5), ("plain", 1)]
    rich = await bucket.list(include=["custom_metadata"])
    assert [(o.key, dict(o.custom_metadata)) for o in rich.objects] == [
        ("odd//key", {}),
        ("plain", {"m": "1"}),
    ]


async def test_checksums_and_storage_class_interoperate_with_boto3(s3: tuple[R2Bucket, Any, str]) -> None:
    bucket, client, name = s3
    body = b"integrity matters"
    digest = hashlib.sha256(body).hexdigest()
    await bucket.put("ours", body, sha256=digest, storage_class="InfrequentAccess")
    head = client.head_object(Bucket=name, Key="ours", ChecksumMode="ENABLED")
    assert head["StorageClass"] == "STANDARD_IA"
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == digest
    client.put_object(Bucket=name, Key="theirs", Body=body, ChecksumAlgorithm="SHA1")
    theirs = await bucket.head("theirs")
    assert theirs is not None
    assert theirs.checksums.sha1 == hashlib.sha1(body).hexdigest()
    assert theirs.storage_class == "Standard"


async def test_crc_checksums_interoperate_with_boto3(s3: tuple[R2Bucket, Any, str]) -> None:
    """Our CRC32C is S3's (boto3 reads the value we sent back), and S3's CRC32 is ours."""
    from cap_cloudflare_r2.crc import crc32c

    bucket, client, name = s3
    body = b"integrity, cheaply"
    ours = base64.b64encode(crc32c(body).to_bytes(4, "big")).decode("ascii")
    await bucket.put("ours", body, crc32c=ours)
    head = client.head_object(Bucket=name, Key="ours", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == ours
    theirs_crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode("ascii")
    client.put_object(Bucket=name, Key="theirs", Body=body, ChecksumAlgorithm="CRC32")
    stored = client.head_object(Bucket=name, Key="theirs", ChecksumMode="ENABLED")
    assert stored["ChecksumCRC32"] == theirs_crc
    theirs = await bucket.head("theirs")
    assert theirs is not None
    assert theirs.checksums.crc32 == f"{zlib.crc32(body):08x}"
    assert theirs.checksums.crc32c is None
    got = await bucket.get("theirs")
    assert got is not None
    assert got.checksums.crc32 == f"{zlib.crc32(body):08x}"
    assert await got.read() == body


async def test_complete_reports_a_write_that_replaced_the_object(
    s3: tuple[R2Bucket, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer lands between CompleteMultipartUpload and the read-back: ``complete`` must
    not return that writer's object as this upload's."""
    from cap_cloudflare_r2.backends.s3_multipart import S3Multipart
    from cap_opendal_core.errors import PreconditionFailed

    bucket, client, name = s3
    real_complete = S3Multipart.complete

    async def complete_then_overwrite(self: S3Multipart, key: str, upload_id: str, parts: Any) -> str:
        etag = await real_complete(self, key, upload_id, parts)
        client.put_object(Bucket=name, Key=key, Body=b"someone else")
        return etag

    monkeypatch.setattr(S3Multipart, "complete", complete_then_overwrite)
    upload = await bucket.create_multipart_upload("raced")
    part = await upload.upload_part(1, b"mine")
    with pytest.raises(PreconditionFailed):
        await upload.complete([part])
