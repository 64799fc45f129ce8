"""``caps demo``: the demo flow as a ``caps`` sub-command, added through core's entry point group
``cap_opendal_core.commands`` (:mod:`cap_opendal_core.commands`).

``caps`` imports this module on every run to list the command, so it imports only :mod:`argparse`,
:mod:`os` and :mod:`pathlib`; the flow and the capability packages load inside :func:`_run`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cap_opendal_core.commands import Command

if TYPE_CHECKING:
    import argparse

__all__ = ["COMMAND"]


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".caps") / "demo",
        metavar="DIR",
        help="where the local backends keep their data (default: .caps/demo); reused by the next run",
    )
    p.add_argument(
        "--events",
        type=int,
        default=100,
        metavar="N",
        help="how many events to ingest, 1 to 10000 (default: 100); the same N events every run",
    )
    keep = p.add_mutually_exclusive_group()
    keep.add_argument(
        "--keep",
        dest="clean",
        action="store_false",
        help="keep the data directory afterwards, so the next run finds this one's data (default)",
    )
    keep.add_argument(
        "--clean", dest="clean", action="store_true", help="delete the data directory afterwards"
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log every capability call (structlog, on stderr)"
    )
    p.add_argument(
        "--otel",
        action="store_true",
        default=os.environ.get("CAP_OTEL", "").strip().lower() in ("1", "true", "yes", "on"),
        help="record the run's OpenTelemetry spans and print them as a tree (needs opentelemetry-sdk; "
        "also on with CAP_OTEL=1)",
    )
    p.set_defaults(clean=False)


def _run(args: argparse.Namespace) -> int:
    from .run import run_demo

    return run_demo(
        data_dir=args.data_dir, events=args.events, clean=args.clean, verbose=args.verbose, otel=args.otel
    )


COMMAND = Command(
    help="run the demo flow end to end on the embedded local backends (no account, no network)",
    description=(
        "Runs the demo flow on the embedded local backends (files and SQLite under --data-dir): "
        "ingest N events (store each payload in R2, index it in KV, enqueue a job per event), "
        "consume the jobs with exactly-once effects through Dedupe, and keep a summary. Prints the "
        "installed plugins, the validator's verdict (and one deliberately wrong node it catches), "
        "preflight, each node's declared effects/determinism against what its invocation scope "
        "observed, metrics per capability and operation, and where the data lives. Running it "
        "again is safe: it finds the events already ingested and every job already counted. "
        "Needs the four capability packages; no account, configuration or network."
    ),
    epilog="Exit codes: 0 every node did what it declared, 1 an unexpected diagnostic, 2 bad input.",
    add_arguments=_add_arguments,
    run=_run,
)
