"""The package's structlog logger, imported on first use (a Worker pays for every import at start)."""

from __future__ import annotations

from typing import Any

__all__ = ["logger"]

LOGGER_NAME = "cap_cloudflare_queue"


def logger() -> Any:
    import structlog

    return structlog.get_logger(LOGGER_NAME)
