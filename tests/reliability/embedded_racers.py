"""Processes that race on one local store (run by ``test_embedded_safety.py``): real processes,
started together at a barrier, each reporting what it won."""

from __future__ import annotations

from typing import Any

import anyio

from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core import LayerSettings

QUIET = LayerSettings(logging=False, retry=None)


def create_if_absent(root: str, keys: list[str], barrier: Any, results: Any, me: int) -> None:
    """``put(only_if etagDoesNotMatch *)`` on every key; report the keys this process created."""

    async def main() -> list[str]:
        bucket = R2Bucket.local(root, settings=QUIET)
        await bucket.head("warm-up")
        barrier.wait()
        won = []
        for key in keys:
            if await bucket.put(key, f"{me}".encode(), only_if={"etag_does_not_match": "*"}) is not None:
                won.append(key)
        await bucket.aclose()
        return won

    results.put((me, anyio.run(main)))


def overwrite(root: str, keys: list[str], rounds: int, barrier: Any, results: Any, me: int) -> None:
    """Overwrite ``keys`` ``rounds`` times each with 64 KiB bodies."""

    async def main() -> None:
        bucket = R2Bucket.local(root, settings=QUIET)
        await bucket.head("warm-up")
        barrier.wait()
        for round_ in range(rounds):
            for key in keys:
                await bucket.put(key, bytes([me]) * 65536 + str(round_).encode())
        await bucket.aclose()

    anyio.run(main)
    results.put((me, None))


def delete_all(root: str, keys: list[str], barrier: Any, results: Any, me: int) -> None:
    """KV ``delete`` of every key; report the errors raised (there must be none)."""

    async def main() -> list[str]:
        kv = KvNamespace.local(root, settings=QUIET)
        await kv.get("warm-up")
        barrier.wait()
        errors = []
        for key in keys:
            try:
                await kv.delete(key)
            except Exception as exc:
                errors.append(type(exc).__name__)
        await kv.aclose()
        return errors

    results.put((me, anyio.run(main)))
