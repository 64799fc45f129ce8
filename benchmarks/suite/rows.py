"""The suite's rows, by number: title, and the function that measures it (imported when it runs).

Each row runs in a process of its own (``run_all.py --child-row N``): rows set up logging, servers and
event loops of their own, a crash or a hang stays in its row, and one row's memory does not inflate
the next one's figures (row 4 measures RSS).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .table import RowReport

__all__ = ["ROWS", "RowSpec", "measure"]


@dataclass(frozen=True)
class RowSpec:
    number: int
    title: str
    module: str
    function: str
    minutes: float
    """Rough full-size duration on a lightly loaded 2-core machine, for the progress line."""


ROWS: dict[int, RowSpec] = {
    spec.number: spec
    for spec in (
        RowSpec(1, "Layer pipeline overhead per call", "row_pipeline", "run", 0.3),
        RowSpec(2, "KV get/put 1 KiB, memory backend, vs bare OpenDAL", "row_kv", "run", 0.5),
        RowSpec(
            3,
            "R2 on S3: PUT + GET of 1 KiB / 64 KiB / 8 MiB vs aiobotocore, bare OpenDAL, obstore",
            "row_r2",
            "run_throughput",
            7.0,
        ),
        RowSpec(4, "R2 1 GiB stream up and down: peak RSS of every client", "row_r2", "run_large", 4.0),
        RowSpec(5, "Import cost beyond asyncio", "row_imports", "run", 0.6),
        RowSpec(6, "KV put_many on the REST backend vs a loop of single puts", "row_kv_rest", "run", 2.5),
        RowSpec(7, "Local queue: send in batches of 100 + consume with acks", "row_local", "run_queue", 0.5),
        RowSpec(8, "Local Durable Objects runtime, requests/s", "row_local", "run_durable_objects", 0.5),
        RowSpec(9, "Workers path in the harness: capability vs raw binding", "row_workers", "run", 1.7),
        RowSpec(
            10,
            "Local KV (embedded engine) get/put 1 KiB vs sqlite3 and fsync floors",
            "row_embedded",
            "run_kv",
            0.5,
        ),
        RowSpec(
            11,
            "Local R2 (embedded engine) get/put 1 KiB and conditional puts vs file floors",
            "row_embedded",
            "run_r2",
            0.7,
        ),
        RowSpec(
            12,
            "Local KV first page and R2 full listing at 1k / 10k / 100k keys",
            "row_embedded",
            "run_listing",
            2.5,
        ),
        RowSpec(13, "First .local() after import, fresh interpreter", "row_embedded", "run_first_local", 0.3),
        RowSpec(
            14,
            "Sync API: 8 threads vs async tasks (KV memory, in the caller's thread), vs boto3 (R2 moto)",
            "row_sync",
            "run",
            1.0,
        ),
        RowSpec(
            15, "Local Durable Objects SQL: exec and Dedupe claims vs raw sqlite3", "row_do_sql", "run", 1.0
        ),
    )
}


def measure(number: int, quick: bool) -> RowReport:
    spec = ROWS[number]
    module = importlib.import_module(f"benchmarks.suite.{spec.module}")
    report: RowReport = getattr(module, spec.function)(quick)
    return report
