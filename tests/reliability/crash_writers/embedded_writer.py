"""Writes to an embedded store until the engine's fault hook kills it at a step boundary.

    CAP_EMBEDDED_FAULT=<step>@<n> python -m tests.reliability.crash_writers.embedded_writer KIND ROOT

A fixed sequence of operations (small and large values, overwrites, deletes, batches, multipart
uploads), one JSON line each on stdout before (``begin``) and after (``ack``) the call, flushed.
Each write's body names its key and sequence number and is followed by a filler derived from them,
so a reader can tell a whole value from a torn or mixed one (:func:`body` / :func:`parse`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import anyio

from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core import LayerSettings

QUIET = LayerSettings(logging=False, retry=None)
KEYS = ("a", "dir/b", "c")
ROUNDS = 12


def body(key: str, seq: int, size: int) -> bytes:
    head = f"{key}|{seq}|".encode()
    seed = hashlib.sha256(head).digest()
    filler = (seed * (size // len(seed) + 1))[: max(0, size - len(head))]
    return head + filler


def parse(key: str, data: bytes) -> int:
    """The write ``data`` came from; raises AssertionError when it is torn or not ``key``'s."""
    name, seq, _ = data.split(b"|", 2)
    assert name.decode() == key, f"{key}: holds {name!r}'s value"
    assert data == body(key, int(seq), len(data)), f"{key}: torn value of write {int(seq)}"
    return int(seq)


def say(**line: Any) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def kv_ops(root: str) -> None:
    kv = KvNamespace.local(root, settings=QUIET)
    seq = 0
    for round_ in range(ROUNDS):
        for key in KEYS:
            seq += 1
            size = 100_000 if (seq + round_) % 2 else 500  # a value file, or inline
            say(event="begin", seq=seq, effects={key: seq})
            await kv.put(key, body(key, seq, size))
            say(event="ack", seq=seq)
        seq += 1
        effects = {k: seq for k in KEYS[:2]}
        say(event="begin", seq=seq, effects=effects)
        await kv.put_many({k: body(k, seq, 100_000) for k in KEYS[:2]})
        say(event="ack", seq=seq)
        seq += 1
        say(event="begin", seq=seq, effects=dict.fromkeys(KEYS[:2]))
        await kv.delete_many(list(KEYS[:2]))
        say(event="ack", seq=seq)
    say(event="done")


async def r2_ops(root: str) -> None:
    bucket = R2Bucket.local(root, settings=QUIET)
    seq = 0
    for round_ in range(ROUNDS):
        for key in KEYS:
            seq += 1
            say(event="begin", seq=seq, effects={key: seq})
            await bucket.put(key, body(key, seq, 300_000 if round_ % 2 else 700))
            say(event="ack", seq=seq)
        seq += 1
        key = KEYS[round_ % len(KEYS)]
        upload = await bucket.create_multipart_upload(key)
        say(event="upload", key=key, upload_id=upload.upload_id)
        data = body(key, seq, 5 * 1024 * 1024 + 1000)
        part1 = await upload.upload_part(1, data[: 5 * 1024 * 1024])
        part2 = await upload.upload_part(2, data[5 * 1024 * 1024 :])
        say(event="begin", seq=seq, effects={key: seq})
        await upload.complete([part1, part2])
        say(event="ack", seq=seq)
        seq += 1
        say(event="begin", seq=seq, effects={key: None})
        await bucket.delete(key)
        say(event="ack", seq=seq)
    say(event="done")


async def r2_group_ops(root: str) -> None:
    """Eight tasks creating distinct keys (create-if-absent) at once: their commits are grouped."""
    bucket = R2Bucket.local(root, settings=QUIET, durability="full")

    async def task(me: int) -> None:
        for n in range(ROUNDS * 4):
            key = f"g{me}/{n}"
            say(event="begin", key=key)
            created = await bucket.put(key, body(key, n, 700), only_if={"etag_does_not_match": "*"})
            assert created is not None
            say(event="ack", key=key)

    async with anyio.create_task_group() as tg:
        for me in range(8):
            tg.start_soon(task, me)
    say(event="done")


if __name__ == "__main__":
    kind, root = sys.argv[1], sys.argv[2]
    anyio.run({"kv": kv_ops, "r2": r2_ops, "r2group": r2_group_ops}[kind], root)
