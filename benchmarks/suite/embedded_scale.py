"""Rows 12 and 13: listing at 1k / 10k / 100k keys, and the first ``.local()`` of a fresh interpreter.

Listing: one store grows through the sizes (1k, then 9k more, then 90k more, written with the public
API), and at each size the capability's listing and a raw ``sqlite3`` query of the same index file
(the same rows, no Python objects built) alternate, repeat by repeat. KV times its first page of
1,000; R2 walks every page (1,000 a page) to the end. Bodies are 16 bytes: a listing reads no body.

First ``.local()``: each sample is a fresh interpreter (``-E``, bytecode compiled once into a private
``-X pycache_prefix`` beforehand, as row 5 does) that imports ``asyncio``, then times the import of
the capability, then ``.local(tmp)``, then a first ``put`` + ``get`` (CPU and wall for each).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["SIZES", "first_local", "kv_listing", "r2_listing"]

SIZES = (1_000, 10_000, 100_000)
BODY = b"0123456789abcdef"


def _name(i: int) -> str:
    return f"key-{i:07d}"


async def _alternate(
    ours: Callable[[], Awaitable[int]], floor: Callable[[], int], repeats: int, expected: int
) -> tuple[list[float], list[float]]:
    mine: list[float] = []
    base: list[float] = []
    for repeat in range(repeats):
        for side in ("ours", "floor") if repeat % 2 == 0 else ("floor", "ours"):
            started = time.perf_counter()
            count = await ours() if side == "ours" else floor()
            elapsed = time.perf_counter() - started
            assert count == expected, (side, count, expected)
            (mine if side == "ours" else base).append(elapsed)
    return mine, base


def _raw(path: Path, sql: str) -> Callable[[], int]:
    conn = sqlite3.connect(path, isolation_level=None)

    def run() -> int:
        return len(conn.execute(sql).fetchall())

    return run


async def kv_listing(sizes: tuple[int, ...], repeats: int) -> dict[int, tuple[list[float], list[float]]]:
    """Seconds of the first page of 1,000 (capability, raw SQL) at each size."""
    from cap_cloudflare_kv import KvNamespace

    out = {}
    with tempfile.TemporaryDirectory(prefix="cap-bench-kvl-") as tmp:
        ns = KvNamespace.local(tmp)
        have = 0
        for size in sizes:
            for start in range(have, size, 10_000):
                await ns.put_many({_name(i): BODY for i in range(start, min(size, start + 10_000))})
            have = size

            async def page() -> int:
                return len((await ns.list(limit=1000)).keys)

            floor = _raw(
                Path(tmp) / "index.sqlite3",
                "SELECT key, expires, metadata FROM kv WHERE (expires IS NULL OR expires > 0) "
                "ORDER BY key LIMIT 1000",
            )
            await page()
            out[size] = await _alternate(page, floor, repeats, min(size, 1000))
        await ns.aclose()
    return out


async def r2_listing(sizes: tuple[int, ...], repeats: int) -> dict[int, tuple[list[float], list[float]]]:
    """Seconds of a full listing, every page (capability, raw SQL) at each size."""
    from cap_cloudflare_r2 import R2Bucket

    out = {}
    with tempfile.TemporaryDirectory(prefix="cap-bench-r2l-") as tmp:
        bucket = R2Bucket.local(tmp)
        have = 0
        for size in sizes:
            import anyio

            limiter = anyio.Semaphore(8)

            async def put(i: int, limiter: anyio.Semaphore = limiter) -> None:
                async with limiter:
                    await bucket.put(_name(i), BODY)

            async with anyio.create_task_group() as tg:
                for i in range(have, size):
                    tg.start_soon(put, i)
            have = size

            async def walk() -> int:
                count, cursor = 0, None
                while True:
                    page = await bucket.list(cursor=cursor)
                    count += len(page.objects)
                    if not page.truncated:
                        return count
                    cursor = page.cursor

            floor = _raw(Path(tmp) / "index.sqlite3", "SELECT * FROM objects ORDER BY key")
            out[size] = await _alternate(walk, floor, repeats, size)
    return out


PROBE = """
import json, sys, tempfile, time
import asyncio
directory = tempfile.mkdtemp(prefix="cap-bench-first-")
c0, w0 = time.process_time(), time.perf_counter()
{import_line}
c1, w1 = time.process_time(), time.perf_counter()
store = {build}(directory)
c2, w2 = time.process_time(), time.perf_counter()
async def first_use():
    {use}
asyncio.run(first_use())
c3, w3 = time.process_time(), time.perf_counter()
heavy = sorted(m for m in ("pydantic", "opendal", "httpx") if m in sys.modules)
print(json.dumps({{"import": [c1 - c0, w1 - w0], "local": [c2 - c1, w2 - w1],
                  "first_use": [c3 - c2, w3 - w2], "heavy": heavy}}))
import shutil; shutil.rmtree(directory, ignore_errors=True)
"""

CASES = {
    "KvNamespace": (
        "from cap_cloudflare_kv import KvNamespace",
        "KvNamespace.local",
        "await store.put('k', b'v' * 1024); assert await store.get('k', 'bytes')",
    ),
    "R2Bucket": (
        "from cap_cloudflare_r2 import R2Bucket",
        "R2Bucket.local",
        "await store.put('k', b'v' * 1024); assert await (await store.get('k')).read()",
    ),
}


def first_local(repeats: int) -> dict[str, list[dict[str, object]]]:
    """Per class, one sample per fresh interpreter; the classes alternate which goes first."""
    out: dict[str, list[dict[str, object]]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory(prefix="cap-bench-pyc-") as pycache:
        command = [sys.executable, "-E", "-X", f"pycache_prefix={pycache}", "-c"]
        names = list(CASES)
        for repeat in range(repeats + 1):  # the first round compiles the bytecode, untimed
            for name in names if repeat % 2 == 0 else names[::-1]:
                code = PROBE.format(import_line=CASES[name][0], build=CASES[name][1], use=CASES[name][2])
                proc = subprocess.run(
                    [*command, code], capture_output=True, text=True, timeout=120, check=True
                )
                if repeat:
                    out[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def medians_ms(samples: list[dict[str, object]], phase: str) -> tuple[float, float, list[float]]:
    """(CPU ms, wall ms) medians of ``phase`` over the samples, and the CPU ms of each."""
    cpu = [float(s[phase][0]) * 1000 for s in samples]  # type: ignore[index]
    wall = [float(s[phase][1]) * 1000 for s in samples]  # type: ignore[index]
    return statistics.median(cpu), statistics.median(wall), cpu
