"""Row 9: the Workers path — a capability call against the raw binding call, from the same Pyodide.

Runs ``tests/workers/bench/check_bench_workers.py`` in the Workers harness (Miniflare + Pyodide in one
Node process): per operation, the capability (default layers) and the raw binding call that does the
same thing alternate call by call; each repeat gives each side's median, the ratio is capability over
raw. Goal: ratio ≤ 1.2. Beside each ratio, the µs the capability adds over the bare call (the
median of the repeats' differences). Lines marked "context" give both sides the same work with the
result — reading the body the same way, or every field of the returned object (the capability reads
them on first use, a group at a time; the raw side in one go): under Miniflare every JS property
read of a result is a round trip to workerd, which a deployed Worker does not pay, so these lines
separate that cost from the capability's own.

The detail table also holds each side's crossings — the operations one call makes on the binding and
its results, counted by the harness's crossing counter — and the µs the capability adds per crossing
it adds: where the goal is missed, that is the profile showing what the time goes to.
"""

from __future__ import annotations

import statistics
import string
from typing import Any

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
            added = statistics.median([c - r for c, r in zip(cap, raw, strict=True)])
            context = ";" in case
            lines.append(
                Line(
                    f"9{next(letters)}",
                    case.split(";")[0] + (" (context)" if context else ""),
                    f"capability {statistics.median(cap) / 1000:.2f} ms ({added:+.0f} µs), ratio {ratio:.2f}",
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
                    f"{added:+.0f}",
                    f"{ratio:.3f}",
                    spread(ratios, "{:.3f}"),
                    *_crossings(sides.get("crossings"), added),
                )
            )
    detail = (
        f"Pyodide in the Workers harness against Miniflare's bindings; {ops} calls per side per repeat, "
        f"alternating call by call, {repeats} repeats; default layers (structlog unconfigured, so the "
        "per-call event is filtered out). Both sides look the binding up in `env` once, outside the "
        "timing.\n\n"
        + markdown_table(
            (
                "operation",
                "raw µs (median)",
                "capability µs (median)",
                "added µs (median)",
                "ratio (median)",
                "spread",
                "crossings raw → capability",
                "added µs per added crossing",
            ),
            detail_rows,
            align=("---", "---:", "---:", "---:", "---:", "---", "---:", "---:"),
        )
        + "\n\nA crossing is one operation a call makes on the binding or on what it hands back (a "
        "property read, a call, a key listing; a JS object entering Python, or converted by `to_py()`, "
        "counts once), as the harness's crossing counter counts them (`tests/workers/README.md`). "
        "Under Miniflare those on an object that stays in workerd (the binding, an `R2Object`, a stub) "
        "are round trips to workerd; those on the plain copies inside a result (its metadata) are "
        "local. An R2 `get`/`put` result's fields are read when first used, one `ffi.read_fields` per "
        "group (size; the other scalars; each of the HTTP metadata, custom metadata and checksums), so "
        "a call whose fields go unused reads none (`get` reads `body` and takes the body through "
        "`new Response(body).arrayBuffer()`, where the bare call calls `arrayBuffer()` on the remote "
        "object; the getters' profile is in `benchmarks/README.md`). The "
        "'every field' lines show what a flow that reads them all pays over one `read_fields`: the "
        "same getters, and a trip to JS per group."
    )
    return RowReport(9, TITLE, lines, detail, settings={"calls per side per repeat": ops, "repeats": repeats})


def _crossings(counts: Any, added_us: float) -> tuple[str, str]:
    """The crossings cells: ``raw → capability``, and the µs added per crossing added (when any)."""
    if not isinstance(counts, dict):
        return "—", "—"
    raw, cap = int(counts["raw"]), int(counts["cap"])
    per = f"{added_us / (cap - raw):.0f}" if cap > raw else "—"
    return f"{raw} → {cap}", per
