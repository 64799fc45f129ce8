"""Fixtures for the queue tests: a clock tests move by hand, quiet pipelines, a queue directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cap_opendal_core.layers import LayerSettings

if TYPE_CHECKING:
    from pathlib import Path


class FakeClock:
    """Epoch seconds that only move when a test says so: leases and delays without sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def quiet() -> LayerSettings:
    """The default layers without the log line per call (the tests assert behaviour, not logs)."""
    return LayerSettings(logging=False)


@pytest.fixture
def qdir(tmp_path: Path) -> Path:
    return tmp_path / "queues"
