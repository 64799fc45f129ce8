"""Row 9: the Workers path — a capability call against the raw binding call, from the same Pyodide.

Runs ``tests/workers/bench/check_bench_workers.py`` in the Workers harness (Miniflare + Pyodide in one
Node process): per operation, the capability (default layers) and the raw binding call that does the
same thing alternate call by call; each repeat gives each side's median, the ratio is capability over
raw. Goal: ratio ≤ 1.2. Lines marked "context" give the raw side the same work the capability does
with the result (reading the returned object's fields, streaming the body): under Miniflare every JS
property read of a result is a round trip to workerd, which a deployed Worker does not pay, so these
lines separate that cost from the capability's own.
"""

from __future__ import annotations

import statistics
import string

from . import harness
from .table import Line, RowReport, markdown_table, spread, verdict

TITLE = "Workers path in the harness: capability vs raw binding, same Pyodide"
GOAL = 1.2
CHECKS = [
    "check_bench_workers::check_bench_kv",
    "check_bench_workers::check_bench_r2_get",
    "check_bench_workers::check_bench_r2_put",
    "check_bench_workers::check_bench_queue",
    "check_bench_workers::check_bench_do",
]


def run(quick: bool) -> RowReport:
    try:
        results = harness.run_checks(CHECKS, quick=quick)
    except harness.HarnessUnavailable as exc:
        from .table import failed_report

        return failed_report(9, TITLE, str(exc))
    lines: list[Line] = []
    detail_rows = []
    ops = repeats = 0
    letters = iter(string.ascii_lowercase)
    for check in CHECKS:
        doc = results[check]
        ops, repeats = doc["ops"], doc["repeats"]
        for case, sides in doc["cases"].items():
            raw, cap = sides["raw_us"], sides["cap_us"]
            ratios = [c / r for c, r in zip(cap, raw, strict=True)]
            ratio = statistics.median(ratios)
            context = ";" in case
            lines.append(
                Line(
                    f"9{next(letters)}",
                    case.split(";")[0] + (" (context)" if context else ""),
                    f"capability {statistics.median(cap) / 1000:.2f} ms, ratio {ratio:.2f}",
                    ("raw binding call + " + case.split(";", 1)[1].strip() if context else "raw binding call")
                    + f" {statistics.median(raw) / 1000:.2f} ms",
                    spread(ratios),
                    "—" if context else f"ratio ≤ {GOAL:g}",
                    "—" if context else verdict(ratio, GOAL),
                )
            )
            detail_rows.append(
                (
                    case,
                    f"{statistics.median(raw):.0f}",
                    f"{statistics.median(cap):.0f}",
                    f"{ratio:.3f}",
                    spread(ratios, "{:.3f}"),
                )
            )
    detail = (
        f"Pyodide in the Workers harness against Miniflare's bindings; {ops} calls per side per repeat, "
        f"alternating call by call, {repeats} repeats; default layers (structlog unconfigured, so the "
        "per-call event is filtered out). Both sides look the binding up in `env` once, outside the "
        "timing.\n\n"
        + markdown_table(
            ("operation", "raw µs (median)", "capability µs (median)", "ratio (median)", "spread"),
            detail_rows,
            align=("---", "---:", "---:", "---:", "---"),
        )
    )
    return RowReport(9, TITLE, lines, detail, settings={"calls per side per repeat": ops, "repeats": repeats})
