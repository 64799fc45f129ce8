"""The five package folders, read from the one place that lists them: the root pyproject's workspace."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES: tuple[str, ...] = tuple(
    tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]["workspace"]["members"]
)
"""Package folders, core first (``cap_opendal_core``, then the four capabilities)."""
CORE = PACKAGES[0]
CAPABILITIES = PACKAGES[1:]
