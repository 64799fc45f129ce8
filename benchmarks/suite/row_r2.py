"""Rows 3 and 4: R2Bucket throughput against aiobotocore (and boto3 in threads), and 1 GiB streams.

Both call ``bench_r2``'s own functions (that script stays the one place these measurements are
defined): row 3 — many PUTs and GETs of 64 KiB at concurrency 32 against one moto S3 server, the
clients alternating repeat by repeat, client CPU and wall time per phase; row 4 — a large object
streamed up and down through the local and moto backends, each in a fresh process reporting its RSS
before the transfer and its peak.
"""

from __future__ import annotations

import statistics

from benchmarks import bench_r2 as br

from .table import Line, RowReport, spread, verdict

TITLE_3 = "R2 PUT + GET of 64 KiB at concurrency 32, one moto server"
TITLE_4 = "R2 large object up and down, local and moto backends"
WALL_GOAL = 1.0
"""'wall no worse': R2Bucket's PUT + GET wall time over aiobotocore's, medians."""


def run_throughput(quick: bool) -> RowReport:
    ops, size, concurrency, repeats = (300, 64 * 1024, 32, 2) if quick else (2_000, 64 * 1024, 32, 3)
    br.quiet_structlog()
    results = br.throughput(ops, size, concurrency, repeats)
    ours, theirs = results[0], results[1]
    context = results[2] if len(results) > 2 else None

    def wall(r: br.ClientResult) -> list[float]:
        return [p + g for p, g in zip(r.put.wall, r.get.wall, strict=True)]

    cpu_ratios = [a / b for a, b in zip(ours.total_cpu(), theirs.total_cpu(), strict=True)]
    wall_ratios = [a / b for a, b in zip(wall(ours), wall(theirs), strict=True)]
    cpu_ratio = statistics.median(ours.total_cpu()) / statistics.median(theirs.total_cpu())
    wall_ratio = statistics.median(wall(ours)) / statistics.median(wall(theirs))

    def also(values: list[float] | None, unit: str) -> str:
        return "" if values is None else f"; boto3 in threads {statistics.median(values):.2f} {unit}"

    lines = [
        Line(
            "3a",
            f"R2Bucket {ops:,} PUT + {ops:,} GET, client CPU",
            f"{statistics.median(ours.total_cpu()):.2f} s, ratio {cpu_ratio:.2f}",
            f"aiobotocore {statistics.median(theirs.total_cpu()):.2f} s"
            + also(context.total_cpu() if context else None, "s"),
            spread(cpu_ratios),
            f"CPU ≤ {br.CPU_GOAL:g}x aiobotocore",
            verdict(cpu_ratio, br.CPU_GOAL),
        ),
        Line(
            "3b",
            f"R2Bucket {ops:,} PUT + {ops:,} GET, wall time",
            f"{statistics.median(wall(ours)):.2f} s, ratio {wall_ratio:.2f}",
            f"aiobotocore {statistics.median(wall(theirs)):.2f} s"
            + also(wall(context) if context else None, "s"),
            spread(wall_ratios),
            "wall no worse (ratio ≤ 1)",
            verdict(wall_ratio, WALL_GOAL),
        ),
    ]
    detail = (
        f"{ops:,} PUT then {ops:,} GET of {size // 1024} KiB, concurrency {concurrency}, {repeats} "
        "repeats; R2Bucket and aiobotocore alternate which goes first, boto3 (a thread pool of the "
        "same size) runs after them as context. Client CPU is the benchmark process's CPU time "
        "(the moto server runs in its own process). Ratios in the spread column are per repeat.\n\n"
        + br.throughput_table(results, ops)
    )
    return RowReport(
        3,
        TITLE_3,
        lines,
        detail,
        settings={"ops": ops, "size": f"{size // 1024} KiB", "concurrency": concurrency, "repeats": repeats},
    )


def run_large(quick: bool) -> RowReport:
    gib = 0.125 if quick else 1.0
    br.quiet_structlog()
    results = br.large(gib)
    lines = []
    for line_id, r in zip(("4a", "4b"), results, strict=True):
        grown = (r["peak_kib"] - r["baseline_kib"]) / 1024
        result = verdict(grown, br.RSS_GOAL_MIB) if r["intact"] else "MISS"
        mib = r["bytes"] / br.MiB
        lines.append(
            Line(
                line_id,
                f"{gib:g} GiB streamed up + down, {r['target']} backend",
                f"peak RSS +{grown:.0f} MiB",
                f"RSS before the transfer {r['baseline_kib'] / 1024:.0f} MiB; "
                f"{mib / r['up_s']:.0f} MiB/s up, {mib / r['down_s']:.0f} MiB/s down",
                "one run (a process of its own)",
                f"< {br.RSS_GOAL_MIB} MiB above baseline",
                result,
                note="" if r["intact"] else "body did NOT round-trip intact",
            )
        )
    detail = (
        "Each backend runs in a fresh process: RSS is read just before the transfer (after a warm-up "
        "put/get) and the peak is VmHWM at the end, which also covers anything earlier, so the "
        "growth can only be overstated. The MD5 of what was sent is checked against what came back.\n\n"
        + br.large_table(results)
    )
    return RowReport(4, TITLE_4, lines, detail, settings={"object": f"{gib:g} GiB"})
