"""R2Bucket on a server: client CPU against aiobotocore, and memory while moving a 1 GiB object.

Run: ``.venv/bin/python benchmarks/bench_r2.py [--ops N] [--size BYTES] [--concurrency C]
[--repeats R] [--gib G] [--skip-throughput] [--skip-large] [--two-request-get] [--strict]``

1. **Throughput** (issue 4, Performance): ``N`` PUTs then ``N`` GETs of ``BYTES`` (2,000 x 64 KiB) at
   concurrency ``C`` (32) against one moto S3 server (its own process, on 127.0.0.1), by
   ``R2Bucket.from_url("s3://…")`` (OpenDAL; a ``get`` is one signed GET) and by aiobotocore, rotating
   which goes first, ``R`` times, each on a fresh bucket; a boto3 thread pool (``C`` threads) runs
   too, for context, and with ``--two-request-get`` an R2Bucket whose ``get`` takes the OpenDAL path
   (``stat``, then a read pinned to its etag) joins the rotation. Wall time and the CPU time of this
   (client) process are measured per phase; the table shows medians, the spread (min..max) and the
   CPU ratio to aiobotocore of each repeat (both ran back to back, so load on the machine affects
   both alike). The R2Bucket keeps its default layers (hints, logging, metrics), with structlog
   filtering below WARNING as a production host would. Goal: R2Bucket's client CPU (PUT + GET) ≤ 0.5 x
   aiobotocore's (medians).
2. **Large objects**: a ``G`` GiB object streamed up (``put`` of an async iterable) and down
   (``async for`` over the body) through the local (OpenDAL fs) and the moto S3 backends, each in a
   fresh subprocess that reports its RSS just before the transfer and its peak (``VmHWM``, which also
   covers anything earlier — so the figure can only overstate). The body's MD5 is checked on the way
   back. Goal: peak ≤ 128 MiB above the baseline.

This is a measurement, not a test: ``--strict`` makes a MISS exit non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for tests.support.moto_server (the same server the tests use)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from tests.support.moto_server import MotoS3

MiB = 1024 * 1024
CPU_GOAL = 0.5
Timing = tuple[float, float, float]
"""One phase's wall time, client CPU and the server's CPU, seconds."""
Timings = tuple[Timing, Timing]
"""(PUT, GET) of one client run."""
RSS_GOAL_MIB = 128


def quiet_structlog() -> None:
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), cache_logger_on_first_use=True
    )


# -- throughput -----------------------------------------------------------------------------------


@dataclass
class Phase:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    """The moto server's CPU during the phase: where a wall time is the server's, the floor."""

    def add(self, timing: Timing) -> None:
        wall, cpu, server = timing
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.server.append(server)


@dataclass
class ClientResult:
    name: str
    put: Phase = field(default_factory=Phase)
    get: Phase = field(default_factory=Phase)

    def total_cpu(self) -> list[float]:
        return [p + g for p, g in zip(self.put.cpu, self.get.cpu, strict=True)]

    def total_server_cpu(self) -> list[float]:
        return [p + g for p, g in zip(self.put.server, self.get.server, strict=True)]


async def bounded(concurrency: int, count: int, one: Callable[[int], Awaitable[None]]) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with semaphore:
            await one(i)

    await asyncio.gather(*(run(i) for i in range(count)))


def server_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of a server process and its children (gunicorn's worker), from
    ``/proc``; 0 where there is no process of ours to read (or no ``/proc``)."""
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # a process that ended while we looked
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


async def timed(moto: MotoS3, work: Callable[[], Awaitable[None]]) -> Timing:
    server = server_cpu_s(moto.pid)
    wall, cpu = time.perf_counter(), time.process_time()
    await work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, server_cpu_s(moto.pid) - server


async def run_r2bucket(
    moto: MotoS3,
    bucket_name: str,
    payload: bytes,
    ops: int,
    concurrency: int,
    *,
    two_request_get: bool = False,
) -> Timings:
    from cap_cloudflare_r2 import R2Bucket

    async with R2Bucket.from_url(moto.url(bucket_name)) as bucket:
        if two_request_get:
            # the path every get took before the one-request GET (and still takes where that cannot
            # stand in): OpenDAL's stat, then a read pinned to its etag. A private switch, for this
            # comparison only.
            bucket._backend._direct = None  # type: ignore[attr-defined]
        await bucket.put("warm-up", payload)  # build connections, load code: not measured
        warm = await bucket.get("warm-up")
        assert warm is not None
        await warm.read()

        async def put(i: int) -> None:
            await bucket.put(f"obj/{i:05d}", payload)

        async def get(i: int) -> None:
            body = await bucket.get(f"obj/{i:05d}")
            assert body is not None
            data = await body.read()
            assert len(data) == len(payload)

        return (
            await timed(moto, lambda: bounded(concurrency, ops, put)),
            await timed(moto, lambda: bounded(concurrency, ops, get)),
        )


async def run_r2bucket_two_request_get(
    moto: MotoS3, bucket_name: str, payload: bytes, ops: int, concurrency: int
) -> Timings:
    return await run_r2bucket(moto, bucket_name, payload, ops, concurrency, two_request_get=True)


async def run_aiobotocore(
    moto: MotoS3, bucket_name: str, payload: bytes, ops: int, concurrency: int
) -> Timings:
    from aiobotocore.config import AioConfig  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from aiobotocore.session import get_session  # type: ignore[import-untyped, import-not-found, unused-ignore]

    config = AioConfig(
        max_pool_connections=concurrency,
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    async with get_session().create_client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name=moto.region,
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
        config=config,
    ) as client:
        await client.put_object(Bucket=bucket_name, Key="warm-up", Body=payload)

        async def put(i: int) -> None:
            await client.put_object(Bucket=bucket_name, Key=f"obj/{i:05d}", Body=payload)

        async def get(i: int) -> None:
            response = await client.get_object(Bucket=bucket_name, Key=f"obj/{i:05d}")
            async with response["Body"] as stream:
                data = await stream.read()
            assert len(data) == len(payload)

        return (
            await timed(moto, lambda: bounded(concurrency, ops, put)),
            await timed(moto, lambda: bounded(concurrency, ops, get)),
        )


async def run_opendal_bare(
    moto: MotoS3, bucket_name: str, payload: bytes, ops: int, concurrency: int
) -> Timings:
    """Peer: OpenDAL's own ``AsyncOperator("s3")``, write then read, no capability around it."""
    import opendal

    op = opendal.AsyncOperator(
        "s3",
        bucket=bucket_name,
        endpoint=moto.endpoint,
        region=moto.region,
        access_key_id=moto.access_key_id,
        secret_access_key=moto.secret_access_key,
    )
    await op.write("warm-up", payload)
    await op.read("warm-up")

    async def put(i: int) -> None:
        await op.write(f"obj/{i:05d}", payload)

    async def get(i: int) -> None:
        assert len(await op.read(f"obj/{i:05d}")) == len(payload)

    return (
        await timed(moto, lambda: bounded(concurrency, ops, put)),
        await timed(moto, lambda: bounded(concurrency, ops, get)),
    )


async def run_obstore(moto: MotoS3, bucket_name: str, payload: bytes, ops: int, concurrency: int) -> Timings:
    """Peer: obstore's ``S3Store`` (Rust ``object_store``), put then get."""
    import obstore  # type: ignore[import-not-found, unused-ignore]
    from obstore.store import S3Store  # type: ignore[import-not-found, unused-ignore]

    store = S3Store(
        bucket_name,
        endpoint=moto.endpoint,
        region=moto.region,
        access_key_id=moto.access_key_id,
        secret_access_key=moto.secret_access_key,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    await obstore.put_async(store, "warm-up", payload)
    await (await obstore.get_async(store, "warm-up")).bytes_async()

    async def put(i: int) -> None:
        await obstore.put_async(store, f"obj/{i:05d}", payload)

    async def get(i: int) -> None:
        got = await obstore.get_async(store, f"obj/{i:05d}")
        assert len(await got.bytes_async()) == len(payload)

    return (
        await timed(moto, lambda: bounded(concurrency, ops, put)),
        await timed(moto, lambda: bounded(concurrency, ops, get)),
    )


PEERS: Final = ("OpenDAL AsyncOperator (bare)", "obstore S3Store")
PEER_CPU_GOALS: Final = {PEERS[0]: 1.1, PEERS[1]: 1.0}
"""Issue 18's goals: R2Bucket's client CPU at most 1.1x bare OpenDAL's and 1.0x obstore's."""


def peer_table(results: list[ClientResult], ops: int) -> str:
    """R2Bucket beside each bare peer: CPU and wall ratios, and the absolute µs of client CPU the
    capability adds per PUT + GET pair over the bare call."""
    by_name = {r.name: r for r in results}
    ours = results[0]
    rows = [
        "| peer | peer CPU, s | R2Bucket CPU, s | CPU ratio (goal) | added CPU per PUT+GET, µs "
        "| peer wall, s | wall ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    our_cpu = statistics.median(ours.total_cpu())
    our_wall = statistics.median([p + g for p, g in zip(ours.put.wall, ours.get.wall, strict=True)])
    for name in PEERS:
        peer = by_name.get(name)
        if peer is None:
            continue
        cpu = statistics.median(peer.total_cpu())
        wall = statistics.median([p + g for p, g in zip(peer.put.wall, peer.get.wall, strict=True)])
        rows.append(
            f"| {name} | {cpu:.2f} | {our_cpu:.2f} | {our_cpu / cpu:.2f} (≤ {PEER_CPU_GOALS[name]:g}) "
            f"| {(our_cpu - cpu) / ops * 1e6:+.0f} | {wall:.2f} | {our_wall / wall:.2f} |"
        )
    return "\n".join(rows)


async def run_boto3_threads(
    moto: MotoS3, bucket_name: str, payload: bytes, ops: int, concurrency: int
) -> Timings:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name=moto.region,
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
        config=Config(
            max_pool_connections=concurrency,
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    client.put_object(Bucket=bucket_name, Key="warm-up", Body=payload)

    def put(i: int) -> None:
        client.put_object(Bucket=bucket_name, Key=f"obj/{i:05d}", Body=payload)

    def get(i: int) -> None:
        assert len(client.get_object(Bucket=bucket_name, Key=f"obj/{i:05d}")["Body"].read()) == len(payload)

    def in_threads(fn: Callable[[int], None]) -> Callable[[], Awaitable[None]]:
        async def work() -> None:
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(fn, range(ops)))

        return work

    return await timed(moto, in_threads(put)), await timed(moto, in_threads(get))


def throughput(
    ops: int,
    size: int,
    concurrency: int,
    repeats: int,
    *,
    two_request_get: bool = False,
    peers: bool = False,
    keep_alive: bool = False,
) -> list[ClientResult]:
    """``keep_alive``: moto behind gunicorn, which keeps connections open as R2 does, instead of
    moto's own server, which closes each after one request (see ``suite/moto_keepalive.py``)."""
    from tests.support.moto_server import start_moto_server

    if keep_alive:
        from benchmarks.suite.moto_keepalive import start_keepalive_moto as start_moto_server

    clients: list[tuple[str, Any]] = [
        ("R2Bucket (OpenDAL s3)", run_r2bucket),
        ("aiobotocore", run_aiobotocore),
    ]
    if peers:
        clients += [(PEERS[0], run_opendal_bare), (PEERS[1], run_obstore)]
    if two_request_get:
        clients.append(("R2Bucket, two-request get", run_r2bucket_two_request_get))
    try:
        import boto3  # noqa: F401

        context = ("boto3, thread pool (context)", run_boto3_threads)
    except ImportError:
        context = None
    payload = os.urandom(size)
    results = {name: ClientResult(name) for name, _ in clients}
    if context is not None:
        results[context[0]] = ClientResult(context[0])
    with start_moto_server() as moto:
        for repeat in range(repeats):
            shift = repeat % len(clients)  # rotate, so each client goes first as often as the others
            order = clients[shift:] + clients[:shift]
            if context is not None:
                order = [*order, context]
            for name, run in order:
                put, get = asyncio.run(run(moto, moto.create_bucket("bench"), payload, ops, concurrency))
                results[name].put.add(put)
                results[name].get.add(get)
                print(
                    f"  repeat {repeat + 1}/{repeats} {name}: PUT {put[0]:.2f}s wall {put[1]:.2f}s cpu "
                    f"{put[2]:.2f}s server, GET {get[0]:.2f}s wall {get[1]:.2f}s cpu {get[2]:.2f}s server",
                    file=sys.stderr,
                )
    return list(results.values())


PROFILE_GROUPS: Final = (
    ("HTTP/1.1 client (backends/http1.py)", ("backends/http1.py",)),
    ("SigV4 signing (sigv4.py, s3_address.py, hmac, hashlib)", ("sigv4.py", "s3_address.py", "hmac", "hash")),
    ("S3 request and answer mapping (s3_get.py, the opendal backend)", ("s3_get.py", "backends/opendal.py")),
    ("R2Bucket: argument checks, models, payloads", ("cap_cloudflare_r2/",)),
    ("layer pipeline (cap_opendal_core: hints, logging, metrics, deadline, retry)", ("cap_opendal_core/",)),
    (
        "asyncio: event loop, tasks, transports, connect/close (CPython)",
        ("asyncio/", "selectors.py", "socket", "select", "contextvars", "heapq", "weakref"),
    ),
    ("the benchmark's own driver (semaphore, gather)", ("bench_r2.py",)),
)
"""Where a profiled R2Bucket run's main-thread CPU goes, by file (first match wins)."""


def profile_r2bucket(
    size: int, ops: int, concurrency: int, per_pair_us: float, *, keep_alive: bool = False
) -> str:
    """One R2Bucket PUT + GET run under ``cProfile`` (timer: this thread's CPU time), its own CPU
    grouped by where it is spent, scaled to ``per_pair_us`` (the unprofiled median per PUT + GET:
    the profiler's own cost per Python call inflates the Python-heavy groups a little)."""
    import cProfile
    import pstats

    from tests.support.moto_server import start_moto_server

    if keep_alive:
        from benchmarks.suite.moto_keepalive import start_keepalive_moto as start_moto_server

    profiler = cProfile.Profile(time.thread_time)
    payload = os.urandom(size)
    with start_moto_server() as moto:
        asyncio.run(run_r2bucket(moto, moto.create_bucket("bench"), payload, min(ops, 50), concurrency))
        bucket = moto.create_bucket("bench")  # above: imports and first calls, not profiled
        profiler.enable()
        asyncio.run(run_r2bucket(moto, bucket, payload, ops, concurrency))
        profiler.disable()
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    other = "other (stdlib, builtins)"
    totals = dict.fromkeys([name for name, _ in PROFILE_GROUPS] + [other], 0.0)

    def group_of(key: tuple[str, int, str]) -> str | None:
        where = f"{key[0]}:{key[2]}"
        return next((name for name, marks in PROFILE_GROUPS if any(m in where for m in marks)), None)

    for key, (_cc, _nc, own, _cum, callers) in raw.items():
        group = group_of(key)
        if group is None and key[0] == "~" and callers:
            # a builtin (a copy, a syscall, isinstance …): charged to the code that called it
            for caller, (_c, _n, spent, _t) in callers.items():
                totals[group_of(caller) or other] += spent
            continue
        totals[group or other] += own
    whole = sum(totals.values()) or 1.0
    lines = [
        "| where R2Bucket's client CPU goes (one profiled run) | share | ≈ µs per PUT + GET |",
        "|---|---|---|",
    ]
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {seconds / whole:.0%} | {seconds / whole * per_pair_us:.0f} |")
    return "\n".join(lines)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def ratios(ours: list[float], theirs: list[float]) -> str:
    """Per-repeat ratios (each repeat ran both clients back to back): median (min..max)."""
    return spread([a / b for a, b in zip(ours, theirs, strict=True)])


def throughput_table(results: list[ClientResult], ops: int) -> str:
    baseline = results[1]
    lines = [
        "| client | phase | wall s, median (min..max) | client CPU s, median (min..max) "
        "| CPU / aiobotocore, per repeat | ops/s (median wall) | server CPU s, median (min..max) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for phase_name, phase, base in (("PUT", r.put, baseline.put), ("GET", r.get, baseline.get)):
            lines.append(
                f"| {r.name} | {phase_name} | {spread(phase.wall)} | {spread(phase.cpu)} | "
                f"{ratios(phase.cpu, base.cpu)} | {ops / statistics.median(phase.wall):.0f} "
                f"| {spread(phase.server)} |"
            )
        walls = [p + g for p, g in zip(r.put.wall, r.get.wall, strict=True)]
        lines.append(
            f"| {r.name} | PUT + GET | {spread(walls)} | {spread(r.total_cpu())} "
            f"| {ratios(r.total_cpu(), baseline.total_cpu())} | | {spread(r.total_server_cpu())} |"
        )
    return "\n".join(lines)


def cpu_verdict(results: list[ClientResult]) -> tuple[float, str]:
    ours = statistics.median(results[0].total_cpu())
    theirs = statistics.median(results[1].total_cpu())
    ratio = ours / theirs
    return ratio, "PASS" if ratio <= CPU_GOAL else "MISS"


# -- large objects (each run in its own process) --------------------------------------------------


def rss_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name}")


async def chunks(total: int, seed: bytes, digest: Any) -> AsyncIterator[bytes]:
    block = bytearray(seed)
    for i in range(total // len(seed)):
        block[:8] = i.to_bytes(8, "little")  # every MiB differs, cheaply
        data = bytes(block)
        digest.update(data)
        yield data


def _moto_from(location: str) -> tuple[str, str, str, str, str]:
    """(endpoint, region, key id, secret, bucket) from an ``s3://`` URL made by ``MotoS3.url``."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return (
        query["endpoint"],
        query["region"],
        query["access_key_id"],
        query["secret_access_key"],
        parts.netloc,
    )


async def _large_r2bucket(target: str, location: str, total: int) -> tuple[Any, Any]:
    from cap_cloudflare_r2 import R2Bucket

    bucket = R2Bucket.local(location) if target == "local" else R2Bucket.from_url(location)

    async def up(source: AsyncIterator[bytes]) -> str:
        stored = await bucket.put("big", source)
        assert stored is not None
        assert stored.size == total
        return stored.etag

    async def down() -> AsyncIterator[bytes]:
        body = await bucket.get("big")
        assert body is not None
        async for chunk in body:
            yield chunk

    await bucket.__aenter__()
    await bucket.put("warm-up", b"x" * MiB)
    warm = await bucket.get("warm-up")
    assert warm is not None
    await warm.read()
    return up, down


async def _large_opendal(location: str, total: int) -> tuple[Any, Any]:
    """Bare OpenDAL: a writer of 8 MiB parts, 4 in flight (R2Bucket's defaults), a reader of 1 MiB."""
    import opendal

    endpoint, region, key_id, secret, bucket = _moto_from(location)
    op = opendal.AsyncOperator(
        "s3",
        bucket=bucket,
        endpoint=endpoint,
        region=region,
        access_key_id=key_id,
        secret_access_key=secret,
    )
    await op.write("warm-up", b"x" * MiB)
    await op.read("warm-up")

    async def up(source: AsyncIterator[bytes]) -> str:
        writer = await op.open("big", "wb", chunk=8 * MiB, concurrent=4)
        async for chunk in source:
            await writer.write(chunk)
        await writer.close()
        return ""

    async def down() -> AsyncIterator[bytes]:
        reader = await op.open("big", "rb")
        try:
            while chunk := bytes(await reader.read(MiB)):
                yield chunk
        finally:
            await reader.close()

    return up, down


async def _large_obstore(location: str, total: int) -> tuple[Any, Any]:
    """obstore: ``put_async`` of the async iterable (8 MiB parts, 4 in flight), ``stream`` of 1 MiB."""
    import obstore  # type: ignore[import-not-found, unused-ignore]
    from obstore.store import S3Store  # type: ignore[import-not-found, unused-ignore]

    endpoint, region, key_id, secret, bucket = _moto_from(location)
    store = S3Store(
        bucket,
        endpoint=endpoint,
        region=region,
        access_key_id=key_id,
        secret_access_key=secret,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True, "timeout": "600s"},
    )
    await obstore.put_async(store, "warm-up", b"x" * MiB)
    await (await obstore.get_async(store, "warm-up")).bytes_async()

    async def up(source: AsyncIterator[bytes]) -> str:
        await obstore.put_async(store, "big", source, chunk_size=8 * MiB, max_concurrency=4)
        return ""

    async def down() -> AsyncIterator[bytes]:
        got = await obstore.get_async(store, "big")
        async for chunk in got.stream(min_chunk_size=MiB):
            yield bytes(chunk)

    return up, down


async def _large_boto3(location: str, total: int) -> tuple[Any, Any]:
    """boto3 in a thread: ``upload_fileobj`` / ``download_fileobj`` (its transfer manager: 8 MiB
    parts, 10 threads), from and to file-like objects that stream."""
    import io
    import queue
    import threading

    import boto3
    from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped, unused-ignore]
    from botocore.config import Config

    endpoint, region, key_id, secret, bucket = _moto_from(location)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    config = TransferConfig(multipart_chunksize=8 * MiB, max_concurrency=4)
    client.put_object(Bucket=bucket, Key="warm-up", Body=b"x" * MiB)
    loop = asyncio.get_running_loop()

    async def up(source: AsyncIterator[bytes]) -> str:
        pieces: queue.Queue[bytes] = queue.Queue(maxsize=4)

        class Reader(io.RawIOBase):
            def __init__(self) -> None:
                self.rest = b""

            def readable(self) -> bool:
                return True

            def read(self, size: int = -1) -> bytes:
                out = bytearray(self.rest)
                while size < 0 or len(out) < size:
                    piece = pieces.get()
                    if not piece:
                        pieces.put(b"")
                        break
                    out += piece
                data = bytes(out)
                cut = len(data) if size < 0 else size
                self.rest = data[cut:]
                return data[:cut]

        done = loop.run_in_executor(
            None, lambda: client.upload_fileobj(Reader(), bucket, "big", Config=config)
        )
        async for chunk in source:
            await loop.run_in_executor(None, pieces.put, chunk)
        await loop.run_in_executor(None, pieces.put, b"")
        await done
        return ""

    async def down() -> AsyncIterator[bytes]:
        pieces: queue.Queue[bytes | None] = queue.Queue(maxsize=8)

        class Sink(io.RawIOBase):
            """download_fileobj seeks and writes parts out of order: keep them until in order."""

            def __init__(self) -> None:
                self.position = 0
                self.next = 0
                self.held: dict[int, bytes] = {}
                self.lock = threading.Lock()

            def writable(self) -> bool:
                return True

            def seekable(self) -> bool:
                return True

            def seek(self, offset: int, whence: int = 0) -> int:
                self.position = offset
                return offset

            def tell(self) -> int:
                return self.position

            def write(self, data: Any) -> int:
                with self.lock:
                    self.held[self.position] = bytes(data)
                    self.position += len(data)
                    while self.next in self.held:
                        piece = self.held.pop(self.next)
                        self.next += len(piece)
                        pieces.put(piece)
                return len(data)

        def run() -> None:
            try:
                client.download_fileobj(bucket, "big", Sink(), Config=config)
            finally:
                pieces.put(None)

        done = loop.run_in_executor(None, run)
        while (piece := await loop.run_in_executor(None, pieces.get)) is not None:
            yield piece
        await done

    return up, down


LARGE_CLIENTS: Final = ("local", "moto s3", "opendal", "obstore", "boto3")
"""Row 4's clients: R2Bucket on its local and moto backends, then the peers on the same moto."""
LARGE_NAMES: Final = {
    "local": "R2Bucket, local backend",
    "moto s3": "R2Bucket, moto S3",
    "opendal": "bare OpenDAL writer/reader, moto S3",
    "obstore": "obstore put/get stream, moto S3",
    "boto3": "boto3 upload/download_fileobj, moto S3",
}


async def child_large(target: str, location: str, gib: float) -> dict[str, Any]:
    quiet_structlog()
    total = int(gib * 1024) * MiB
    if target in ("local", "moto s3"):
        up, down = await _large_r2bucket(target, location, total)
    elif target == "opendal":
        up, down = await _large_opendal(location, total)
    elif target == "obstore":
        up, down = await _large_obstore(location, total)
    else:
        up, down = await _large_boto3(location, total)
    baseline = rss_kib("VmRSS")
    sent = hashlib.md5(usedforsecurity=False)
    started = time.perf_counter()
    etag = await up(chunks(total, os.urandom(MiB), sent))
    up_s = time.perf_counter() - started
    received = hashlib.md5(usedforsecurity=False)
    started = time.perf_counter()
    size = 0
    async for chunk in down():
        received.update(chunk)
        size += len(chunk)
    down_s = time.perf_counter() - started
    return {
        "target": target,
        "bytes": total,
        "baseline_kib": baseline,
        "peak_kib": rss_kib("VmHWM"),
        "up_s": up_s,
        "down_s": down_s,
        "intact": size == total and sent.hexdigest() == received.hexdigest(),
        "etag": etag,
    }


def large(gib: float, targets: tuple[str, ...] = LARGE_CLIENTS) -> list[dict[str, Any]]:
    from tests.support.moto_server import start_moto_server

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-r2-") as scratch, start_moto_server() as moto:
        for target in targets:
            location = str(Path(scratch) / "bucket") if target == "local" else moto.url(moto.create_bucket())
            print(f"  {target}: {gib} GiB up and down …", file=sys.stderr)
            out = subprocess.run(
                [sys.executable, __file__, "--child-large", target, location, str(gib)],
                capture_output=True,
                text=True,
                check=False,
                timeout=1800,
            )
            if out.returncode != 0:
                raise RuntimeError(f"the {target} run failed:\n{out.stderr[-3000:]}")
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def large_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | object | up MiB/s | down MiB/s | RSS before, MiB | peak RSS, MiB "
        "| peak - before, MiB | intact | ≤ 128 MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        mib = r["bytes"] / MiB
        grown = (r["peak_kib"] - r["baseline_kib"]) / 1024
        verdict = "PASS" if grown <= RSS_GOAL_MIB and r["intact"] else "MISS"
        lines.append(
            f"| {LARGE_NAMES.get(r['target'], r['target'])} | {mib / 1024:.2f} GiB "
            f"| {mib / r['up_s']:.0f} | {mib / r['down_s']:.0f} | "
            f"{r['baseline_kib'] / 1024:.0f} | {r['peak_kib'] / 1024:.0f} | {grown:.0f} | {r['intact']} "
            f"| {verdict} |"
        )
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument(
        "--peers", action="store_true", help="also run bare OpenDAL and obstore (issue 18's R2 peers)"
    )
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="throughput against moto behind gunicorn, which keeps connections open as R2 does",
    )
    parser.add_argument(
        "--two-request-get",
        action="store_true",
        help="also run R2Bucket with the OpenDAL stat + pinned read get, for comparison",
    )
    parser.add_argument(
        "--child-large", nargs=3, metavar=("TARGET", "LOCATION", "GIB"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)

    if args.child_large:
        target, location, gib = args.child_large
        print(json.dumps(asyncio.run(child_large(target, location, float(gib)))))
        return 0

    quiet_structlog()
    print(
        f"bench_r2 — Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"moto S3 server in its own process on 127.0.0.1\n"
    )
    missed = 0
    if not args.skip_throughput:
        results = throughput(
            args.ops,
            args.size,
            args.concurrency,
            args.repeats,
            two_request_get=args.two_request_get,
            peers=args.peers,
            keep_alive=args.keep_alive,
        )
        ratio, verdict = cpu_verdict(results)
        missed += verdict == "MISS"
        print(
            f"### {args.ops} PUT + {args.ops} GET of {args.size // 1024} KiB at concurrency "
            f"{args.concurrency}, {args.repeats} repeats\n"
        )
        print(throughput_table(results, args.ops))
        print(
            f"\nclient CPU (PUT + GET, medians): R2Bucket / aiobotocore = {ratio:.2f} "
            f"(goal ≤ {CPU_GOAL}): **{verdict}**\n"
        )
        if args.peers:
            print(peer_table(results, args.ops) + "\n")
    if not args.skip_large:
        results_large = large(args.gib)
        missed += sum(
            1
            for r in results_large
            if (r["peak_kib"] - r["baseline_kib"]) / 1024 > RSS_GOAL_MIB or not r["intact"]
        )
        print(f"### {args.gib} GiB streamed up and down\n")
        print(large_table(results_large))
        print()
    print("all goals met" if not missed else f"{missed} goal(s) missed")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
