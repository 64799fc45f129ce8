"""Row 2: KvNamespace get/put of 1 KiB on the memory backend against bare ``opendal.AsyncOperator``.

Uses ``bench_kv.compare``: the two sides alternate call by call, the ratio of one repeat is the
capability's median call time over bare OpenDAL's; lines 2a (get) and 2b (put), goal ratio ≤ 1.25,
with default layers and structlog filtering INFO out (how a service runs).
"""

from __future__ import annotations

import asyncio

import structlog

from benchmarks import bench_kv as bk
from cap_opendal_core.layers import LayerSettings

from .table import Line, RowReport, spread, verdict

TITLE = "KV get/put 1 KiB, memory backend, vs bare OpenDAL"


def run(quick: bool) -> RowReport:
    calls, repeats = (500, 5) if quick else (2_000, 9)

    async def measure() -> list[bk.Row]:
        bk.filtering_at_warning()
        rows = await bk.compare(
            "(a) default layers, INFO filtered out", bk.GOAL_RATIO, LayerSettings(), calls, repeats
        )
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
                f"{row.cap_us:.1f} µs/call, ratio {row.median:.3f}",
                f"bare opendal.AsyncOperator('memory').{'read' if row.op == 'get' else 'write'} "
                f"{row.bare_us:.1f} µs",
                spread(row.ratios, "{:.3f}"),
                f"ratio ≤ {bk.GOAL_RATIO:g}",
                verdict(row.median, bk.GOAL_RATIO),
            )
        )
    detail = (
        "Per-call latencies, the two sides alternating call by call; the ratio of a repeat is the "
        "capability's median over bare OpenDAL's (both cross to OpenDAL's Tokio runtime and back).\n\n"
        + bk.overhead_table(rows)
    )
    return RowReport(
        2, TITLE, lines, detail, settings={"calls per side per repeat": calls, "repeats": repeats}
    )
