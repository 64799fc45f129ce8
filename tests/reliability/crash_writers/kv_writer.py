"""Writes to a local KV namespace without end, reporting each operation, until it is killed.

    python -m tests.reliability.crash_writers.kv_writer ROOT SEED FIRST_SEQ

Operations, chosen by the seeded generator: ``put`` (bytes or a stream, 0 B to 4 MiB, sometimes with
a TTL), ``put_many`` (2-4 keys, not atomic: each key on its own), ``delete`` and ``delete_many``.
Every value is a :func:`~.protocol.payload` and its metadata ``{"seq", "sha"}`` names the write and
its SHA-256, so the test can tell a whole value from a torn or mixed one.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from .protocol import Reporter, chunks, delete_keys, payload, run_main

if TYPE_CHECKING:
    import random

KEYS = (
    "plain",
    "a/b/../c",
    "  spaced  ",
    "ünï/cödé",
    "%2F..%2F",
    "k" * 512,
    "x" * 100 + "/" * 50,
)
"""The keys writers use: awkward ones (separators, ``..``, percent signs, the longest allowed)."""

SIZES = (0, 100, 4096, 64 * 1024, 1024 * 1024, 4 * 1024 * 1024)
SIZE_WEIGHTS = (1, 2, 2, 3, 3, 2)


def metadata_for(seq: int, value: bytes) -> dict[str, Any]:
    return {"seq": seq, "sha": hashlib.sha256(value).hexdigest()}


async def main(root: str, rng: random.Random, first_seq: int) -> None:
    from cap_cloudflare_kv import KvNamespace, KvWrite
    from cap_opendal_core.layers import LayerSettings

    report = Reporter(first_seq)
    kv = KvNamespace.local(root, settings=LayerSettings(logging=False))
    report.ready()
    while True:
        roll = rng.random()
        if roll < 0.55:
            key = rng.choice(KEYS)
            size = rng.choices(SIZES, SIZE_WEIGHTS)[0]
            seq = report.begin("put", puts=[key])
            value = payload(key, seq, size, rng)
            ttl = rng.choice((None, None, 86_400))
            body: Any = chunks(value, rng, 256 * 1024) if rng.random() < 0.2 else value
            await kv.put(key, body, metadata=metadata_for(seq, value), expiration_ttl=ttl)
        elif roll < 0.75:
            keys = rng.sample(KEYS, rng.randint(2, 4))
            seq = report.begin("put_many", puts=keys)
            writes = []
            for key in keys:
                value = payload(key, seq, rng.choice(SIZES[:5]), rng)
                writes.append(KvWrite(key, value, metadata=metadata_for(seq, value)))
            await kv.put_many(writes)
        elif roll < 0.9:
            seq = await delete_keys(report, rng, KEYS, kv.delete)
        else:
            seq = await delete_keys(report, rng, KEYS, kv.delete_many, several=True)
        report.ack(seq)


if __name__ == "__main__":
    run_main(main)
