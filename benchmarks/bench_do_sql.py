"""The local runtime's SQL API and the Dedupe ledger against raw ``sqlite3`` doing the same work.

Run: ``.venv/bin/python benchmarks/bench_do_sql.py [--ops N] [--repeats R]``

Cases (each on a fresh temporary directory, WAL, ``synchronous=NORMAL`` on both sides):

* **exec SELECT** — ``storage.sql.exec("SELECT v FROM t WHERE k = ?", k).one()`` inside one object
  (a primary-key lookup in a table of N rows) vs ``conn.execute(...).fetchone()``;
* **exec INSERT** — ``storage.sql.exec("INSERT INTO t (k, v) VALUES (?, ?)", …)``, each its own
  commit, vs the same ``conn.execute`` in autocommit;
* **Dedupe claims** — ``await dedupe.put_if_absent(key, ttl=3600)`` through the whole public path
  (checks, the pipeline, RPC to the ledger object, its SQL) vs raw ``INSERT OR IGNORE`` + commit per
  claim into an identical table.

The two sides take turns in chunks of 50 operations, alternating which goes first; results are
medians with min..max. Goals (issue 20): each case at least 50% of its raw rate.
"""

from __future__ import annotations

import argparse
import inspect
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from cap_cloudflare_do import Dedupe, DurableObject, DurableObjectNamespace

if TYPE_CHECKING:
    from collections.abc import Callable

GOAL_SHARE = 0.5
CASES = ("exec SELECT", "exec INSERT", "Dedupe claims")


class Table(DurableObject):
    pass


def _raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


CHUNK = 50
"""Operations per turn: the two sides take turns in chunks this small, so a change in the machine's
load during a repeat weighs on both alike."""


async def _interleaved(
    ops: int, mine: Callable[[int], Any], theirs: Callable[[int], Any]
) -> tuple[float, float]:
    """Rates of ``mine`` (awaited when it returns an awaitable) and ``theirs``, taking turns by chunk
    and alternating which goes first."""
    spent = [0.0, 0.0]
    for start in range(0, ops, CHUNK):
        order = ((0, mine), (1, theirs)) if (start // CHUNK) % 2 == 0 else ((1, theirs), (0, mine))
        for side, fn in order:
            begun = time.perf_counter()
            for i in range(start, min(ops, start + CHUNK)):
                result = fn(i)
                if inspect.isawaitable(result):
                    await result
            spent[side] += time.perf_counter() - begun
    return ops / spent[0], ops / spent[1]


async def _sql_case(case: str, ops: int, root: Path) -> tuple[float, float]:
    async with DurableObjectNamespace.local(path=root / "ns", object_class=Table) as ns:
        assert ns.runtime is not None
        sql = ns.runtime.storage(ns.id_from_name("bench")).sql
        sql.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        raw = _raw(root / "raw.sqlite3")
        raw.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        if case == "exec SELECT":
            rows = [(i, f"value-{i}") for i in range(ops)]
            sql.exec(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
                "INSERT INTO t (k, v) SELECT i, 'value-' || i FROM n",
                ops,
            )
            raw.executemany("INSERT INTO t (k, v) VALUES (?, ?)", rows)
            query = "SELECT v FROM t WHERE k = ?"

            def mine(i: int) -> Any:
                return sql.exec(query, i).one()

            def theirs(i: int) -> Any:
                return raw.execute(query, (i,)).fetchone()
        else:
            query = "INSERT INTO t (k, v) VALUES (?, ?)"

            def mine(i: int) -> Any:
                return sql.exec(query, i, "v")

            def theirs(i: int) -> Any:
                return raw.execute(query, (i, "v"))

        rates = await _interleaved(ops, mine, theirs)
        raw.close()
        return rates


async def _dedupe_case(ops: int, root: Path) -> tuple[float, float]:
    raw = _raw(root / "raw.sqlite3")
    raw.execute("CREATE TABLE claims (key TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID")
    raw.execute("CREATE INDEX claims_by_expiry ON claims (expires) WHERE expires > 0")
    insert = "INSERT OR IGNORE INTO claims (key, expires) VALUES (?, ?)"
    async with Dedupe.local(root / "ledger", shards=1) as dedupe:
        await dedupe.put_if_absent("warm-up", ttl=3600)
        rates = await _interleaved(
            ops,
            lambda i: dedupe.put_if_absent(f"key-{i}", ttl=3600),
            lambda i: raw.execute(insert, (f"key-{i}", i)),
        )
    raw.close()
    return rates


def measure(case: str, ops: int, repeats: int) -> tuple[list[float], list[float]]:
    """``(ours, raw)`` rates in operations per second, one of each per repeat."""
    ours: list[float] = []
    floor: list[float] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            if case == "Dedupe claims":
                a, b = anyio.run(_dedupe_case, ops, Path(tmp))
            else:
                a, b = anyio.run(_sql_case, case, ops, Path(tmp))
        ours.append(a)
        floor.append(b)
    return ours, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for case in CASES:
        ours, floor = measure(case, args.ops, args.repeats)
        share = statistics.median(ours) / statistics.median(floor)
        print(
            f"{case:14} ours {statistics.median(ours):>10,.0f}/s  raw {statistics.median(floor):>10,.0f}/s  "
            f"share {share:.0%}  goal ≥ {GOAL_SHARE:.0%}"
        )


if __name__ == "__main__":
    main()
