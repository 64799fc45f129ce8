"""Fixtures for the reliability tests (issue 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The bad-input properties' figures: how many calls they made, by how each ended."""
    from .bad_input_judging import TALLY

    if TALLY:
        counts = ", ".join(f"{name} {count}" for name, count in TALLY.most_common())
        terminalreporter.write_line(f"bad input: {sum(TALLY.values())} calls ({counts})")
