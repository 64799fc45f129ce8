"""Row 6: ``KvNamespace.put_many`` of 25,000 keys on the REST backend against a loop of single puts.

The REST stand-in (Cloudflare's documented KV endpoints, ``tests/support/cf_kv_api.py``) runs in its
own process on 127.0.0.1 (``kv_rest_server``). Each repeat writes the same 25,000 keys both ways, the
order alternating, the namespace emptied in between; the server counts the requests each way
received. ``put_many`` sends bulk requests of at most 10,000 pairs, so 25,000 keys take 3.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

from .machine import REPO
from .table import Line, RowReport, markdown_table, spread

if TYPE_CHECKING:
    from collections.abc import Iterator

TITLE = "KV put_many on the REST backend vs a loop of single puts"
BULK_MAX = 10_000


@contextmanager
def rest_server() -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.suite.kv_rest_server"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the KV REST stand-in did not start")
        yield json.loads(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _call(server: dict[str, str], method: str, path: str) -> Any:
    request = urllib.request.Request(
        server["base_url"] + path, method=method, headers={"Authorization": f"Bearer {server['token']}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["result"]


async def _write(server: dict[str, str], items: dict[str, str], bulk: bool) -> tuple[float, float]:
    from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace

    config = CloudflareKvConfig(
        account_id=server["account_id"],
        namespace_id=server["namespace_id"],
        api_token=server["token"],
        base_url=server["base_url"],
        timeout=120.0,
    )
    async with KvNamespace.from_config(config) as kv:
        await kv.put("warm-up", "x")  # open the connection, load the code: not measured
        wall, cpu = time.perf_counter(), time.process_time()
        if bulk:
            await kv.put_many(items)
        else:
            for key, value in items.items():
                await kv.put(key, value)
        return time.perf_counter() - wall, time.process_time() - cpu


def _requests(n: float) -> str:
    return f"{int(n):,} request{'' if n == 1 else 's'}"


def run(quick: bool) -> RowReport:
    keys, repeats = (2_500, 2) if quick else (25_000, 3)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), cache_logger_on_first_use=True
    )
    items = {f"bench/user:{i:06d}": f"value {i} " + "x" * 64 for i in range(keys)}
    sides: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": [], "requests": []} for name in ("put_many", "loop")
    }
    with rest_server() as server:
        for repeat in range(repeats):
            order = ("put_many", "loop") if repeat % 2 == 0 else ("loop", "put_many")
            for name in order:
                _call(server, "POST", "/bench/reset")
                wall, cpu = asyncio.run(_write(server, items, bulk=name == "put_many"))
                sent = _call(server, "GET", "/bench/requests")["PUT"] - 1  # less the warm-up put
                sides[name]["wall"].append(wall)
                sides[name]["cpu"].append(cpu)
                sides[name]["requests"].append(sent)
                print(f"  repeat {repeat + 1}: {name} {wall:.2f}s, {sent} requests", file=sys.stderr)
    bulk, loop = sides["put_many"], sides["loop"]
    expected = math.ceil(keys / BULK_MAX)
    requests_ok = all(n == expected for n in bulk["requests"]) and all(n == keys for n in loop["requests"])
    bulk_wall, loop_wall = statistics.median(bulk["wall"]), statistics.median(loop["wall"])
    lines = [
        Line(
            "6a",
            f"KV put_many of {keys:,} keys, REST backend, local stand-in: requests sent",
            _requests(statistics.median(bulk["requests"])),
            "a loop of single puts: " + _requests(statistics.median(loop["requests"])),
            "same every repeat" if len(set(bulk["requests"])) == 1 else spread(bulk["requests"], "{:.0f}"),
            f"{expected:,} vs {keys:,}",
            "PASS" if requests_ok else "MISS",
        ),
        Line(
            "6b",
            f"KV put_many of {keys:,} keys, REST backend: time",
            f"{bulk_wall:.2f} s ({keys / bulk_wall:,.0f} keys/s)",
            f"the loop {loop_wall:.1f} s ({keys / loop_wall:,.0f} keys/s); "
            f"put_many is {loop_wall / bulk_wall:,.0f}x faster",
            "put_many " + spread(bulk["wall"], unit=" s") + "; loop " + spread(loop["wall"], "{:.1f}", " s"),
            "report (no numeric goal)",
            "—",
        ),
    ]
    detail = (
        "Client: KvNamespace.from_config (httpx, one keep-alive connection), default layers, INFO "
        "filtered out. Server: the REST stand-in in its own process (Python's threading HTTP server, "
        "so its own speed bounds the loop). Client CPU is the benchmark process's CPU time.\n\n"
        + markdown_table(
            ("way", "requests", "wall s (median)", "spread", "client CPU s (median)", "keys/s"),
            [
                (
                    name,
                    f"{int(statistics.median(side['requests'])):,}",
                    f"{statistics.median(side['wall']):.2f}",
                    spread(side["wall"]),
                    f"{statistics.median(side['cpu']):.2f}",
                    f"{keys / statistics.median(side['wall']):,.0f}",
                )
                for name, side in sides.items()
            ],
            align=("---", "---:", "---:", "---", "---:", "---:"),
        )
    )
    return RowReport(6, TITLE, lines, detail, settings={"keys": keys, "repeats": repeats})
