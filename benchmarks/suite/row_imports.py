"""Row 5: what importing each package costs beyond ``asyncio``, against boto3 and the official SDK.

Every figure is one fresh interpreter that imports ``asyncio`` first and then times the statement
in-process, CPU (``time.process_time``) and wall (``time.perf_counter``), so interpreter start-up is
not counted and "beyond asyncio" is exact. Bytecode is compiled once, untimed, into a private
``-X pycache_prefix`` directory (an installed package has its ``.pyc`` files too; a source tree run
with ``PYTHONDONTWRITEBYTECODE`` would otherwise be timed compiling). The statements run in a
rotated order each repeat, so ours and the peers share the machine's conditions. Each interpreter
also reports whether opendal, pydantic, httpx or structlog got loaded — the Workers path must load
none of them. The goal is judged on the import's CPU time (wall time is shown too): on a shared
machine, wall time also counts the time other processes held the CPU, which is not the package's
cost.

Lines 5a-5e are the realistic ``from <package> import <main class>``; 5f is the Workers path under
Pyodide (the Workers harness imports each package fresh and builds it ``from_env``, see
``tests/workers/bench/check_bench_workers.py``). ``-X importtime`` of each realistic statement gives
the detail's "largest imports", which is where to look when a line misses.
"""

from __future__ import annotations

import ast
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from . import harness
from .table import Line, RowReport, markdown_table, spread, verdict

TITLE = "Import cost beyond asyncio"
GOAL_MS = 30.0
HEAVY = ("opendal", "pydantic", "httpx", "structlog")
"""Modules a capability must not load at import (the Workers path cannot have them)."""


@dataclass(frozen=True)
class Statement:
    label: str
    code: str
    kind: str  # "ours" (has a goal), "package" (bare package import), "peer", "context"
    line_id: str = ""


STATEMENTS = (
    Statement("cap_opendal_core", "import cap_opendal_core", "ours", "5a"),
    Statement("cap_cloudflare_kv (package only)", "import cap_cloudflare_kv", "package"),
    Statement("cap_cloudflare_kv", "from cap_cloudflare_kv import KvNamespace", "ours", "5b"),
    Statement("cap_cloudflare_r2 (package only)", "import cap_cloudflare_r2", "package"),
    Statement("cap_cloudflare_r2", "from cap_cloudflare_r2 import R2Bucket", "ours", "5c"),
    Statement("cap_cloudflare_queue (package only)", "import cap_cloudflare_queue", "package"),
    Statement("cap_cloudflare_queue", "from cap_cloudflare_queue import Queue", "ours", "5d"),
    Statement("cap_cloudflare_do (package only)", "import cap_cloudflare_do", "package"),
    Statement("cap_cloudflare_do", "from cap_cloudflare_do import DurableObjectNamespace", "ours", "5e"),
    Statement(
        "all four capabilities",
        "from cap_cloudflare_kv import KvNamespace\nfrom cap_cloudflare_r2 import R2Bucket\n"
        "from cap_cloudflare_queue import Queue\nfrom cap_cloudflare_do import DurableObjectNamespace",
        "context",
    ),
    Statement("boto3", "import boto3", "peer"),
    Statement("cloudflare (official SDK)", "import cloudflare", "peer"),
    Statement("opendal (what the server backends load lazily)", "import opendal", "context"),
)

PROBE = """\
import asyncio, sys, time
_t0, _c0 = time.perf_counter(), time.process_time()
{code}
_elapsed, _cpu = time.perf_counter() - _t0, time.process_time() - _c0
print(repr((_elapsed * 1000.0, _cpu * 1000.0, [m for m in {heavy!r} if m in sys.modules])))
"""


def _interpreter(pycache: str) -> list[str]:
    # -E: ignore PYTHON* variables (PYTHONDONTWRITEBYTECODE would make every run compile sources)
    return [sys.executable, "-E", "-X", f"pycache_prefix={pycache}"]


def _probe(statement: Statement, pycache: str) -> tuple[float, float, list[str]]:
    """Wall and CPU milliseconds of the statement after ``import asyncio``, and the heavy modules
    it loaded, from a fresh interpreter."""
    out = subprocess.run(
        [*_interpreter(pycache), "-c", PROBE.format(code=statement.code, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{statement.code!r} failed:\n{out.stderr[-2000:]}")
    wall_ms, cpu_ms, heavy = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    return float(wall_ms), float(cpu_ms), list(heavy)


def largest_imports(statement: Statement, pycache: str, top: int = 6) -> list[tuple[str, float]]:
    """``-X importtime``: the modules with the largest self time imported by ``statement`` after
    ``asyncio`` (importtime inflates every figure a little; use it to rank, not to measure)."""
    out = subprocess.run(
        [*_interpreter(pycache), "-X", "importtime", "-c", f"import asyncio\n{statement.code}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rows: list[tuple[str, int]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _cumulative, name = line[len("import time:") :].split("|", 2)
        if self_us.strip().isdigit():
            rows.append((name.strip(), int(self_us)))
    names = [name for name, _ in rows]
    start = len(names) - names[::-1].index("asyncio") if "asyncio" in names else 0
    after = sorted(rows[start:], key=lambda r: r[1], reverse=True)[:top]
    return [(name, us / 1000) for name, us in after]


def run(quick: bool) -> RowReport:
    repeats = 3 if quick else 9
    times: dict[str, list[float]] = {s.label: [] for s in STATEMENTS}
    cpu: dict[str, list[float]] = {s.label: [] for s in STATEMENTS}
    heavy: dict[str, set[str]] = {s.label: set() for s in STATEMENTS}
    available = list(STATEMENTS)
    with tempfile.TemporaryDirectory(prefix="bench-import-pyc-") as pycache:
        for s in STATEMENTS:  # compile and cache the bytecode, untimed; drop peers that are missing
            try:
                _probe(s, pycache)
            except RuntimeError:
                if s.kind not in ("peer", "context"):
                    raise
                available.remove(s)
        for repeat in range(repeats):
            shift = repeat % len(available)
            for s in available[shift:] + available[:shift]:
                wall_ms, cpu_ms, loaded = _probe(s, pycache)
                times[s.label].append(wall_ms)
                cpu[s.label].append(cpu_ms)
                heavy[s.label].update(loaded)
        profiles = {s.label: largest_imports(s, pycache) for s in available if s.kind == "ours"}

    med = {label: statistics.median(v) for label, v in times.items() if v}
    cpu_med = {label: statistics.median(v) for label, v in cpu.items() if v}
    peers = [s for s in available if s.kind == "peer"]
    peer_text = (
        "; ".join(f"`{s.code}` {cpu_med[s.label]:.0f} ms CPU (wall {med[s.label]:.0f})" for s in peers)
        or "peers not installed"
    )
    lines = []
    for s in available:
        if s.kind != "ours":
            continue
        package = next((p for p in available if p.kind == "package" and p.label.startswith(s.label)), None)
        loaded = sorted(heavy[s.label])
        result = verdict(cpu_med[s.label], GOAL_MS)
        lines.append(
            Line(
                s.line_id,
                f"`{s.code}`"
                + (f" (package alone {cpu_med[package.label]:.1f} ms)" if package is not None else ""),
                f"{cpu_med[s.label]:.1f} ms CPU (wall {med[s.label]:.1f})",
                peer_text,
                "CPU " + spread(cpu[s.label], "{:.1f}", " ms"),
                f"≤ {GOAL_MS:g} ms beyond asyncio; none of opendal/pydantic/httpx/structlog loaded",
                "MISS" if loaded else result,
                note=f"loaded {', '.join(loaded)}" if loaded else "",
            )
        )
    workers_line, workers_detail = _workers(quick)
    lines.append(workers_line)

    table = markdown_table(
        (
            "statement",
            "kind",
            "CPU ms (median)",
            "spread",
            "wall ms (median)",
            "spread",
            "heavy modules loaded",
        ),
        (
            (
                s.code.replace("\n", "; "),
                s.kind,
                f"{cpu_med[s.label]:.1f}",
                spread(cpu[s.label], "{:.1f}"),
                f"{med[s.label]:.1f}",
                spread(times[s.label], "{:.1f}"),
                ", ".join(sorted(heavy[s.label])) or "none",
            )
            for s in available
        ),
        align=("---", "---", "---:", "---", "---:", "---", "---"),
    )
    profile_rows = (
        (label, ", ".join(f"{name} {ms:.1f}" for name, ms in top)) for label, top in profiles.items()
    )
    detail = (
        f"CPython, {repeats} repeats in rotated order, each in a fresh interpreter. The verdict uses the "
        "CPU time of the import (`time.process_time`): it is what the package costs, while wall time "
        "on a shared machine also counts the time other processes held the CPU (on an idle machine the "
        f"two agree within a few percent).\n\n{table}\n\n"
        "Largest imports by self time (ms, from one `-X importtime` run; inflated, for ranking):\n\n"
        + markdown_table(("package", "modules"), profile_rows)
        + "\n\n"
        + workers_detail
    )
    missing = sorted({s.label for s in STATEMENTS} - {s.label for s in available})
    settings: dict[str, object] = {"repeats": repeats}
    if missing:
        settings["not installed, skipped"] = ", ".join(missing)
    return RowReport(5, TITLE, lines, detail, settings=settings)


def _workers(quick: bool) -> tuple[Line, str]:
    """5f: the Workers path under Pyodide, from the harness (its own Node process)."""
    what = "Workers path under Pyodide: each package imported fresh + `from_env`"
    goal = "none of opendal/pydantic/httpx/structlog loaded"
    try:
        result = harness.run_checks(["check_bench_workers::check_bench_imports"], quick=quick)
        doc = result["check_bench_workers::check_bench_imports"]
    except (harness.HarnessUnavailable, RuntimeError) as exc:
        line = Line("5f", what, "—", "—", "—", goal, "ERROR", note=str(exc)[:120])
        return line, f"Workers path: not measured ({exc})."
    rows = doc["packages"]
    loaded = sorted({m for r in rows for m in r["heavy"]})
    detail = (
        "Workers path under Pyodide (the harness; each package imported after removing every module "
        "the previous import added, then built with `from_env`; ms, Wasm is slower than CPython):\n\n"
        + markdown_table(
            ("statement", "import ms (median)", "spread", "from_env ms (median)", "heavy modules loaded"),
            (
                (
                    r["code"].replace("\n", "; "),
                    f"{statistics.median(r['import_ms']):.0f}",
                    spread(r["import_ms"], "{:.0f}"),
                    f"{statistics.median(r['from_env_ms']):.1f}",
                    ", ".join(r["heavy"]) or "none",
                )
                for r in rows
            ),
        )
    )
    per_package = ", ".join(
        f"{r['code'].split()[1].removeprefix('cap_cloudflare_')} {statistics.median(r['import_ms']):.0f}"
        for r in rows
    )
    sdk = doc.get("workers_sdk_ms")
    line = Line(
        "5f",
        what,
        f"import ms: {per_package}",
        "—"
        if not sdk
        else f"`import workers` (the Workers SDK) in the same Pyodide {statistics.median(sdk):.0f} ms",
        f"n={len(rows[0]['import_ms'])} each",
        goal,
        "MISS" if loaded else "PASS",
        note=f"loaded {', '.join(loaded)}" if loaded else "",
    )
    return line, detail
