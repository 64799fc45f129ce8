"""Where the read-only reference material lives: ``shared/`` beside the clone (as in CI)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
FLOWIR = SHARED / "reference" / "flowir"


def example_flow(name: str) -> Path:
    """Path of one of the reference Flow IR examples (``etl_logs``, ``s2_site``)."""
    path = FLOWIR / f"{name}.flow_ir.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: shared/ must sit beside the repository clone")
    return path
