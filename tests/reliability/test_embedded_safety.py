"""Issue 14's defects of the local backends, each shown by a test that failed on the old backends.

1. conditional writes atomic across aliases of one directory and across processes;
2. a reader never sees a mix: a multipart body overwritten or deleted while it streams is read to
   its end, and a ``get`` racing a ``delete`` returns the old object or None;
3. a kill between completing a multipart upload and marking it completed — ``test_crash_embedded.py``
   (kills at every step boundary, then resumes every upload the writer started);
4. overwritten value files never leak, whatever processes overwrite;
5. KV ``delete`` of a key removed concurrently succeeds; ``get`` of a key expiring or reclaimed
   concurrently returns None;
and a directory written by the earlier layout opens without loss.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core import LayerSettings
from tests.reliability import embedded_racers
from tests.workers.checks.check_kv_scenarios import ManualClock

pytestmark = pytest.mark.anyio
QUIET = LayerSettings(logging=False, retry=None)
REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def _race(target: Any, processes: int, *args: Any) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    started = [ctx.Process(target=target, args=(*args, barrier, results, me)) for me in range(processes)]
    for process in started:
        process.start()
    out = [results.get(timeout=300) for _ in started]
    for process in started:
        process.join(timeout=60)
        assert process.exitcode == 0
    return [value for _, value in sorted(out, key=lambda item: item[0])]


# --- 1. conditional writes are atomic across aliases and processes ---------------------------------------


async def test_create_if_absent_is_won_once_across_aliases_of_one_directory(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    root.mkdir()
    os.symlink(root, tmp_path / "alias")
    buckets = [
        R2Bucket.local(root, settings=QUIET),
        R2Bucket.local(tmp_path / "alias", settings=QUIET),
        R2Bucket.from_url(f"file://{root}/", settings=QUIET),
    ]
    wins = 0
    for round_ in range(40):
        key = f"k{round_}"
        results = await asyncio.gather(
            *(
                b.put(key, f"{i}".encode(), only_if={"etag_does_not_match": "*"})
                for i, b in enumerate(buckets)
            )
        )
        won = [r for r in results if r is not None]
        assert len(won) == 1, f"{key}: {len(won)} writers created the same object"
        wins += 1
    assert wins == 40


def test_create_if_absent_is_won_once_across_processes(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(150)]
    won = _race(embedded_racers.create_if_absent, 3, str(tmp_path / "bucket"), keys)
    counts = {key: sum(key in mine for mine in won) for key in keys}
    doubled = sorted(k for k, n in counts.items() if n > 1)
    assert not doubled, f"{len(doubled)} keys were created by two processes, e.g. {doubled[:3]}"
    assert all(n == 1 for n in counts.values())


# --- 2. readers never see a mix -------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["overwrite", "delete"])
async def test_a_multipart_body_is_read_whole_while_it_is_replaced(tmp_path: Path, change: str) -> None:
    bucket = R2Bucket.local(tmp_path / "bucket", settings=QUIET)
    upload = await bucket.create_multipart_upload("k")
    parts = [await upload.upload_part(1, b"A" * (5 * MiB)), await upload.upload_part(2, b"B" * MiB)]
    await upload.complete(parts)
    body = await bucket.get("k")
    assert body is not None
    stream = aiter(body)
    first = await anext(stream)
    if change == "overwrite":
        await bucket.put("k", b"new")
    else:
        await bucket.delete("k")
    rest = b"".join([chunk async for chunk in stream])
    assert first + rest == b"A" * (5 * MiB) + b"B" * MiB, "the body mixed or lost bytes"


async def test_a_get_racing_a_delete_returns_the_old_object_or_none(tmp_path: Path) -> None:
    bucket = R2Bucket.local(tmp_path / "bucket", settings=QUIET)
    for round_ in range(150):
        await bucket.put("k", b"v" * 200_000)

        async def read() -> bytes | None:
            got = await bucket.get("k")
            return None if got is None else await got.read()

        got, _ = await asyncio.gather(read(), bucket.delete("k"))
        assert got in (None, b"v" * 200_000), f"round {round_}"


# --- 4. overwritten value files never leak ----------------------------------------------------------------


def test_overwrites_by_many_processes_leave_one_value_file_per_object(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    keys = ["a", "b", "c", "d"]
    _race(embedded_racers.overwrite, 4, str(root), keys, 40)
    files = [p for p in root.rglob("*") if p.is_file() and p.parent.parent.name == "blobs"]
    assert len(files) == len(keys), f"{len(files)} value files for {len(keys)} objects"


# --- 5. KV: concurrent deletes and expiry ----------------------------------------------------------------


def test_concurrent_kv_deletes_never_fail(tmp_path: Path) -> None:
    root = tmp_path / "kv"

    async def fill() -> None:
        async with KvNamespace.local(root, settings=QUIET) as kv:
            await kv.put_many({f"k{i}": "v" for i in range(300)})

    asyncio.run(fill())
    errors = _race(embedded_racers.delete_all, 3, str(root), [f"k{i}" for i in range(300)])
    assert errors == [[], [], []], f"deletes failed: {[len(e) for e in errors]}"


async def test_concurrent_kv_deletes_in_one_process_never_fail(tmp_path: Path) -> None:
    kv = KvNamespace.local(tmp_path / "kv", settings=QUIET)
    for round_ in range(100):
        await kv.put("k", "v")
        await asyncio.gather(*(kv.delete("k") for _ in range(4)))
        assert await kv.get("k") is None, f"round {round_}"


async def test_a_get_of_a_key_reclaimed_concurrently_returns_none(tmp_path: Path) -> None:
    clock = ManualClock()
    kv = KvNamespace.local(tmp_path / "kv", settings=QUIET, clock=clock)
    other = KvNamespace.local(tmp_path / "kv", settings=QUIET, clock=clock)  # a second handle reclaims
    for round_ in range(150):
        await kv.put("k", "v" * (100_000 if round_ % 2 else 10), expiration_ttl=60)
        clock.advance(61)
        results = await asyncio.gather(
            kv.get("k", "stream"), other.purge_expired(), kv.get("k"), other.get("k", "stream"), kv.get("k")
        )
        assert [results[0], results[2], results[3], results[4]] == [None] * 4, f"round {round_}: {results}"


# --- migration: a directory the earlier layout wrote ---------------------------------------------

OLD_WRITER = textwrap.dedent(
    """
    import anyio, sys
    from cap_cloudflare_kv import KvNamespace
    from cap_cloudflare_r2 import R2Bucket

    async def main(kv_root, r2_root):
        kv = KvNamespace.from_url("fs://" + kv_root)
        await kv.put("small", "v", metadata={"m": 1})
        await kv.put("big/é", b"x" * 200_000, expiration_ttl=3600)
        await kv.put("gone", "v", expiration_ttl=60)
        r2 = R2Bucket.from_url("fs://" + r2_root)
        await r2.put("obj", b"body", custom_metadata={"a": "b"}, http_metadata={"content_type": "text/plain"})
        up = await r2.create_multipart_upload("multi")
        parts = [await up.upload_part(1, b"A" * 5 * 1024 * 1024), await up.upload_part(2, b"tail")]
        await up.complete(parts)
        pending = await r2.create_multipart_upload("pending")
        await pending.upload_part(1, b"p" * 5 * 1024 * 1024)
        print(pending.upload_id)

    anyio.run(main, sys.argv[1], sys.argv[2])
    """
)


def _write_old_layout(kv_root: Path, r2_root: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", OLD_WRITER, str(kv_root), str(r2_root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]


async def test_a_directory_of_the_earlier_layout_opens_without_loss(tmp_path: Path) -> None:
    """The earlier layout, written by the earlier code (its OpenDAL fs path, still in the tree)."""
    kv_root, r2_root = tmp_path / "kv", tmp_path / "r2"
    pending_id = _write_old_layout(kv_root, r2_root)
    assert (kv_root / "k").is_dir()
    assert (r2_root / "keys").is_dir()
    async with KvNamespace.local(kv_root, settings=QUIET) as kv:
        got = await kv.get_with_metadata("small")
        assert (got.value, got.metadata) == ("v", {"m": 1})
        assert await kv.get("big/é", "bytes") == b"x" * 200_000
        assert sorted(k.name for k in (await kv.list()).keys) == ["big/é", "gone", "small"]
    assert not (kv_root / "k").exists(), "the old files are removed once converted"
    async with R2Bucket.local(r2_root, settings=QUIET) as r2:
        obj = await r2.get("obj")
        assert obj is not None
        assert await obj.read() == b"body"
        assert (obj.custom_metadata, obj.http_metadata.content_type) == ({"a": "b"}, "text/plain")
        multi = await r2.get("multi")
        assert multi is not None
        assert await multi.read() == b"A" * 5 * MiB + b"tail"
        assert multi.etag.endswith("-2")
        pending = await r2.resume_multipart_upload("pending", pending_id)
        second = await pending.upload_part(2, b"end")
        first_etag = __import__("hashlib").md5(b"p" * 5 * MiB).hexdigest()
        done_obj = await pending.complete([{"part_number": 1, "etag": first_etag}, second])
        assert done_obj.size == 5 * MiB + 3
    assert not (r2_root / "keys").exists()
    leftovers = [p for p in r2_root.rglob("*") if p.is_file() and p.parent.name != "sessions"]
    assert all(p.name.startswith("index.sqlite3") or "blobs" in p.parts for p in leftovers), leftovers
    shutil.rmtree(tmp_path)
