"""Fixtures for the reliability tests (issue 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

# The Durable Object gateway Worker served by Miniflare (one per session; see that conftest). The DO
# soak and the secrets test reach it through the fault proxy and with wrong tokens.
from tests.cap_cloudflare_do.conftest import do_gateway

if TYPE_CHECKING:
    import pytest

__all__ = ["do_gateway"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The bad-input properties' figures: how many calls they made, by how each ended."""
    from .bad_input_judging import TALLY

    if TALLY:
        counts = ", ".join(f"{name} {count}" for name, count in TALLY.most_common())
        terminalreporter.write_line(f"bad input: {sum(TALLY.values())} calls ({counts})")
