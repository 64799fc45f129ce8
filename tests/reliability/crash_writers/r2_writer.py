"""Writes to a local R2 bucket without end, reporting each operation, until it is killed.

    python -m tests.reliability.crash_writers.r2_writer ROOT SEED FIRST_SEQ

Operations: ``put`` of bytes or of a stream (0 B to 6 MiB), a two-part multipart upload (5 MiB + a
tail, the smallest R2 allows), ``delete`` of one key and of several (not atomic). Each object's body
is a :func:`~.protocol.payload`; its custom metadata carries the write's ``seq`` and SHA-256 and its
content type names the write too, so the test can tell an object whose body, record and metadata
belong together from a torn or mixed one.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .protocol import Reporter, chunks, delete_keys, payload, run_main

if TYPE_CHECKING:
    import random

KEYS = (
    "plain",
    "dir/nested/object.bin",
    "a/../b",
    "ünï/cödé",
    "trailing/",
    "q" * 1024,
)
"""Awkward R2 keys: separators, ``..``, a key that looks like a directory, the longest allowed."""

SIZES = (0, 1, 4096, 256 * 1024, 1024 * 1024, 6 * 1024 * 1024)
SIZE_WEIGHTS = (1, 1, 2, 3, 3, 2)
PART = 5 * 1024 * 1024


def content_type(seq: int) -> str:
    return f"application/x-write-{seq}"


def custom(seq: int, body: bytes, *, multipart: bool = False) -> dict[str, str]:
    meta = {"seq": str(seq), "sha": hashlib.sha256(body).hexdigest()}
    if multipart:
        meta["parts"] = "2"
    return meta


async def main(root: str, rng: random.Random, first_seq: int) -> None:
    from cap_cloudflare_r2 import R2Bucket, R2PutValue
    from cap_opendal_core.layers import LayerSettings

    report = Reporter(first_seq)
    bucket = R2Bucket.local(root, settings=LayerSettings(logging=False))
    report.ready()
    while True:
        roll = rng.random()
        if roll < 0.6:
            key = rng.choice(KEYS)
            seq = report.begin("put", puts=[key])
            body = payload(key, seq, rng.choices(SIZES, SIZE_WEIGHTS)[0], rng)
            value: R2PutValue = chunks(body, rng, 512 * 1024) if rng.random() < 0.3 else body
            await bucket.put(
                key,
                value,
                http_metadata={"content_type": content_type(seq)},
                custom_metadata=custom(seq, body),
            )
        elif roll < 0.72:
            key = rng.choice(KEYS)
            seq = report.begin("multipart", puts=[key])
            body = payload(key, seq, PART + rng.randint(0, 64 * 1024), rng)
            upload = await bucket.create_multipart_upload(
                key,
                http_metadata={"content_type": content_type(seq)},
                custom_metadata=custom(seq, body, multipart=True),
            )
            second = await upload.upload_part(2, body[PART:])
            first = await upload.upload_part(1, body[:PART])
            await upload.complete([second, first])
        elif roll < 0.88:
            seq = await delete_keys(report, rng, KEYS, bucket.delete)
        else:
            seq = await delete_keys(report, rng, KEYS, bucket.delete, several=True)
        report.ack(seq)


if __name__ == "__main__":
    run_main(main)
