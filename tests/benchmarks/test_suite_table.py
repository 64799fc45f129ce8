"""The benchmark suite's plumbing: its table and RESULTS.md formatting, its options, and one quick row
run end to end. Nothing here asserts on a timing (benchmarks are their own command, ``./dev bench``)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run_all import parse_rows
from benchmarks.suite.row_imports import HEAVY, Statement, _probe, largest_imports
from benchmarks.suite.rows import ROWS
from benchmarks.suite.table import (
    Line,
    Result,
    RowReport,
    document,
    failed_report,
    markdown_table,
    spread,
    summary_table,
    verdict,
)

REPO = Path(__file__).resolve().parents[2]


def _line(row_id: str, result: Result = "PASS") -> Line:
    return Line(row_id, f"what {row_id}", "1.0 µs", "bare 0.5 µs", "0.9..1.1 (n=3)", "≤ 2 µs", result)


def test_verdict_and_spread() -> None:
    assert verdict(1.0, 1.25) == "PASS"
    assert verdict(1.25, 1.25) == "PASS"
    assert verdict(1.3, 1.25) == "MISS"
    assert verdict(6000, 5000, at_most=False) == "PASS"
    assert verdict(4000, 5000, at_most=False) == "MISS"
    assert spread([3.0, 1.0, 2.0]) == "1.00..3.00 (n=3)"
    assert spread([1500.0, 2500.0], "{:,.0f}", "/s") == "1,500..2,500/s (n=2)"
    assert spread([]) == "—"


def test_markdown_table_escapes_cells_and_checks_widths() -> None:
    table = markdown_table(("a", "b"), [("x | y", "line\nbreak")])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| x \\| y | line break |"]
    with pytest.raises(ValueError, match="has 1 cells; the header has 2"):
        markdown_table(("a", "b"), [("only one",)])


def test_summary_table_orders_rows_and_shows_notes() -> None:
    late = RowReport(5, "imports", [_line("5a", "MISS")])
    early = RowReport(
        1, "pipeline", [_line("1a"), Line("1b", "ctx", "x", "y", "z", "—", "—", note="context")]
    )
    lines = summary_table([late, early]).splitlines()
    assert lines[0].startswith("| # | what |")
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["1a", "1b", "5a"]
    assert "ctx (context)" in lines[3]
    assert lines[4].rstrip().endswith("| MISS |")


def test_row_report_survives_json_and_lists_misses() -> None:
    report = RowReport(3, "r2", [_line("3a"), _line("3b", "MISS")], "detail", 12.5, {"ops": 300})
    again = RowReport.from_json(report.to_json())
    assert again == report
    assert [line.id for line in again.missed] == ["3b"]


def test_failed_report_is_one_error_line_with_the_reason() -> None:
    report = failed_report(6, "kv rest", "Traceback ...\nRuntimeError: the stand-in did not start")
    assert [(line.id, line.result) for line in report.lines] == [("6", "ERROR")]
    assert report.lines[0].note == "RuntimeError: the stand-in did not start"
    assert "```text" in report.detail


def test_document_has_machine_summary_and_details() -> None:
    reports = [RowReport(2, "kv", [_line("2a")], "| detail |", 3.0, {"calls": 10})]
    text = document(
        reports, {"date (UTC)": "2026-01-01T00:00:00Z", "CPU": "x"}, command="./dev bench", total_seconds=4
    )
    assert text.index("## Machine") < text.index("## Summary") < text.index("## Details")
    assert "| date (UTC) | 2026-01-01T00:00:00Z |" in text
    assert "All goals met. The suite took 4 s." in text
    assert "### 2. kv" in text
    assert "Settings: calls = 10." in text
    missed = document([RowReport(7, "q", [_line("7", "MISS")])], {}, command="c", total_seconds=300)
    assert "Goals missed: 7 (MISS). The suite took 5.0 min." in missed


def test_parse_rows() -> None:
    assert parse_rows("1,5-7") == [1, 5, 6, 7]
    assert parse_rows(" 9 ,1,1") == [1, 9]
    beyond = max(ROWS) + 1
    with pytest.raises(argparse.ArgumentTypeError, match=f"no row {beyond}"):
        parse_rows(f"1,{beyond}")
    with pytest.raises(argparse.ArgumentTypeError, match="not a row number"):
        parse_rows("one")


def test_import_probe_reports_heavy_modules(tmp_path: Path) -> None:
    wall_ms, cpu_ms, heavy = _probe(
        Statement("kv", "from cap_cloudflare_kv import KvNamespace", "ours"), str(tmp_path)
    )
    assert wall_ms > 0
    assert cpu_ms > 0
    assert heavy == []
    _, _, heavy = _probe(Statement("httpx", "import httpx", "context"), str(tmp_path))
    assert heavy == ["httpx"]
    assert "httpx" in HEAVY
    ranked = largest_imports(
        Statement("kv", "from cap_cloudflare_kv import KvNamespace", "ours"), str(tmp_path)
    )
    assert ranked
    assert all(name != "asyncio" for name, _ in ranked)
    assert any(name.startswith("cap_") for name, _ in ranked)


def test_quick_row_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run_all.py"),
            "--quick",
            "--rows",
            "1",
            "--output",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| 1")]
    assert [line.split("|")[1].strip() for line in table] == ["1a", "1b", "1c", "1d"]
    assert all(line.rstrip().endswith(("| PASS |", "| MISS |")) for line in table[:3])
    assert table[3].rstrip().endswith("| — |"), "1d is context: no goal"
    text = out.read_text(encoding="utf-8")
    assert "`./dev bench --quick --rows 1`" in text
    assert "### 1. Layer pipeline overhead per call" in text
    assert "| Python |" in text


def test_row_9_crossings_cells() -> None:
    from benchmarks.suite.row_workers import _crossings

    assert _crossings({"raw": 3, "cap": 19}, 8000.0) == ("3 → 19", "500")
    assert _crossings({"raw": 2, "cap": 2}, 150.0) == ("2 → 2", "—")  # nothing added: no per-crossing figure
    assert _crossings(None, 150.0) == ("—", "—")  # a harness that did not count
