"""Row 2: KvNamespace get/put of 1 KiB on the memory backend against bare ``opendal.AsyncOperator``.

Uses ``bench_kv.compare``: the two sides alternate call by call, the ratio of one repeat is the
capability's median call time over bare OpenDAL's; lines 2a (get) and 2b (put), goal ratio ≤ 1.25,
with default layers and structlog filtering INFO out (how a service runs). Beside each ratio, the
absolute µs the capability adds (the median over call pairs of capability - bare).

Lines 2c/2d: what the capability's own code adds per call (goal ≤ 10 µs, issue 18), measured against
the same call on an in-process store that both sides use (``bench_kv.own_cost``): OpenDAL's round
trip to its Tokio thread (30-120 µs here, bimodal) is then out of both sides, so what is left is
validation, the record header and the layers.
"""

from __future__ import annotations

import asyncio

import structlog

from benchmarks import bench_kv as bk
from cap_opendal_core.layers import LayerSettings

from .table import Line, RowReport, spread, verdict

TITLE = "KV get/put 1 KiB, memory backend, vs bare OpenDAL"
GOAL_ADDED_US = 10.0


def run(quick: bool) -> RowReport:
    calls, repeats = (500, 5) if quick else (2_000, 9)

    async def measure() -> list[bk.Row]:
        bk.filtering_at_warning()
        rows = await bk.compare(
            "(a) default layers, INFO filtered out", bk.GOAL_RATIO, LayerSettings(), calls, repeats
        )
        rows += await bk.own_cost(LayerSettings(), calls, repeats)
        if not quick:
            rows += await bk.compare("(b) every layer off", None, LayerSettings.off(), calls, repeats)
        return rows

    rows = asyncio.run(measure())
    structlog.reset_defaults()
    lines = []
    for line_id, row in zip(("2a", "2b"), rows[:2], strict=True):
        lines.append(
            Line(
                line_id,
                f"KvNamespace.{row.op} 1 KiB, memory backend, default layers",
                f"{row.cap_us:.1f} µs/call, ratio {row.median:.3f} ({row.added_us:+.1f} µs added)",
                f"bare opendal.AsyncOperator('memory').{'read' if row.op == 'get' else 'write'} "
                f"{row.bare_us:.1f} µs",
                spread(row.ratios, "{:.3f}"),
                f"ratio ≤ {bk.GOAL_RATIO:g}",
                verdict(row.median, bk.GOAL_RATIO),
            )
        )
    for line_id, row in zip(("2c", "2d"), rows[2:4], strict=True):
        lines.append(
            Line(
                line_id,
                f"KvNamespace.{row.op} 1 KiB, default layers: the capability's own code, per call",
                f"{row.added_us:+.1f} µs/call",
                f"the same call on the in-process store both sides use {row.bare_us:.1f} µs "
                f"(over real OpenDAL memory: {rows[0 if row.op == 'get' else 1].added_us:+.1f} µs, line "
                f"{'2a' if row.op == 'get' else '2b'})",
                spread(row.added, "{:+.1f}"),
                f"≤ {GOAL_ADDED_US:g} µs added",
                verdict(row.added_us, GOAL_ADDED_US),
            )
        )
    detail = (
        "Per-call latencies, the two sides alternating call by call; the ratio of a repeat is the "
        "capability's median over bare OpenDAL's (both cross to OpenDAL's Tokio runtime and back), "
        "and 'added' is the median over call pairs of capability - bare. The 'own code' lines swap "
        "the capability's operator for an in-process dict store that suspends once per call, and "
        "time the bare store beside it: what remains is the SDK's own work per call. Over real "
        "OpenDAL the added figure is larger than the own-code one: the capability's Python runs "
        "between OpenDAL's hand-offs to and from its Tokio thread, and on this 2-core machine that "
        "thread competes for the GIL and the cores.\n\n" + bk.overhead_table(rows)
    )
    return RowReport(
        2, TITLE, lines, detail, settings={"calls per side per repeat": calls, "repeats": repeats}
    )
