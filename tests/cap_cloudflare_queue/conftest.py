"""Fixtures for the queue tests: a clock tests move by hand, quiet pipelines, a queue directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cap_opendal_core.layers import LayerSettings
from tests.support.clock import FakeClock

if TYPE_CHECKING:
    from pathlib import Path


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
