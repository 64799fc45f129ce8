"""Row 1: what the layer pipeline adds to a call, over awaiting the same backend coroutine bare.

Uses ``bench_pipeline``'s cases and timing (the bare loop and the pipeline loop alternate, repeat by
repeat); lines 1a (every layer off, goal ≤ 2 µs) and 1b (default layers, INFO filtered out, ≤ 5 µs).
"""

from __future__ import annotations

import asyncio

import structlog

from benchmarks import bench_pipeline as bp

from .table import Line, RowReport, spread, verdict

TITLE = "Layer pipeline overhead per call"


def run(quick: bool) -> RowReport:
    calls, repeats = (4_000, 5) if quick else (20_000, 11)
    cases = bp.CASES[:2] if quick else bp.CASES

    async def measure() -> list[bp.Result]:
        return [await bp.run_case(case, calls, repeats) for case in cases]

    results = asyncio.run(measure())
    structlog.reset_defaults()
    lines = []
    for line_id, result, what in (
        ("1a", results[0], "capability call, every layer off"),
        ("1b", results[1], "capability call, default layers (INFO filtered out)"),
    ):
        goal = result.case.goal_us
        assert goal is not None
        lines.append(
            Line(
                line_id,
                what,
                f"+{result.median:.2f} µs/call",
                f"bare backend call {result.bare_us:.2f} µs",
                spread(result.overhead_us, unit=" µs"),
                f"≤ {goal:g} µs added",
                verdict(result.median, goal),
            )
        )
    detail = (
        "Overhead = (pipeline loop - bare loop) / calls, per repeat; a trivial backend coroutine, so "
        "only the pipeline is measured. Rows without a goal are context.\n\n" + bp.table(results)
    )
    return RowReport(1, TITLE, lines, detail, settings={"calls per loop": calls, "repeats": repeats})
