"""Plain-text rendering for ``caps demo``: headings, tables and a progress bar, standard library only.

Why no ``rich``: the demo prints a handful of tables and one bar; a dependency (and its import time)
is not worth that, and plain text reads the same in a terminal, a CI log and a test's captured output.
The progress bar redraws in place on a terminal; elsewhere it prints a line at each quarter, so logs
stay short and deterministic.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TextIO

__all__ = ["ProgressBar", "heading", "human_bytes", "table"]

_NUMBER: Final = re.compile(r"^-?[\d.,]+( ?[a-zA-Zµ%/]+)?$")


def heading(out: TextIO, text: str) -> None:
    print(f"\n{text}", file=out)


def table(
    out: TextIO, header: Sequence[str], rows: Sequence[Sequence[object]], *, indent: str = "  "
) -> None:
    """Columns padded to their widest cell; columns whose cells are all numbers are right-aligned."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [
        bool(rows) and all(_NUMBER.match(row[i]) or row[i] in ("-", "") for row in cells[1:])
        for i in range(len(header))
    ]
    for row in cells:
        parts = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ]
        print((indent + "  ".join(parts)).rstrip(), file=out)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


class ProgressBar:
    """``[#########.........]  45/100 jobs``: live on a terminal, one line per quarter otherwise."""

    def __init__(self, out: TextIO, label: str, total: int, *, unit: str = "", width: int = 32) -> None:
        self.out = out
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.width = width
        isatty = getattr(out, "isatty", None)
        self.live = bool(isatty()) if callable(isatty) else False
        self._quarters_shown = 0
        self._done = 0

    def render(self, done: int) -> str:
        total = max(self.total, done, 1)
        filled = round(self.width * min(done, total) / total)
        bar = "#" * filled + "." * (self.width - filled)
        digits = len(str(max(self.total, done)))
        unit = f" {self.unit}" if self.unit else ""
        return f"  {self.label} [{bar}] {done:>{digits}}/{max(self.total, done)}{unit}"

    def update(self, done: int) -> None:
        self._done = done
        if self.live:
            self.out.write("\r" + self.render(done))
            self.out.flush()
            return
        total = max(self.total, 1)
        quarters = min(4, (4 * done) // total)
        if quarters > self._quarters_shown:
            self._quarters_shown = quarters
            print(self.render(done), file=self.out)

    def finish(self) -> None:
        """End the bar's line (live), or print the final state if no quarter line showed it."""
        if self.live:
            self.out.write("\r" + self.render(self._done) + "\n")
            self.out.flush()
        elif self._quarters_shown < 4:
            print(self.render(self._done), file=self.out)
            self._quarters_shown = 4
