"""Where the tests' fixed inputs live: ``tests/fixtures/`` inside this repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
FLOWIR = FIXTURES / "flowir"


def example_flow(name: str) -> Path:
    """Path of one of the Flow IR example flows (``etl_logs``, ``s2_site``)."""
    path = FLOWIR / f"{name}.flow_ir.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from tests/fixtures/flowir")
    return path
