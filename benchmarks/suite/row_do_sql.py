"""Row 15: the local runtime's SQL API and the Dedupe ledger, against raw sqlite3 doing the same work.

Calls ``bench_do_sql.measure``: inside one object, ``storage.sql.exec`` of a primary-key ``SELECT``
(15a) and of an ``INSERT`` (15b), and ``Dedupe.put_if_absent`` through the whole public path (15c),
each against raw ``sqlite3`` doing the same statement on an identical database in the same run.
Goal (issue 20): each at least half the raw rate.
"""

from __future__ import annotations

import logging
import statistics

import structlog

from benchmarks import bench_do_sql

from .table import Line, RowReport, markdown_table, spread, verdict

TITLE = "Local Durable Objects SQL: exec and Dedupe claims vs raw sqlite3"

_WHAT = {
    "exec SELECT": ("15a", "storage.sql.exec of a single-row indexed SELECT, inside one object"),
    "exec INSERT": ("15b", "storage.sql.exec of a single-row INSERT (its own commit), inside one object"),
    "Dedupe claims": ("15c", "Dedupe.put_if_absent(key, ttl=3600), whole public path (RPC to the ledger)"),
}
_RAW = {
    "exec SELECT": "raw sqlite3 SELECT … WHERE k = ?",
    "exec INSERT": "raw sqlite3 INSERT, autocommit",
    "Dedupe claims": "raw sqlite3 INSERT OR IGNORE, autocommit",
}


def run(quick: bool) -> RowReport:
    ops, repeats = (1_000, 3) if quick else (5_000, 5)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), cache_logger_on_first_use=True
    )
    lines = []
    rows = []
    for case in bench_do_sql.CASES:
        ours, floor = bench_do_sql.measure(case, ops, repeats)
        shares = [a / b for a, b in zip(ours, floor, strict=True)]
        share = statistics.median(shares)
        line_id, what = _WHAT[case]
        lines.append(
            Line(
                line_id,
                what,
                f"{share:.0%} of raw ({statistics.median(ours):,.0f}/s)",
                f"{_RAW[case]}: {statistics.median(floor):,.0f}/s",
                spread([s * 100 for s in shares], "{:.0f}", "%"),
                f"≥ {bench_do_sql.GOAL_SHARE:.0%} of raw",
                verdict(share, bench_do_sql.GOAL_SHARE, at_most=False),
            )
        )
        rows.append(
            (
                case,
                f"{statistics.median(ours):,.0f}",
                spread(ours, "{:,.0f}"),
                f"{statistics.median(floor):,.0f}",
                f"{share:.0%}",
            )
        )
    detail = (
        "Each repeat uses a fresh temporary directory; both sides use WAL with synchronous=NORMAL and "
        "take turns in the same process, 50 operations at a time, alternating which goes first. The "
        "share is taken per repeat (ours / raw) and its median reported.\n\n"
        + markdown_table(
            ("case", "ours/s (median)", "spread", "raw sqlite3/s (median)", "share"),
            rows,
            align=("---", "---:", "---", "---:", "---:"),
        )
    )
    return RowReport(15, TITLE, lines, detail, settings={"operations": ops, "repeats": repeats})
