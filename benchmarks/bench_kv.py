"""KvNamespace: what the capability costs over bare OpenDAL, and how local listing scales.

Run: ``.venv/bin/python benchmarks/bench_kv.py [--calls N] [--repeats R] [--strict]``

1. ``get`` and ``put`` of 1 KiB on the memory backend through the full capability (validation, the
   record header, default layers) against bare ``opendal.AsyncOperator("memory")`` ``read``/``write``
   of the same 1 KiB, in the same run: ``N`` calls of each side per repeat, alternating call by call
   (see :func:`interleaved`), ``R`` repeats; the ratio of one repeat is the capability's median call
   time over bare OpenDAL's; the table shows the median ratio and its spread over the repeats.
   Goal (issue 3): ratio ≤ 1.25. Logging setups:

   * **(a)** default layers, structlog configured to filter INFO out (how a service runs: the
     per-call event is built only when it will be written) — the goal row;
   * (b) every layer off (``LayerSettings.off()``), for context;
   * (c) default layers with structlog *unconfigured*: its default prints every call's event to
     stdout (sent to /dev/null here), for context — what logging each call costs.

2. Listing on the local disk backend (``KvNamespace.local``): all keys of a namespace of 1,000 …
   10,000 keys, page by page (pages of 1,000), from a fresh listing to ``list_complete``; median
   of the repeats, and growth relative to 1,000 keys (10x the keys at linear cost is 10x). For
   context, the same files listed through OpenDAL's own ``fs`` lister and reads (what the backend
   does on any other OpenDAL service), alternating with the shipped path.

This is a measurement, not a test: ``--strict`` makes a MISS exit non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import opendal
import structlog

from cap_cloudflare_kv import KvNamespace
from cap_opendal_core.layers import LayerSettings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

VALUE = os.urandom(1024)
KEY = "bench/user:1"
GOAL_RATIO = 1.25


@dataclass(frozen=True)
class Row:
    label: str
    op: str
    bare_us: float
    cap_us: float
    ratios: list[float]
    goal: float | None
    added: list[float]
    """Per repeat, the median over call pairs of (capability - bare) in µs: what the capability adds."""

    @property
    def added_us(self) -> float:
        return statistics.median(self.added)

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "—"
        return "PASS" if self.median <= self.goal else "MISS"


def paired_added_us(bare_ns: list[int], cap_ns: list[int]) -> float:
    """Median over the call pairs of (capability - bare), in µs: each pair ran back to back under the
    same conditions, so this is the absolute cost the capability adds, less swayed by the bimodal
    Tokio round trip than a difference of two medians."""
    return statistics.median(c - b for b, c in zip(bare_ns, cap_ns, strict=True)) / 1000


async def interleaved(
    n: int, bare_call: Callable[[], Awaitable[object]], cap_call: Callable[[], Awaitable[object]]
) -> tuple[list[int], list[int]]:
    """Per-call latencies (ns) of ``n`` calls each, the two sides alternating call by call.

    Why call by call: every OpenDAL call here crosses to a Tokio thread and back, and on a small
    VM that round trip swings between modes (≈60 µs and ≈120 µs) for seconds at a time; alternating
    single calls exposes both sides to the same conditions, so their medians compare fairly.
    """
    clock = time.perf_counter_ns
    bare_ns: list[int] = []
    cap_ns: list[int] = []
    for i in range(n):
        if i % 2 == 0:
            t0 = clock()
            await bare_call()
            t1 = clock()
            await cap_call()
            t2 = clock()
            bare_ns.append(t1 - t0)
            cap_ns.append(t2 - t1)
        else:
            t0 = clock()
            await cap_call()
            t1 = clock()
            await bare_call()
            t2 = clock()
            cap_ns.append(t1 - t0)
            bare_ns.append(t2 - t1)
    return bare_ns, cap_ns


async def compare(
    label: str, goal: float | None, settings: LayerSettings, calls: int, repeats: int
) -> list[Row]:
    bare = opendal.AsyncOperator("memory")
    kv = KvNamespace.from_url("memory://", settings=settings)
    await bare.write("bench/user:1", VALUE)
    await kv.put(KEY, VALUE)

    cases: Cases = {
        "get": (lambda: bare.read("bench/user:1"), lambda: kv.get(KEY, "bytes")),
        "put": (lambda: bare.write("bench/user:1", VALUE), lambda: kv.put(KEY, VALUE)),
    }
    rows = await measure_cases(label, goal, cases, calls, repeats)
    assert await kv.get(KEY, "bytes") == VALUE
    await kv.aclose()
    return rows


Cases = dict[str, tuple["Callable[[], Awaitable[object]]", "Callable[[], Awaitable[object]]"]]
"""Operation name → (bare call, capability call)."""


async def measure_cases(label: str, goal: float | None, cases: Cases, calls: int, repeats: int) -> list[Row]:
    """One :class:`Row` per case: a warm-up, then ``repeats`` rounds of ``calls`` interleaved pairs;
    per round the two medians and the paired added µs."""
    rows = []
    for op, (bare_call, cap_call) in cases.items():
        await interleaved(min(calls, 500), bare_call, cap_call)  # warm up: logger resolution, caches
        bare_med: list[float] = []
        cap_med: list[float] = []
        added: list[float] = []
        for _ in range(repeats):
            bare_ns, cap_ns = await interleaved(calls, bare_call, cap_call)
            bare_med.append(statistics.median(bare_ns) / 1000)
            cap_med.append(statistics.median(cap_ns) / 1000)
            added.append(paired_added_us(bare_ns, cap_ns))
        rows.append(
            Row(
                label,
                op,
                bare_us=statistics.median(bare_med),
                cap_us=statistics.median(cap_med),
                ratios=[c / b for b, c in zip(bare_med, cap_med, strict=True)],
                goal=goal,
                added=added,
            )
        )
    return rows


class InProcessStore:
    """The part of ``opendal.AsyncOperator`` the KV backend's get/put use, over a dict, suspending
    once per call as a real operator does. Both sides of :func:`own_cost` call it, so the difference
    is the capability's own code alone — validation, the record header, the layers — without the
    ~30-120 µs (and its noise) of OpenDAL's round trip to its Tokio thread."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    async def read(self, path: str) -> bytes:
        await asyncio.sleep(0)
        return self._data[path]

    async def write(self, path: str, data: bytes, **_options: object) -> None:
        await asyncio.sleep(0)
        self._data[path] = bytes(data)


async def own_cost(settings: LayerSettings, calls: int, repeats: int) -> list[Row]:
    """``get``/``put`` of 1 KiB through the capability against the same call on the bare
    :class:`InProcessStore` the capability's backend is given (a benchmark-only swap, as in
    :func:`listing`): per repeat, the paired median of the added µs."""
    kv = KvNamespace.from_url("memory://", settings=settings)
    backend: Any = kv._backend
    store = InProcessStore()
    backend._op = store  # the benchmark swaps the operator; users never do
    bare = InProcessStore()
    await kv.put(KEY, VALUE)
    await bare.write(KEY, VALUE)
    cases: Cases = {
        "get": (lambda: bare.read(KEY), lambda: kv.get(KEY, "bytes")),
        "put": (lambda: bare.write(KEY, VALUE), lambda: kv.put(KEY, VALUE)),
    }
    rows = await measure_cases(
        "own code: the operator replaced by an in-process store", None, cases, calls, repeats
    )
    assert await kv.get(KEY, "bytes") == VALUE
    assert store._data
    assert not isinstance(backend._op, opendal.AsyncOperator)
    await kv.aclose()
    return rows


def filtering_at_warning() -> None:
    structlog.reset_defaults()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )


def unconfigured_to_devnull() -> None:
    structlog.reset_defaults()  # structlog's defaults: every event rendered and printed …
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the benchmark
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(devnull))  # … to /dev/null here


async def overhead(calls: int, repeats: int) -> list[Row]:
    rows: list[Row] = []
    filtering_at_warning()
    rows += await compare(
        "(a) default layers, INFO filtered out", GOAL_RATIO, LayerSettings(), calls, repeats
    )
    rows += await compare("(b) every layer off", None, LayerSettings.off(), calls, repeats)
    unconfigured_to_devnull()
    rows += await compare(
        "(c) default layers, structlog unconfigured (prints each call)", None, LayerSettings(), calls, repeats
    )
    structlog.reset_defaults()
    return rows


@dataclass(frozen=True)
class ListRow:
    keys: int
    pages: int
    seconds: list[float]
    via_operator: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def operator_median(self) -> float:
        return statistics.median(self.via_operator)


async def list_all(kv: KvNamespace, expected: int) -> tuple[float, int]:
    """Seconds to list every key from a fresh listing to ``list_complete``, and the pages it took."""
    start = time.perf_counter()
    cursor, pages, seen = None, 0, 0
    while True:
        page = await kv.list(limit=1000, cursor=cursor)
        pages += 1
        seen += len(page.keys)
        if page.list_complete:
            break
        cursor = page.cursor
    elapsed = time.perf_counter() - start
    assert seen == expected, (seen, expected)
    return elapsed, pages


async def listing(sizes: list[int], repeats: int) -> list[ListRow]:
    """The local backend as shipped (names and headers read straight from its directory), and the
    same files listed through OpenDAL's own ``fs`` lister, alternating."""
    from cap_cloudflare_kv.backends.listing import OperatorListing

    filtering_at_warning()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-kv-") as tmp:
        kv = KvNamespace.local(os.path.join(tmp, "kv"))
        generic = KvNamespace.local(os.path.join(tmp, "kv"))
        backend: Any = generic._backend  # the benchmark swaps in the generic lister; users never do
        backend._listing = OperatorListing(backend._op)
        have = 0
        for size in sorted(sizes):
            await kv.put_many({f"user:{i:06d}": f"value {i}" for i in range(have, size)})
            have = size
            direct: list[float] = []
            via_operator: list[float] = []
            pages = 0
            for i in range(repeats):
                order = (kv, generic) if i % 2 == 0 else (generic, kv)
                for which in order:
                    seconds, pages = await list_all(which, size)
                    (direct if which is kv else via_operator).append(seconds)
            rows.append(ListRow(size, pages, direct, via_operator))
        await kv.aclose()
        await generic.aclose()
    structlog.reset_defaults()
    return rows


def overhead_table(rows: list[Row]) -> str:
    lines = [
        "| case | op | bare µs/call (p50) | capability µs/call (p50) | ratio (median) "
        "| spread (min..max) | added µs/call (paired median) | added spread "
        "| goal | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for r in rows:
        goal = "—" if r.goal is None else f"≤ {r.goal:g}"
        lines.append(
            f"| {r.label} | {r.op} | {r.bare_us:.1f} | {r.cap_us:.1f} | {r.median:.3f} | "
            f"{min(r.ratios):.3f}..{max(r.ratios):.3f} | {r.added_us:+.1f} | "
            f"{min(r.added):+.1f}..{max(r.added):+.1f} | {goal} | {r.verdict} |"
        )
    return "\n".join(lines)


def listing_table(rows: list[ListRow]) -> str:
    base = rows[0]
    lines = [
        f"| keys | pages | local backend ms (median) | spread ms | µs per key | time vs {base.keys:,} keys "
        "| via OpenDAL's fs lister ms (median) | its time vs 1,000 keys |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.keys:,} | {r.pages} | {r.median * 1000:.1f} | {min(r.seconds) * 1000:.1f}.."
            f"{max(r.seconds) * 1000:.1f} | {r.median / r.keys * 1e6:.1f} | "
            f"{r.median / base.median:.2f}x | {r.operator_median * 1000:.1f} | "
            f"{r.operator_median / base.operator_median:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--calls", type=int, default=2000, help="calls of each side per repeat (default 2000)"
    )
    parser.add_argument("--repeats", type=int, default=9, help="alternating repeats (default 9)")
    parser.add_argument("--list-repeats", type=int, default=3, help="listing repeats (default 3)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args(argv)
    if min(args.calls, args.repeats, args.list_repeats) < 1:
        parser.error("--calls, --repeats and --list-repeats must be at least 1")

    rows = asyncio.run(overhead(args.calls, args.repeats))
    listed = asyncio.run(listing([1000, 2500, 5000, 10_000], args.list_repeats))
    print(
        f"KvNamespace vs bare OpenDAL — Python {platform.python_version()} ({platform.machine()}), "
        f"opendal {getattr(opendal, '__version__', '?')}, {os.cpu_count()} CPUs; "
        f"1 KiB values, {args.calls} calls x {args.repeats} alternating repeats\n"
    )
    print(overhead_table(rows))
    print(f"\nListing every key of a local disk namespace in pages of 1,000 ({args.list_repeats} repeats)\n")
    print(listing_table(listed))
    missed = [r for r in rows if r.verdict == "MISS"]
    print()
    print("all goals met" if not missed else f"{len(missed)} goal(s) missed")
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
