"""``R2Bucket.local`` keeps bodies up to ``INLINE_MAX`` in the index (one commit, no value file):
every size crossing, range and overwrite reads back exactly, and nothing is left behind."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import anyio
import pytest

from cap_cloudflare_r2 import R2Bucket, R2Conditional
from cap_cloudflare_r2.backends.embedded import INLINE_MAX
from tests.workers.checks.check_r2 import SETTINGS, chunks_of

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


def value_files(root: Path) -> list[Path]:
    return [p for p in (root / "blobs").rglob("*") if p.is_file()]


def inline_rows(root: Path) -> int:
    with sqlite3.connect(root / "index.sqlite3") as conn:
        return int(conn.execute("SELECT count(*) FROM bodies").fetchone()[0])


@pytest.mark.parametrize("size", [0, 1, 1024, INLINE_MAX])
async def test_a_small_body_lives_in_the_index(tmp_path: Path, size: int) -> None:
    root = tmp_path / "b"
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    async with R2Bucket.local(root, settings=SETTINGS, durability="full") as bucket:
        stored = await bucket.put("k", data)
        assert stored is not None
        assert stored.size == size
        got = await bucket.get("k")
        assert got is not None
        assert await got.read() == data
        if size > 10:
            part = await bucket.get("k", range={"offset": 3, "length": 7})
            assert part is not None
            assert await part.read() == data[3:10]
    assert value_files(root) == []
    assert inline_rows(root) == 1


async def test_a_small_stream_is_inline_and_a_large_one_a_file(tmp_path: Path) -> None:
    root = tmp_path / "b"
    small, large = b"s" * 5000, b"L" * (INLINE_MAX + 1)
    async with R2Bucket.local(root, settings=SETTINGS) as bucket:
        await bucket.put("small", chunks_of(small, 999))
        await bucket.put("large", chunks_of(large, 4096))
        for key, data in (("small", small), ("large", large)):
            got = await bucket.get(key)
            assert got is not None
            assert await got.read() == data
    assert len(value_files(root)) == 1
    assert inline_rows(root) == 1


async def test_overwrites_across_the_threshold_and_deletes_leave_nothing(tmp_path: Path) -> None:
    root = tmp_path / "b"
    async with R2Bucket.local(root, settings=SETTINGS) as bucket:
        for data in (b"a" * 10, b"b" * (INLINE_MAX + 5), b"c" * 20, b"d" * 30):
            await bucket.put("k", data)
            got = await bucket.get("k")
            assert got is not None
            assert await got.read() == data
            assert len(value_files(root)) == (1 if len(data) > INLINE_MAX else 0)
            assert inline_rows(root) == (0 if len(data) > INLINE_MAX else 1)
        await bucket.delete("k")
        assert await bucket.get("k") is None
    assert value_files(root) == []
    assert inline_rows(root) == 0


async def test_a_multipart_upload_replaces_an_inline_body(tmp_path: Path) -> None:
    root = tmp_path / "b"
    async with R2Bucket.local(root, settings=SETTINGS) as bucket:
        await bucket.put("k", b"small")
        upload = await bucket.create_multipart_upload("k")
        part = await upload.upload_part(1, b"p" * 100)
        await upload.complete([part])
        got = await bucket.get("k")
        assert got is not None
        assert await got.read() == b"p" * 100
    assert inline_rows(root) == 0


async def test_concurrent_create_if_absent_on_distinct_and_shared_keys(tmp_path: Path) -> None:
    """Grouped commits: each distinct key is created once; of many racers on one key one wins."""
    only_if = R2Conditional(etag_does_not_match="*")
    won: list[str] = []
    async with R2Bucket.local(tmp_path / "b", settings=SETTINGS, durability="full") as bucket:

        async def create(key: str, value: bytes) -> None:
            if await bucket.put(key, value, only_if=only_if) is not None:
                won.append(key)

        async with anyio.create_task_group() as tg:
            for i in range(24):
                tg.start_soon(create, f"k{i}", b"v")
                tg.start_soon(create, "shared", str(i).encode())
        assert sorted(won) == sorted([f"k{i}" for i in range(24)] + ["shared"])
        for i in range(24):
            got = await bucket.get(f"k{i}")
            assert got is not None
            assert await got.read() == b"v"
