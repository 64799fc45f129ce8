"""CRC32 / CRC32C checksums (issue 17): the CRC32C implementation against published vectors, the
forms ``put`` takes, and the round trip on every CPython backend (memory, local directory, moto's S3),
including what S3 cannot carry (a multipart stream) refused before anything is sent."""

from __future__ import annotations

import base64
import os
import zlib
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_r2.crc import Crc32, Crc32c, crc32c, new_crc
from cap_opendal_core.errors import InvalidInput, Unsupported
from cap_opendal_core.translate import from_http
from tests.workers.checks.check_r2 import chunks_of

if TYPE_CHECKING:
    from cap_cloudflare_r2 import R2Bucket

MiB = 1024 * 1024
BODY = b"123456789"
CRC32C_HEX = "e3069283"  # the standard check value of CRC-32C (Castagnoli)
CRC32_HEX = "cbf43926"  # the standard check value of CRC-32 (ISO-HDLC, zlib's)


def b64(hex_digest: str) -> str:
    """What S3 carries: the base64 of the big-endian 4-byte CRC."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


# -- the implementation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0x00000000),
        (b"123456789", 0xE3069283),
        # RFC 3720 (iSCSI), appendix B.4
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
    ],
)
def test_crc32c_matches_the_published_vectors(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected


def _bitwise_crc32c(data: bytes) -> int:
    """The definition, one bit at a time (slow, obviously right) to check the table-driven one."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_agrees_with_the_definition_at_every_alignment_and_in_pieces() -> None:
    data = os.urandom(301)
    for end in (1, 7, 8, 9, 63, 64, 65, 301):
        assert crc32c(data[:end]) == _bitwise_crc32c(data[:end]), end
    running = Crc32c()
    for piece in (data[:3], data[3:100], bytearray(data[100:101]), memoryview(data)[101:]):
        running.update(piece)
    assert running.hexdigest() == f"{_bitwise_crc32c(data):08x}"
    assert running.digest() == _bitwise_crc32c(data).to_bytes(4, "big")


def test_crc32_is_zlibs_and_names_are_checked() -> None:
    running = Crc32()
    running.update(BODY[:4])
    running.update(BODY[4:])
    assert running.hexdigest() == CRC32_HEX == f"{zlib.crc32(BODY):08x}"
    assert new_crc("crc32c").name == "crc32c"
    with pytest.raises(ValueError, match="not a CRC"):
        new_crc("crc64nvme")


def test_s3s_bad_digest_answer_is_invalid_input() -> None:
    """A CRC the server finds wrong (S3's 400 BadDigest) is the same error as any digest mismatch."""
    body = b"<Error><Code>BadDigest</Code><Message>The CRC32C you specified did not match</Message></Error>"
    error = from_http(400, body, {}, capability="r2", operation="put", key="k")
    assert isinstance(error, InvalidInput)
    assert error.field == "checksum"


# -- put on every CPython backend ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(("algorithm", "hex_digest"), [("crc32", CRC32_HEX), ("crc32c", CRC32C_HEX)])
@pytest.mark.parametrize("form", ["base64", "hex", "HEX", "raw"])
async def test_a_crc_sent_on_put_is_read_back(
    bucket: R2Bucket, algorithm: str, hex_digest: str, form: str
) -> None:
    value: Any = {
        "base64": b64(hex_digest),
        "hex": hex_digest,
        "HEX": hex_digest.upper(),
        "raw": bytes.fromhex(hex_digest),
    }[form]
    put = await bucket.put("c", BODY, **{algorithm: value})
    assert put is not None
    assert getattr(put.checksums, algorithm) == hex_digest
    head = await bucket.head("c")
    assert head is not None
    assert getattr(head.checksums, algorithm) == hex_digest
    assert head.checksums.to_dict()[algorithm] == hex_digest
    got = await bucket.get("c")
    assert got is not None
    assert getattr(got.checksums, algorithm) == hex_digest
    assert await got.read() == BODY
    other = "crc32" if algorithm == "crc32c" else "crc32c"
    assert getattr(head.checksums, other) is None


@pytest.mark.anyio
async def test_a_stream_that_fits_one_request_keeps_its_crc(bucket: R2Bucket) -> None:
    data = os.urandom(MiB + 3)
    expected = f"{crc32c(data):08x}"
    put = await bucket.put("s", chunks_of(data, 64 * 1024), crc32c=b64(expected))
    assert put is not None
    assert put.checksums.crc32c == expected
    head = await bucket.head("s")
    assert head is not None
    assert head.checksums.crc32c == expected


@pytest.mark.anyio
@pytest.mark.parametrize("algorithm", ["crc32", "crc32c"])
async def test_a_wrong_crc_stores_nothing(bucket: R2Bucket, algorithm: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await bucket.put("wrong", BODY, **{algorithm: "AAAAAA=="})  # type: ignore[arg-type]
    assert caught.value.field == algorithm
    with pytest.raises(InvalidInput) as caught:
        await bucket.put("wrong", chunks_of(BODY, 2), **{algorithm: "00000000"})  # type: ignore[arg-type]
    assert caught.value.field == algorithm
    assert await bucket.head("wrong") is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("4waSgw=", "base64"),  # unpadded
        ("4waSgx==", "base64"),  # non-canonical last character: not 4 bytes
        ("4waSgw==4waSgw==", "base64"),
        ("e306928", "hex"),
        ("e30692830", "hex"),
        ("zzzzzzzz", "hex"),
        (b"\x00" * 5, "4 CRC bytes"),
        (0xE3069283, "got int"),
    ],
)
async def test_malformed_crcs_are_refused_before_io(bucket: R2Bucket, value: object, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as caught:
        await bucket.put("bad", BODY, crc32c=value)  # type: ignore[arg-type]
    assert caught.value.field == "crc32c"
    with pytest.raises(InvalidInput, match="at most one checksum"):
        await bucket.put("bad", BODY, crc32=CRC32_HEX, crc32c=CRC32C_HEX)
    with pytest.raises(InvalidInput, match="at most one checksum"):
        await bucket.put("bad", BODY, md5="0" * 32, crc32c=CRC32C_HEX)
    assert await bucket.head("bad") is None


@pytest.mark.anyio
async def test_a_multipart_stream_with_a_crc_is_verified_or_refused_before_sending(bucket: R2Bucket) -> None:
    """Local backends keep the CRC of a stream of any size; S3 checks a multipart object's CRC only
    as a composite this package does not send, so there it is ``Unsupported`` and nothing is sent."""
    data = os.urandom(6 * MiB)  # over TRANSFER.part_size
    expected = f"{crc32c(data):08x}"
    if bucket.backend == "opendal":
        with pytest.raises(Unsupported, match="single PutObject"):
            await bucket.put("big", chunks_of(data, MiB), crc32c=expected)
        assert await bucket.head("big") is None
        assert not (await bucket.list()).objects
        return
    with pytest.raises(InvalidInput):
        await bucket.put("big", chunks_of(data, MiB), crc32c="00000000")
    assert await bucket.head("big") is None
    put = await bucket.put("big", chunks_of(data, MiB), crc32c=expected)
    assert put is not None
    assert put.checksums.crc32c == expected
    head = await bucket.head("big")
    assert head is not None
    assert head.checksums.crc32c == expected
