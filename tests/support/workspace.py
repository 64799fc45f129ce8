"""The package folders, read from the one place that lists them: the root pyproject's workspace."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRIVATE = "Private :: Do Not Upload"
"""The classifier of a workspace member that is not published (the package index refuses it)."""


def _classifiers(folder: str) -> list[str]:
    project = tomllib.loads((REPO / folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    classifiers: list[str] = project.get("classifiers", [])
    return classifiers


MEMBERS: tuple[str, ...] = tuple(
    tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]["workspace"]["members"]
)
"""Every workspace member: the six published packages and ``cap_demo`` (the demo flow, never published)."""
PACKAGES: tuple[str, ...] = tuple(m for m in MEMBERS if PRIVATE not in _classifiers(m))
"""The six published package folders: ``cap_opendal_core`` first, the four capabilities, ``cap_testing``."""
CORE = PACKAGES[0]
TESTING = "cap_testing"
"""The pytest plugin: published with the capabilities, but not one itself."""
CAPABILITIES = tuple(p for p in PACKAGES[1:] if p != TESTING)
