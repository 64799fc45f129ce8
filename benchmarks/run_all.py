"""The benchmark suite: rows 1-9, one Markdown table, written to ``benchmarks/RESULTS.md``.

Run: ``./dev bench [--quick] [--rows 1,5-7] [--output PATH] [--strict]`` (or
``.venv/bin/python benchmarks/run_all.py …`` once the environment is set up).

Every row compares two things measured in the same run, alternating, and reports the median of
several repeats and the spread (min..max); ``benchmarks/README.md`` explains each row and how to read
it. Each row runs in a process of its own; progress goes to stderr, the table to stdout. A full run
(every row, full size) writes ``benchmarks/RESULTS.md``; ``--quick`` or ``--rows`` runs write to
``benchmarks/out/RESULTS.md`` unless ``--output`` says otherwise, so a partial run never replaces the
full results. The exit status is 0 unless ``--strict`` is given and a goal was missed (or a row
failed to run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # benchmarks.* and tests.support.* (the servers the tests use)

from benchmarks.suite.machine import load_average, machine_info  # noqa: E402
from benchmarks.suite.rows import ROWS, measure  # noqa: E402
from benchmarks.suite.table import (  # noqa: E402
    RowReport,
    document,
    duration,
    failed_report,
    summary_table,
)

MARKER = "@@cap-bench-row@@ "
FULL_RESULTS = REPO / "benchmarks" / "RESULTS.md"
PARTIAL_RESULTS = REPO / "benchmarks" / "out" / "RESULTS.md"
ROW_TIMEOUT_S = {False: 40 * 60, True: 10 * 60}


def parse_rows(text: str) -> list[int]:
    """``"1,5-7"`` → ``[1, 5, 6, 7]``; every number must name a row."""
    wanted: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                low, high = (int(p) for p in part.split("-", 1))
                wanted.update(range(low, high + 1))
            else:
                wanted.add(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--rows: {part!r} is not a row number or a range like 5-7"
            ) from None
    unknown = sorted(wanted - set(ROWS))
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(
            f"--rows: no row {', '.join(map(str, unknown)) or 'given'}; rows are {min(ROWS)}-{max(ROWS)}"
        )
    return sorted(wanted)


def run_row(number: int, quick: bool) -> RowReport:
    """One row in a child process; a crash, a hang or garbage becomes an ERROR line, not an exception."""
    spec = ROWS[number]
    started = time.perf_counter()
    command = [sys.executable, str(Path(__file__).resolve()), "--child-row", str(number)]
    if quick:
        command.append("--quick")
    try:
        proc = subprocess.run(
            command,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=None,  # progress goes straight through
            text=True,
            timeout=ROW_TIMEOUT_S[quick],
            check=False,
        )
    except subprocess.TimeoutExpired:
        return failed_report(
            number, spec.title, f"timed out after {ROW_TIMEOUT_S[quick]} s", time.perf_counter() - started
        )
    elapsed = time.perf_counter() - started
    docs = [line[len(MARKER) :] for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0 or not docs:
        return failed_report(
            number,
            spec.title,
            f"exit status {proc.returncode}; see the row's output above\n{proc.stdout[-2000:]}",
            elapsed,
        )
    report = RowReport.from_json(json.loads(docs[-1]))
    report.seconds = elapsed
    return report


def child(number: int, quick: bool) -> int:
    """Measure one row and hand its report to the parent on stdout (after a marker)."""
    started = time.perf_counter()
    try:
        report = measure(number, quick)
    except Exception as exc:  # the row's own failure, reported in its ERROR line
        import traceback

        traceback.print_exc()
        report = failed_report(number, ROWS[number].title, f"{type(exc).__name__}: {exc}")
    report.seconds = time.perf_counter() - started
    print(MARKER + json.dumps(report.to_json()), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./dev bench", description=(__doc__ or "").splitlines()[0], epilog="See benchmarks/README.md."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and fewer repeats (about 3 min)")
    parser.add_argument(
        "--rows", type=parse_rows, default=sorted(ROWS), help="rows to run, e.g. 1,5 or 3-4 (default: all)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the results (default: benchmarks/RESULTS.md for a full run of every row, "
        "benchmarks/out/RESULTS.md otherwise)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed or a row fails")
    parser.add_argument("--child-row", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_row is not None:
        return child(args.child_row, args.quick)

    full = not args.quick and args.rows == sorted(ROWS)
    output: Path = args.output or (FULL_RESULTS if full else PARTIAL_RESULTS)
    load_at_start = load_average()
    started = time.perf_counter()
    reports: list[RowReport] = []
    for number in args.rows:
        spec = ROWS[number]
        estimate = f"~{spec.minutes:g} min" if not args.quick else "quick"
        print(f"[bench] row {number}: {spec.title} ({estimate}) …", file=sys.stderr, flush=True)
        report = run_row(number, args.quick)
        reports.append(report)
        verdicts = ", ".join(f"{line.id} {line.result}" for line in report.lines)
        print(f"[bench] row {number} done in {report.seconds:.0f} s: {verdicts}", file=sys.stderr, flush=True)
    total = time.perf_counter() - started

    command = "./dev bench" + (" --quick" if args.quick else "")
    if args.rows != sorted(ROWS):
        command += " --rows " + ",".join(map(str, args.rows))
    text = document(reports, machine_info(load_at_start), command=command, total_seconds=total)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")

    print(summary_table(reports))
    missed = [line for report in reports for line in report.missed]
    print()
    print(
        ("all goals met" if not missed else "missed: " + ", ".join(f"{m.id} ({m.result})" for m in missed))
        + f" — {duration(total)}; written to {os.path.relpath(output)}"
    )
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
