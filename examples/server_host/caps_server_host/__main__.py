"""``python -m caps_server_host [--host 127.0.0.1] [--port 8787]``: serve the demo flow with uvicorn.

Exit status 3 when the application refused to start (preflight or configuration; the reasons are in
the log on stderr), as ``uvicorn`` itself reports a failed start-up.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

STARTUP_FAILURE = 3


def configure_logging(level_name: str) -> None:
    """structlog as readable key=value lines on stderr, at ``level_name`` (and uvicorn's own logs)."""
    import structlog

    level = logging.getLevelNamesMapping()[level_name.upper()]
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m caps_server_host", description="Serve the cap-* demo flow over HTTP."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to bind (default: 8787)")
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("CAPS_LOG_LEVEL", "info"))

    import uvicorn

    from .app import create_app

    config = uvicorn.Config(
        create_app(),
        host=args.host,
        port=args.port,
        lifespan="on",
        access_log=False,  # the InvocationScope middleware logs every request, with what it did
        log_config=None,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(main())
