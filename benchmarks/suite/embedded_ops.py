"""Rows 10 and 11: one KV / R2 operation on the embedded engine against the file-system floor under it.

Each comparison runs the capability call and its floor *call by call, alternating* (which side goes
first flips every call), in the same process, on the same disk; a repeat's figure is each side's
median call, its ratio the capability's median over the floor's. The floors are what the operation
cannot do with less:

* KV ``get`` — ``sqlite3`` ``SELECT value FROM t WHERE key = ?`` of a 1 KiB value, WAL-mode table;
* KV ``put`` — ``write()`` a temporary file, ``fsync`` it, ``rename`` it over the key's file;
* R2 ``get`` + ``read()`` — ``open(path, "rb").read()``;
* R2 ``put`` — the KV floor plus an ``fsync`` of the directory (a new name must survive power loss).

Conditional puts (create-if-absent, distinct keys) compare throughput at concurrency 8 with
concurrency 1, the two alternating repeat by repeat.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Compared", "compare", "floors", "kv_cases", "r2_cases", "r2_conditional_concurrency"]

VALUE = os.urandom(1024)
"""Every value is 1 KiB."""
WARMUP = 20


@dataclass
class Compared:
    """One operation: per-repeat median call (µs) of each side, and the per-repeat ratios."""

    label: str
    ours_us: list[float] = field(default_factory=list)
    floor_us: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [o / f for o, f in zip(self.ours_us, self.floor_us, strict=True)]

    @property
    def ours(self) -> float:
        return statistics.median(self.ours_us)

    @property
    def floor(self) -> float:
        return statistics.median(self.floor_us)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


async def compare(
    label: str,
    ours: Callable[[int], Awaitable[object]],
    floor: Callable[[int], object],
    calls: int,
    repeats: int,
) -> Compared:
    """``ours(i)`` against ``floor(i)``, alternating call by call (``i`` is unique across the run)."""
    out = Compared(label)
    clock = time.perf_counter
    n = 0
    for _ in range(WARMUP):
        await ours(n)
        floor(n)
        n += 1
    for repeat in range(repeats):
        mine: list[float] = []
        base: list[float] = []
        for i in range(calls):
            if (i + repeat) % 2:
                t0 = clock()
                await ours(n)
                t1 = clock()
                floor(n)
                t2 = clock()
                mine.append(t1 - t0)
                base.append(t2 - t1)
            else:
                t0 = clock()
                floor(n)
                t1 = clock()
                await ours(n)
                t2 = clock()
                base.append(t1 - t0)
                mine.append(t2 - t1)
            n += 1
        out.ours_us.append(statistics.median(mine) * 1e6)
        out.floor_us.append(statistics.median(base) * 1e6)
    return out


# --- floors ----------------------------------------------------------------------------------------


class floors:
    """The raw operations each line is measured against."""

    @staticmethod
    def sqlite_select(directory: Path, keys: int) -> Callable[[int], object]:
        conn = sqlite3.connect(directory / "floor.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?, ?)", ((f"key-{i}", VALUE) for i in range(keys)))
        conn.execute("COMMIT")
        select = "SELECT value FROM t WHERE key = ?"
        names = [f"key-{i}" for i in range(keys)]

        def get(i: int) -> object:
            return conn.execute(select, (names[i % keys],)).fetchone()[0]

        return get

    @staticmethod
    def write_fsync_rename(directory: Path, *, sync_directory: bool) -> Callable[[int], object]:
        directory.mkdir(parents=True, exist_ok=True)
        dir_fd = os.open(directory, os.O_RDONLY)
        tmp = str(directory / ".tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC

        def put(i: int) -> object:
            fd = os.open(tmp, flags, 0o644)
            try:
                os.write(fd, VALUE)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, directory / f"k{i}")
            if sync_directory:
                os.fsync(dir_fd)
            return None

        return put

    @staticmethod
    def open_read(directory: Path, keys: int) -> Callable[[int], object]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = [directory / f"k{i}" for i in range(keys)]
        for path in paths:
            path.write_bytes(VALUE)

        def get(i: int) -> object:
            with open(paths[i % keys], "rb") as f:
                return f.read()

        return get


# --- KV --------------------------------------------------------------------------------------------


async def kv_cases(calls: int, repeats: int, put_calls: int) -> list[Compared]:
    """10a get, 10b put under ``"full"``, 10c put under ``"process"`` (both against the fsync floor)."""
    from cap_cloudflare_kv import KvNamespace
    from cap_opendal_core.layers import LayerSettings

    keys = 1000
    out = []
    with tempfile.TemporaryDirectory(prefix="cap-bench-kv-") as tmp:
        root = Path(tmp)
        ns = KvNamespace.local(root / "kv-get", settings=LayerSettings())
        await ns.put_many({f"key-{i}": VALUE for i in range(keys)})
        names = [f"key-{i}" for i in range(keys)]

        async def get(i: int) -> object:
            return await ns.get(names[i % keys], "bytes")

        out.append(await compare("get", get, floors.sqlite_select(root, keys), calls, repeats))
        await ns.aclose()
        for durability in ("full", "process"):
            store = KvNamespace.local(root / f"kv-{durability}", durability=durability)

            async def put(i: int, store: KvNamespace = store) -> object:
                await store.put(f"k{i}", VALUE)
                return None

            floor = floors.write_fsync_rename(root / f"floor-{durability}", sync_directory=False)
            out.append(await compare(f"put, durability={durability!r}", put, floor, put_calls, repeats))
            await store.aclose()
    return out


# --- R2 --------------------------------------------------------------------------------------------


async def r2_cases(calls: int, repeats: int, put_calls: int) -> list[Compared]:
    """11a get + read, 11b put under ``"full"``, 11c put under ``"process"``."""
    from cap_cloudflare_r2 import R2Bucket

    keys = 1000
    out = []
    with tempfile.TemporaryDirectory(prefix="cap-bench-r2-") as tmp:
        root = Path(tmp)
        bucket = R2Bucket.local(root / "r2-get")
        for i in range(keys):
            await bucket.put(f"key-{i}", VALUE)
        names = [f"key-{i}" for i in range(keys)]

        async def get(i: int) -> object:
            body = await bucket.get(names[i % keys])
            assert body is not None
            return await body.read()

        out.append(await compare("get + read", get, floors.open_read(root / "files", keys), calls, repeats))
        for durability in ("full", "process"):
            store = R2Bucket.local(root / f"r2-{durability}", durability=durability)

            async def put(i: int, store: R2Bucket = store) -> object:
                return await store.put(f"k{i}", VALUE)

            floor = floors.write_fsync_rename(root / f"floor-{durability}", sync_directory=True)
            out.append(await compare(f"put, durability={durability!r}", put, floor, put_calls, repeats))
    return out


async def r2_conditional_concurrency(
    durability: str, puts: int, repeats: int, concurrency: int = 8
) -> tuple[list[float], list[float]]:
    """Create-if-absent puts of distinct keys per second: at ``concurrency`` and at 1, per repeat."""
    from cap_cloudflare_r2 import R2Bucket, R2Conditional

    absent = R2Conditional(etag_does_not_match="*")
    many: list[float] = []
    one: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cap-bench-r2c-") as tmp:
        bucket = R2Bucket.local(tmp, durability=durability)  # type: ignore[arg-type]
        await bucket.put("warm-up", VALUE)
        for repeat in range(repeats):
            for width in (concurrency, 1) if repeat % 2 == 0 else (1, concurrency):
                prefix = f"r{repeat}-c{width}/"

                async def worker(start: int, width: int = width, prefix: str = prefix) -> None:
                    for i in range(start, puts, width):
                        created = await bucket.put(f"{prefix}{i}", VALUE, only_if=absent)
                        assert created is not None

                started = time.perf_counter()
                await asyncio.gather(*(worker(s) for s in range(width)))
                rate = puts / (time.perf_counter() - started)
                (many if width == concurrency else one).append(rate)
    return many, one
