"""Rows 10-13: the embedded engine behind ``KvNamespace.local`` and ``R2Bucket.local`` (issue 14).

10 and 11 compare one operation with the file-system or SQLite floor under it, call by call
(:mod:`.embedded_ops`); 12 times listings as the store grows and 13 the first ``.local()`` of a fresh
interpreter (:mod:`.embedded_scale`). Default layers, structlog filtering INFO out; 1 KiB values.
"""

from __future__ import annotations

import asyncio
import logging
import statistics

import structlog

from . import embedded_ops as ops
from . import embedded_scale as scale
from .table import Line, RowReport, markdown_table, spread, verdict

TITLE_10 = "Local KV (embedded engine) get/put 1 KiB vs sqlite3 and fsync floors"
TITLE_11 = "Local R2 (embedded engine) get/put 1 KiB and conditional puts vs file floors"
TITLE_12 = "Local KV first page and R2 full listing at 1k / 10k / 100k keys"
TITLE_13 = "First .local() after import, fresh interpreter"

GOALS_10 = {"get": 4.0, "put, durability='full'": 1.5}
GOALS_11 = {"get + read": 6.0, "put, durability='full'": 2.0}
FLOORS_10 = {
    "get": "sqlite3 SELECT of the value by key, WAL table",
    "put, durability='full'": "write + fsync + rename",
    "put, durability='process'": "write + fsync + rename",
}
FLOORS_11 = {
    "get + read": "open().read()",
    "put, durability='full'": "write + fsync + rename + directory fsync",
    "put, durability='process'": "write + fsync + rename + directory fsync",
}
CONCURRENCY_GOAL = 2.0
KV_PAGE_GOAL_MS = {10_000: 20.0, 100_000: 30.0}
R2_PER_10K_GOAL_S = 0.5
LINEAR_SLACK = 1.5
"""Listing counts as linear when the time per 10k keys at the largest size is ≤ this x at the smallest."""
FIRST_LOCAL_GOAL_MS = 20.0


def _quiet() -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING), cache_logger_on_first_use=True
    )


def _op_lines(
    prefix: str, cases: list[ops.Compared], goals: dict[str, float], floors: dict[str, str], what: str
) -> tuple[list[Line], str]:
    lines = []
    rows = []
    for letter, case in zip("abcdefg", cases, strict=False):
        goal = goals.get(case.label)
        lines.append(
            Line(
                f"{prefix}{letter}",
                f"{what}.{case.label}",
                f"{case.ours:,.1f} µs/call, ratio {case.ratio:.2f}",
                f"{floors[case.label]} {case.floor:,.1f} µs",
                spread(case.ratios, "{:.2f}"),
                "—" if goal is None else f"ratio ≤ {goal:g}",
                "—" if goal is None else verdict(case.ratio, goal),
                note="" if goal is not None else "context: does not fsync, the floor does",
            )
        )
        rows.append(
            (
                case.label,
                f"{case.ours:,.1f}",
                spread(case.ours_us, "{:,.1f}"),
                floors[case.label],
                f"{case.floor:,.1f}",
                f"{case.ratio:.2f}",
            )
        )
    table = markdown_table(
        ("operation", "capability µs (median)", "spread", "floor", "floor µs (median)", "ratio"),
        rows,
        align=("---", "---:", "---", "---", "---:", "---:"),
    )
    return lines, table


def run_kv(quick: bool) -> RowReport:
    calls, puts, repeats = (300, 60, 3) if quick else (2_000, 300, 7)
    _quiet()
    cases = asyncio.run(ops.kv_cases(calls, repeats, puts))
    lines, table = _op_lines("10", cases, GOALS_10, FLOORS_10, "KvNamespace.local")
    detail = (
        "Call by call, alternating which side goes first; a repeat's ratio is the capability's median "
        'call over the floor\'s. The put goal is judged on `durability="full"`: the floor fsyncs, and '
        'only `"full"` does too (one WAL fsync per commit; values ≤ 64 KiB live in the index row). '
        '`"process"` (the default) survives a killed process, not power loss, and is shown for '
        "context against the same floor.\n\n" + table
    )
    settings = {"get calls per side per repeat": calls, "put calls": puts, "repeats": repeats}
    return RowReport(10, TITLE_10, lines, detail, settings=settings)


def run_r2(quick: bool) -> RowReport:
    calls, puts, repeats = (300, 60, 3) if quick else (2_000, 300, 7)
    conditional, conditional_repeats = (200, 2) if quick else (600, 5)
    _quiet()

    async def measure() -> tuple[list[ops.Compared], dict[str, tuple[list[float], list[float]]]]:
        cases = await ops.r2_cases(calls, repeats, puts)
        widths = {
            d: await ops.r2_conditional_concurrency(d, conditional, conditional_repeats)
            for d in ("full", "process")
        }
        return cases, widths

    cases, widths = asyncio.run(measure())
    lines, table = _op_lines("11", cases, GOALS_11, FLOORS_11, "R2Bucket.local")
    rows = []
    for letter, durability in zip("de", ("full", "process"), strict=True):
        many, one = widths[durability]
        ratios = [m / o for m, o in zip(many, one, strict=True)]
        ratio = statistics.median(ratios)
        judged = durability == "full"
        lines.append(
            Line(
                f"11{letter}",
                f"R2Bucket.local conditional put (create-if-absent, distinct keys), "
                f"durability={durability!r}, concurrency 8 vs 1",
                f"{statistics.median(many):,.0f} puts/s at 8, x{ratio:.2f}",
                f"the same at concurrency 1: {statistics.median(one):,.0f} puts/s",
                spread(ratios, "{:.2f}"),
                f"≥ {CONCURRENCY_GOAL:g}x" if judged else "—",
                verdict(ratio, CONCURRENCY_GOAL, at_most=False) if judged else "—",
            )
        )
        rows.append(
            (
                durability,
                f"{statistics.median(one):,.0f}",
                f"{statistics.median(many):,.0f}",
                f"{ratio:.2f}",
                spread(ratios, "{:.2f}"),
            )
        )
    detail = (
        "Lines a-c: call by call, alternating, as row 10. The put goal is judged on "
        '`durability="full"` (the floor fsyncs the file and its directory; a body ≤ 64 KiB lives in '
        'the index, so `"full"` fsyncs the WAL once at commit; a larger one adds its file and '
        "directory).\n\n"
        + table
        + "\n\nConditional puts: `put(key, 1 KiB, only_if=R2Conditional(etag_does_not_match='*'))` on "
        f"{conditional:,} distinct keys per measurement, by 1 task or by 8 tasks, alternating per repeat. "
        'The goal is judged under `"full"`, where a put waits on the disk: the puts that wait on a '
        "commit in flight are committed together by the next one (one transaction, one fsync, one "
        'worker-thread hop); under `"process"` a put is mostly CPU (two cores, one GIL).\n\n'
        + markdown_table(
            ("durability", "puts/s at 1", "puts/s at 8", "ratio (median)", "spread"),
            rows,
            align=("---", "---:", "---:", "---:", "---"),
        )
    )
    settings = {
        "get calls per side per repeat": calls,
        "put calls": puts,
        "repeats": repeats,
        "conditional puts per measurement": conditional,
        "conditional repeats": conditional_repeats,
    }
    return RowReport(11, TITLE_11, lines, detail, settings=settings)


def run_listing(quick: bool) -> RowReport:
    sizes, repeats = (scale.SIZES[:2], 3) if quick else (scale.SIZES, 5)
    _quiet()

    async def measure() -> tuple[dict[int, tuple[list[float], list[float]]], ...]:
        return await scale.kv_listing(sizes, repeats), await scale.r2_listing(sizes, repeats)

    kv, r2 = asyncio.run(measure())
    lines = []
    rows = []
    for letter, size in zip("abc", sizes, strict=False):
        mine, base = kv[size]
        ms = statistics.median(mine) * 1000
        goal = KV_PAGE_GOAL_MS.get(size)
        lines.append(
            Line(
                f"12{letter}",
                f"KvNamespace.local list(limit=1000), first page, {size:,} keys",
                f"{ms:.1f} ms",
                f"raw sqlite3 query of the same index {statistics.median(base) * 1000:.1f} ms",
                spread([m * 1000 for m in mine], "{:.1f}", " ms"),
                "—" if goal is None else f"≤ {goal:g} ms",
                "—" if goal is None else verdict(ms, goal),
            )
        )
        rows.append(
            ("KV first page", f"{size:,}", f"{ms:.2f} ms", f"{statistics.median(base) * 1000:.2f} ms")
        )
    per_10k: dict[int, float] = {}
    for letter, size in zip("def", sizes, strict=False):
        mine, base = r2[size]
        seconds = statistics.median(mine)
        per_10k[size] = seconds * 10_000 / size
        lines.append(
            Line(
                f"12{letter}",
                f"R2Bucket.local full listing (pages of 1,000), {size:,} keys",
                f"{seconds:.3f} s, {per_10k[size]:.3f} s per 10k",
                f"raw sqlite3 SELECT of every row {statistics.median(base):.3f} s",
                spread(mine, "{:.3f}", " s"),
                f"≤ {R2_PER_10K_GOAL_S:g} s per 10k",
                verdict(per_10k[size], R2_PER_10K_GOAL_S),
            )
        )
        rows.append(("R2 full listing", f"{size:,}", f"{seconds:.3f} s", f"{statistics.median(base):.3f} s"))
    largest, smallest = max(sizes), min(sizes)
    growth = per_10k[largest] / per_10k[smallest]
    lines.append(
        Line(
            "12g",
            f"R2 full listing linear: time per 10k keys at {largest:,} keys over at {smallest:,}",
            f"x{growth:.2f}",
            f"{per_10k[smallest]:.3f} s per 10k at {smallest:,} keys",
            "—",
            f"≤ x{LINEAR_SLACK:g}",
            verdict(growth, LINEAR_SLACK),
        )
    )
    detail = (
        "One store per capability grows through the sizes (written with the public API; 16-byte "
        "bodies, a listing reads none). At each size the capability's listing and a raw sqlite3 query "
        "of the same index file (the rows only, no objects built) alternate, repeat by repeat. The "
        "floor shows what the index scan itself costs; the rest is building `KvKey` / `R2Object`s "
        "(R2 parses each row's JSON metadata).\n\n"
        + markdown_table(
            ("listing", "keys", "capability (median)", "raw sqlite3 (median)"),
            rows,
            align=("---", "---:", "---:", "---:"),
        )
    )
    return RowReport(
        12,
        TITLE_12,
        lines,
        detail,
        settings={"sizes": ", ".join(f"{s:,}" for s in sizes), "repeats": repeats},
    )


def run_first_local(quick: bool) -> RowReport:
    repeats = 3 if quick else 9
    samples = scale.first_local(repeats)
    lines = []
    rows = []
    for letter, name in zip("ab", samples, strict=True):
        cpu, wall, cpus = scale.medians_ms(samples[name], "local")
        import_cpu, import_wall, _ = scale.medians_ms(samples[name], "import")
        use_cpu, use_wall, _ = scale.medians_ms(samples[name], "first_use")
        heavy = sorted({m for s in samples[name] for m in s["heavy"]})  # type: ignore[attr-defined]
        lines.append(
            Line(
                f"13{letter}",
                f"first {name}.local(tmp) after import, fresh interpreter",
                f"{cpu:.1f} ms CPU ({wall:.1f} ms wall)",
                f"the import itself, measured separately: {import_cpu:.1f} ms CPU "
                f"({import_wall:.1f} ms wall)",
                spread(cpus, "{:.1f}", " ms"),
                f"≤ {FIRST_LOCAL_GOAL_MS:g} ms",
                verdict(cpu, FIRST_LOCAL_GOAL_MS) if not heavy else "MISS",
                note="" if not heavy else f"loaded {', '.join(heavy)}",
            )
        )
        rows.append(
            (
                name,
                f"{import_cpu:.1f} / {import_wall:.1f}",
                f"{cpu:.1f} / {wall:.1f}",
                f"{use_cpu:.1f} / {use_wall:.1f}",
                ", ".join(heavy) or "none",
            )
        )
    detail = (
        "Each sample is a fresh interpreter: `import asyncio`, then the import of the capability, then "
        "`.local(tmp)`, then a first `put` + `get` in `asyncio.run` (context: it opens the store, "
        "imports anyio and starts the worker thread). CPU time is judged, as in row 5 (wall time also "
        "counts other processes on a shared machine). Pydantic, OpenDAL and httpx must stay unloaded.\n\n"
        + markdown_table(
            (
                "class",
                "import ms CPU / wall",
                ".local() ms CPU / wall",
                "first put + get ms CPU / wall",
                "heavy modules loaded",
            ),
            rows,
            align=("---", "---:", "---:", "---:", "---"),
        )
    )
    return RowReport(13, TITLE_13, lines, detail, settings={"fresh interpreters per class": repeats})
