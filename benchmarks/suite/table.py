"""The suite's results as data, and the Markdown they are printed as.

Each row of the suite runs in its own process and hands back a :class:`RowReport` as JSON: one or more
:class:`Line` s for the summary table (a row with several goals — e.g. "every layer off" and "default
layers" — gets one line each, ``1a``, ``1b``) and a Markdown block with the row's own detail tables.
The functions here only format; they never measure, so a test can check them without timing anything.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "Line",
    "Result",
    "RowReport",
    "document",
    "duration",
    "failed_report",
    "markdown_table",
    "spread",
    "summary_table",
    "verdict",
]

Result = Literal["PASS", "MISS", "—", "ERROR"]
"""``—`` when a line has no goal (context only); ``ERROR`` when the row could not be measured."""

SUMMARY_HEADER = (
    "#",
    "what",
    "measured (median)",
    "compared with, same run (median)",
    "spread",
    "goal",
    "result",
)


@dataclass(frozen=True)
class Line:
    """One line of the summary table."""

    id: str
    what: str
    measured: str
    compared_with: str
    spread: str
    goal: str
    result: Result
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        what = f"{self.what} ({self.note})" if self.note else self.what
        return (self.id, what, self.measured, self.compared_with, self.spread, self.goal, self.result)


@dataclass
class RowReport:
    """What one row's process hands back: its summary lines, its detail Markdown, how long it took."""

    number: int
    title: str
    lines: list[Line]
    detail: str = ""
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RowReport:
        return cls(
            number=int(doc["number"]),
            title=str(doc["title"]),
            lines=[Line(**line) for line in doc["lines"]],
            detail=str(doc.get("detail", "")),
            seconds=float(doc.get("seconds", 0.0)),
            settings=dict(doc.get("settings", {})),
        )

    @property
    def missed(self) -> list[Line]:
        return [line for line in self.lines if line.result in ("MISS", "ERROR")]


def failed_report(number: int, title: str, message: str, seconds: float = 0.0) -> RowReport:
    """A row that could not be measured: one ERROR line, the reason in the detail."""
    first = message.strip().splitlines()[-1] if message.strip() else "no output"
    return RowReport(
        number,
        title,
        [Line(str(number), title, "—", "—", "—", "—", "ERROR", note=first[:120])],
        detail=f"The row failed:\n\n```text\n{message.strip()[-3000:]}\n```",
        seconds=seconds,
    )


def verdict(value: float, goal: float, *, at_most: bool = True) -> Result:
    """PASS when ``value`` meets ``goal`` (``value <= goal``, or ``>=`` with ``at_most=False``)."""
    ok = value <= goal if at_most else value >= goal
    return "PASS" if ok else "MISS"


def spread(values: Sequence[float], fmt: str = "{:.2f}", unit: str = "") -> str:
    """``min..max`` of the repeats, and how many there were."""
    if not values:
        return "—"
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{low}..{high}{unit} (n={len(values)})"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], align: Sequence[str] | None = None
) -> str:
    """A GitHub-flavoured Markdown table; ``|`` in cells is escaped, newlines become spaces."""
    rows = [list(r) for r in rows]
    for r in rows:
        if len(r) != len(header):
            raise ValueError(f"row {r!r} has {len(r)} cells; the header has {len(header)}")
    marks = list(align) if align is not None else ["---"] * len(header)
    out = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(marks) + " |"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def summary_table(reports: Iterable[RowReport]) -> str:
    """The one table: every line of every row, in row order."""
    lines = [line for report in sorted(reports, key=lambda r: r.number) for line in report.lines]
    return markdown_table(
        SUMMARY_HEADER,
        (line.cells() for line in lines),
        align=("---", "---", "---:", "---", "---", "---", ":---:"),
    )


def document(
    reports: Sequence[RowReport],
    machine: Mapping[str, str],
    *,
    command: str,
    total_seconds: float,
) -> str:
    """``RESULTS.md``: machine, versions and date, the summary table, then each row's details."""
    ordered = sorted(reports, key=lambda r: r.number)
    missed = [line for r in ordered for line in r.missed]
    parts = [
        "# Benchmark results",
        "",
        f"Written by `{command}` — see `benchmarks/README.md` for what each row measures and how to "
        "read it. Every row compares two things measured in the same run, alternating; figures are "
        "medians of the repeats, the spread is min..max over them.",
        "",
        "## Machine",
        "",
        markdown_table(("", ""), ((k, v) for k, v in machine.items())),
        "",
        "## Summary",
        "",
        summary_table(ordered),
        "",
        (
            "All goals met."
            if not missed
            else "Goals missed: " + ", ".join(f"{line.id} ({line.result})" for line in missed) + "."
        )
        + f" The suite took {duration(total_seconds)}.",
        "",
    ]
    parts += ["## Details", ""]
    for r in ordered:
        parts += [f"### {r.number}. {r.title}", ""]
        if r.settings:
            parts += ["Settings: " + ", ".join(f"{k} = {v}" for k, v in r.settings.items()) + ".", ""]
        parts += [r.detail.rstrip() or "(no detail)", "", f"_Row time: {duration(r.seconds)}._", ""]
    return "\n".join(parts).rstrip() + "\n"
