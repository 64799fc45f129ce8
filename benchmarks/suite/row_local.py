"""Rows 7 and 8: the local queue's and the local Durable Objects runtime's throughput.

Both call their capability benchmark (``bench_queue.measure``, ``bench_do.measure``): the capability
and a raw-SQLite baseline doing the same storage work alternate which goes first, repeat by repeat.
The goals are Cloudflare's ceilings (5,000 messages/s per queue; 1,000 requests/s per object), so the
raw baseline is shown next to them to say how much of the floor the capability's own code takes.
"""

from __future__ import annotations

import logging
import statistics

import structlog

from benchmarks import bench_do, bench_queue
from cap_cloudflare_do.limits import SOFT_REQUESTS_PER_SECOND

from .table import Line, RowReport, markdown_table, spread, verdict

TITLE_7 = "Local queue: send in batches of 100 + consume with acks"
TITLE_8 = "Local Durable Objects runtime, requests/s"


def _quiet() -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), cache_logger_on_first_use=True
    )


def run_queue(quick: bool) -> RowReport:
    messages, repeats = (5_000, 3) if quick else (50_000, 3)
    _quiet()
    results = bench_queue.measure(messages, repeats)
    ours, floor, sequential = results["capability"], results["baseline"], results["sequential"]
    added_us = (1 / statistics.median(ours) - 1 / statistics.median(floor)) * 1e6
    line = Line(
        "7",
        f"local queue, {messages:,} messages: send_batch (100) + consume with acks",
        f"{statistics.median(ours):,.0f} msg/s ({added_us:+.0f} µs per message over raw sqlite3)",
        f"Cloudflare's per-queue ceiling {bench_queue.GOAL:,.0f}/s; raw sqlite3 doing the same interleaved "
        f"work {statistics.median(floor):,.0f}/s",
        spread(ours, "{:,.0f}", "/s"),
        f"≥ {bench_queue.GOAL:,.0f} msg/s",
        verdict(statistics.median(ours), bench_queue.GOAL, at_most=False),
    )
    detail = (
        "The clock runs from the first send to the last ack; consumer concurrency 2, batches of 100, "
        "default layers with INFO filtered out. The baseline does the same inserts, leases, body "
        "decodes and deletes with sqlite3 directly, interleaved as the capability does them: a producer "
        "thread and two consumer threads, each with its own connection to one WAL database (same schema "
        "and pragmas). The sequential case (everything sent, then consumed, one thread) is the earlier "
        "baseline: not the same work, shown for context.\n\n"
        + markdown_table(
            ("case", "msg/s (median)", "spread", "share of the baseline", "µs per message"),
            [
                (
                    "capability (Queue.local + QueueConsumer.local)",
                    f"{statistics.median(ours):,.0f}",
                    spread(ours, "{:,.0f}"),
                    f"{statistics.median(ours) / statistics.median(floor):.0%}",
                    f"{1e6 / statistics.median(ours):.1f} ({added_us:+.1f})",
                ),
                (
                    "raw sqlite3, same interleaved work",
                    f"{statistics.median(floor):,.0f}",
                    spread(floor, "{:,.0f}"),
                    "—",
                    f"{1e6 / statistics.median(floor):.1f}",
                ),
                (
                    "raw sqlite3, send all then consume (context)",
                    f"{statistics.median(sequential):,.0f}",
                    spread(sequential, "{:,.0f}"),
                    "—",
                    f"{1e6 / statistics.median(sequential):.1f}",
                ),
            ],
            align=("---", "---:", "---", "---:", "---:"),
        )
    )
    return RowReport(7, TITLE_7, [line], detail, settings={"messages": messages, "repeats": repeats})


def run_durable_objects(quick: bool) -> RowReport:
    requests, repeats = (600, 3) if quick else (3_000, 5)
    _quiet()
    lines = []
    detail_rows = []
    for line_id, case in zip(("8a", "8b", "8c"), bench_do.CASES, strict=True):
        runtime, baseline = bench_do.measure(case, requests, repeats)
        med = statistics.median(runtime)
        goal = case.goal
        lines.append(
            Line(
                line_id,
                f"local DO runtime, {case.label} (RPC increment: 1 read + 1 write)",
                f"{med:,.0f} req/s",
                f"Cloudflare's soft ceiling {SOFT_REQUESTS_PER_SECOND:,.0f}/s per object; raw SQLite, "
                f"same work, {statistics.median(baseline):,.0f}/s",
                spread(runtime, "{:,.0f}", "/s"),
                "—" if goal is None else f"≥ {goal:,.0f} req/s",
                "—" if goal is None else verdict(med, goal, at_most=False),
            )
        )
        detail_rows.append(
            (
                case.label,
                f"{med:,.0f}",
                spread(runtime, "{:,.0f}"),
                f"{statistics.median(baseline):,.0f}",
                f"{med / statistics.median(baseline):.2f}",
            )
        )
    detail = (
        "Each request is an RPC `increment` through the full public path (argument checks, the "
        "pipeline, the per-object lock, the object's storage: one SQLite commit, WAL, on disk). The "
        "baseline does the same read + upsert with sqlite3 directly; the two alternate.\n\n"
        + markdown_table(
            ("case", "runtime req/s (median)", "spread", "raw SQLite req/s", "runtime/baseline"),
            detail_rows,
            align=("---", "---:", "---", "---:", "---:"),
        )
    )
    return RowReport(8, TITLE_8, lines, detail, settings={"requests per case": requests, "repeats": repeats})
