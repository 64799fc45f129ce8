"""Row 14: the sync API's cost — ``cap_cloudflare_kv.sync.KvNamespace`` from 8 threads against the
async ``KvNamespace`` from 8 tasks (14a get, 14b put, 1 KiB, memory backend), and the sync
``R2Bucket`` against boto3 from 8 threads on one moto S3 server (14c client CPU, 14d wall).
Two context lines describe the portal, which every network backend uses: 14e, a bare
``opendal.AsyncOperator('memory').read`` handed to the portal from 8 threads against 8 tasks
awaiting it (the floor of any call through the portal that waits for OpenDAL's runtime thread);
14f, the portal's own round trip (a coroutine that returns at once, from 8 threads).

A sync KV call on ``memory://`` runs in its caller's thread (``cap_opendal_core.sync``: the async
method on the thread's own loop, the read or write through OpenDAL's blocking ``Operator``); a sync
R2 call hands its coroutine to the portal thread and waits. The async side awaits the same method on
one event loop. Per-call cost is the loop's wall time over its calls (8 workers in parallel on both
sides), so both sides pay the same store, capability code and GIL; the sides alternate which goes
first each repeat, and a repeat's ratio is sync over async. For R2 the client CPU of the benchmark
process (moto runs in its own) per PUT+GET pair is compared with boto3's: a thread pool of boto3
clients is what a Flask or Celery process would otherwise use.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import TYPE_CHECKING, Any

import structlog

from benchmarks import bench_kv as bk
from cap_opendal_core.layers import LayerSettings

from .table import Line, RowReport, markdown_table, spread, verdict

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.support.moto_server import MotoS3

TITLE = "Sync API: 8 threads vs async tasks (KV memory, in the caller's thread), vs boto3 (R2 moto)"
THREADS = 8
GOAL_KV = 1.5
PAYLOAD = b"x" * 1024


def _threads(work: Callable[[int], None]) -> tuple[float, float]:
    """Run ``work(i)`` in THREADS threads at once: (wall, process CPU) seconds."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    wall, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - wall, time.process_time() - cpu


def _kv(calls: int, repeats: int) -> dict[str, list[tuple[float, float]]]:
    from cap_cloudflare_kv import KvNamespace
    from cap_cloudflare_kv.sync import KvNamespace as SyncKvNamespace

    settings = LayerSettings()
    kv = SyncKvNamespace.from_url("memory://", settings=settings)
    akv = KvNamespace.from_url("memory://", settings=settings)
    keys = [f"k{i}" for i in range(THREADS)]
    for key in keys:
        kv.put(key, PAYLOAD)

    async def seed() -> None:
        for key in keys:
            await akv.put(key, PAYLOAD)

    asyncio.run(seed())
    per_call: dict[str, list[tuple[float, float]]] = {"get": [], "put": []}

    def sync_side(op: str) -> float:
        def work(i: int) -> None:
            key = keys[i]
            if op == "get":
                for _ in range(calls):
                    kv.get(key, "bytes")
            else:
                for _ in range(calls):
                    kv.put(key, PAYLOAD)

        wall, _ = _threads(work)
        return wall / (calls * THREADS)

    def async_side(op: str) -> float:
        async def work(i: int) -> None:
            key = keys[i]
            if op == "get":
                for _ in range(calls):
                    await akv.get(key, "bytes")
            else:
                for _ in range(calls):
                    await akv.put(key, PAYLOAD)

        async def all_tasks() -> float:
            start = time.perf_counter()
            await asyncio.gather(*(work(i) for i in range(THREADS)))
            return time.perf_counter() - start

        return asyncio.run(all_tasks()) / (calls * THREADS)

    sync_side("get")  # warm-up: the threads' loops and blocking operator, OpenDAL's runtime
    async_side("get")
    for r in range(repeats):
        for op in ("get", "put"):
            if r % 2 == 0:
                s, a = sync_side(op), async_side(op)
            else:
                a, s = async_side(op), sync_side(op)
            per_call[op].append((s, a))
    kv.close()
    return per_call


def _floor(calls: int, repeats: int) -> dict[str, list[tuple[float, float]]]:
    """14e and 14f: bare OpenDAL through the portal vs 8 tasks; the portal's round trip alone."""
    import opendal

    from cap_opendal_core import sync

    op = opendal.AsyncOperator("memory")

    async def read() -> bytes:
        return bytes(await op.read("k"))

    async def noop() -> None:
        return None

    async def seed() -> None:
        await op.write("k", PAYLOAD)

    asyncio.run(seed())

    def sync_side(fn: Callable[[], Any]) -> float:
        def work(_: int) -> None:
            for _ in range(calls):
                sync.run(fn)

        wall, _ = _threads(work)
        return wall / (calls * THREADS)

    def async_side() -> float:
        async def work() -> None:
            for _ in range(calls):
                await read()

        async def all_tasks() -> float:
            start = time.perf_counter()
            await asyncio.gather(*(work() for _ in range(THREADS)))
            return time.perf_counter() - start

        return asyncio.run(all_tasks()) / (calls * THREADS)

    sync_side(read)  # warm-up
    async_side()
    results: dict[str, list[tuple[float, float]]] = {"read": [], "noop": []}
    for r in range(repeats):
        if r % 2 == 0:
            s, a = sync_side(read), async_side()
        else:
            a, s = async_side(), sync_side(read)
        results["read"].append((s, a))
        results["noop"].append((sync_side(noop), 1.0))
    return results


def _r2(moto: MotoS3, calls: int, repeats: int) -> dict[str, list[tuple[float, float]]]:
    import boto3
    from botocore.config import Config

    from cap_cloudflare_r2.sync import R2Bucket

    name = moto.create_bucket("sync")
    bucket = R2Bucket.from_url(moto.url(name), settings=LayerSettings())
    session = boto3.session.Session()
    clients = [
        session.client(
            "s3",
            endpoint_url=moto.endpoint,
            region_name=moto.region,
            aws_access_key_id=moto.access_key_id,
            aws_secret_access_key=moto.secret_access_key,
            config=Config(max_pool_connections=THREADS),
        )
        for _ in range(THREADS)
    ]

    def ours(i: int) -> None:
        for n in range(calls):
            key = f"ours/{i}/{n}"
            bucket.put(key, PAYLOAD)
            body = bucket.get(key)
            assert body is not None
            body.read()

    def theirs(i: int) -> None:
        client = clients[i]
        for n in range(calls):
            key = f"boto3/{i}/{n}"
            client.put_object(Bucket=name, Key=key, Body=PAYLOAD)
            client.get_object(Bucket=name, Key=key)["Body"].read()

    _threads(ours)  # warm-up: connections, the portal
    _threads(theirs)
    results: dict[str, list[tuple[float, float]]] = {"cpu": [], "wall": []}
    pairs = calls * THREADS
    for r in range(repeats):
        if r % 2 == 0:
            (ow, oc), (tw, tc) = _threads(ours), _threads(theirs)
        else:
            (tw, tc), (ow, oc) = _threads(theirs), _threads(ours)
        results["cpu"].append((oc / pairs, tc / pairs))
        results["wall"].append((ow / pairs, tw / pairs))
    bucket.close()
    return results


def _median_ratio(pairs: list[tuple[float, float]]) -> tuple[float, float, float, list[float]]:
    ratios = [a / b for a, b in pairs]
    return (
        statistics.median(a for a, _ in pairs) * 1e6,
        statistics.median(b for _, b in pairs) * 1e6,
        statistics.median(ratios),
        ratios,
    )


def run(quick: bool) -> RowReport:
    from tests.support.moto_server import start_moto_server

    kv_calls, r2_calls, repeats = (300, 15, 5) if quick else (1_500, 50, 9)
    bk.filtering_at_warning()
    kv = _kv(kv_calls, repeats)
    floor = _floor(kv_calls, repeats)
    with start_moto_server() as moto:
        r2 = _r2(moto, r2_calls, repeats)
    structlog.reset_defaults()

    lines: list[Line] = []
    rows: list[list[Any]] = []
    for line_id, op in (("14a", "get"), ("14b", "put")):
        ours, theirs, ratio, ratios = _median_ratio(kv[op])
        lines.append(
            Line(
                line_id,
                f"sync KvNamespace.{op} 1 KiB, memory backend, {THREADS} threads",
                f"{ours:.1f} µs/call, ratio {ratio:.2f}",
                f"async KvNamespace.{op}, {THREADS} tasks on one loop: {theirs:.1f} µs/call",
                spread(ratios),
                f"ratio ≤ {GOAL_KV:g}",
                verdict(ratio, GOAL_KV),
            )
        )
        rows.append([line_id, f"KV {op}", f"{ours:.1f}", f"{theirs:.1f}", f"{ratio:.2f}"])
    for line_id, what in (("14c", "cpu"), ("14d", "wall")):
        ours, theirs, ratio, ratios = _median_ratio(r2[what])
        label = "client CPU" if what == "cpu" else "wall time"
        lines.append(
            Line(
                line_id,
                f"sync R2Bucket PUT + GET 1 KiB, moto S3, {THREADS} threads: {label} per pair",
                f"{ours:.0f} µs, ratio {ratio:.2f}",
                f"boto3, a client per thread: {theirs:.0f} µs",
                spread(ratios),
                "ratio < 1 (ahead of boto3)" if what == "cpu" else "—",
                verdict(ratio, 1.0) if what == "cpu" else "—",
            )
        )
        rows.append([line_id, f"R2 PUT+GET ({label})", f"{ours:.0f}", f"{theirs:.0f}", f"{ratio:.2f}"])
    ours, theirs, ratio, ratios = _median_ratio(floor["read"])
    lines.append(
        Line(
            "14e",
            f"floor: bare opendal.AsyncOperator('memory').read handed to the portal, {THREADS} threads",
            f"{ours:.1f} µs/call, ratio {ratio:.2f}",
            f"the same read awaited by {THREADS} tasks on one loop: {theirs:.1f} µs/call",
            spread(ratios),
            "—",
            "—",
        )
    )
    rows.append(["14e", "bare OpenDAL read (floor)", f"{ours:.1f}", f"{theirs:.1f}", f"{ratio:.2f}"])
    trips = [s * 1e6 for s, _ in floor["noop"]]
    lines.append(
        Line(
            "14f",
            f"the portal's round trip: a coroutine that returns at once, {THREADS} threads",
            f"{statistics.median(trips):.1f} µs/call",
            "—",
            spread(trips, "{:.1f}", " µs"),
            "—",
            "—",
        )
    )
    rows.append(["14f", "portal round trip (no-op)", f"{statistics.median(trips):.1f}", "—", "—"])
    detail = (
        f"{THREADS} workers on each side; per-call figures are a loop's wall time (or the process's "
        "CPU time) over its calls; the sides alternate which goes first each repeat, and the spread "
        "is of the per-repeat ratios (ours over theirs).\n\n"
        + markdown_table(["#", "what", "ours (µs)", "compared with (µs)", "ratio"], rows)
    )
    return RowReport(
        14,
        TITLE,
        lines,
        detail,
        settings={"KV calls per thread": kv_calls, "R2 pairs per thread": r2_calls, "repeats": repeats},
    )
