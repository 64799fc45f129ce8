"""Differential: storage.sql in the local runtime observes what Miniflare's ``ctx.storage.sql`` observes.

The Workers harness runs ``run_sql_sequence`` (tests/workers/checks/check_do_sql_differential.py) over
the real SQL storage of Miniflare's ``StorageProbe`` and returns its record and seed; here the same
seeded sequence runs over the local runtime, and every step must have observed the same columns,
rows (values and their Python types), ``rows_written`` of single writes and error classes. Other
seeds: ``CAP_DIFF_SEED=N``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObjectNamespace
from tests.cap_cloudflare_do.objects import Plain
from tests.support.differential import assert_same_record
from tests.workers.checks.check_do_sql_differential import (
    CLAIMS_WIN,
    STEPS,
    mixed_on,
    run_dedupe_claims,
    run_sql_sequence,
    seed_from,
)

if TYPE_CHECKING:
    from pathlib import Path

    from cap_cloudflare_do.sql import SqlCursor
    from tests.support.workers_harness import HarnessRun

pytestmark = pytest.mark.anyio


async def _local(tmp_path: Path, seed: int) -> list[Any]:
    async with DurableObjectNamespace.local(path=tmp_path, object_class=Plain) as ns:
        assert ns.runtime is not None
        storage = ns.runtime.storage(ns.id_from_name(f"sql-diff-{seed}"))

        async def execute(query: str, bindings: tuple[Any, ...]) -> SqlCursor:
            return storage.sql.exec(query, *bindings)

        async def transact(steps: list[tuple[str, tuple[Any, ...]]]) -> None:
            storage.transaction_sync(lambda: [storage.sql.exec(q, *b).to_array() for q, b in steps])

        mixed = mixed_on(storage, execute)
        record: list[Any] = json.loads(json.dumps(await run_sql_sequence(execute, transact, seed, mixed)))
        return record


@pytest.mark.workers
async def test_local_sql_matches_workers_sql(harness_run: HarnessRun, tmp_path: Path) -> None:
    got = harness_run.result("check_do_sql_differential::check_sql_sequence")
    assert got["seed"] == seed_from(os.environ.get("CAP_DIFF_SEED"))
    assert_same_record(await _local(tmp_path, got["seed"]), got["record"])


async def test_the_sequence_exercises_what_it_claims(tmp_path: Path) -> None:
    """Without the harness: the default seed reaches every kind of statement and outcome it should."""
    record = await _local(tmp_path, seed_from(None))
    steps = record[:-5]
    assert len(steps) == STEPS + 2
    errors = {step[3]["error"] for step in steps if "error" in step[3]}
    assert {"InvalidInput", "PreconditionFailed"} <= errors
    refused = {step[1].split(" (")[0] for step in steps if step[3].get("error") == "PreconditionFailed"}
    assert {"INSERT INTO tags", "DELETE FROM items WHERE id = ?", "INSERT INTO items"} <= refused, refused
    text = json.dumps(steps)
    for wanted in (
        "LEFT JOIN",
        "ORDER BY",
        "avg(qty)",
        '"bytes"',
        '"float"',
        "9007199254740992.0",
    ):
        assert wanted in text or wanted.strip('"') in text, wanted
    assert any(step[3].get("written", 0) > 0 for step in steps if "error" not in step[3])
    assert [r[:2] for r in record[-5:-3]] == [["commit", "ok"], ["rollback", "PreconditionFailed"]]
    assert record[-4][2] == [["tx", 2]]  # the failed block left nothing behind
    kv = {"mixed-commit": "v", "mixed-commit/direct": "v"}
    assert record[-3] == ["mixed commit", False, kv, [["mixed-commit", 3]]]
    assert record[-2] == ["mixed rollback", True, {}, [["mixed-commit", 3]]]  # neither API kept a write
    assert record[-1] == ["tables", [["_cf_KV"], ["items"], ["tags"]]]  # the key-value table: workerd's name


async def _local_claims(tmp_path: Path) -> list[int]:
    async with DurableObjectNamespace.local(path=tmp_path, object_class=Plain) as ns:
        assert ns.runtime is not None
        storage = ns.runtime.storage(ns.id_from_name("sql-dedupe"))

        async def execute(query: str, bindings: tuple[Any, ...]) -> SqlCursor:
            return storage.sql.exec(query, *bindings)

        return await run_dedupe_claims(execute)


async def test_the_dedupe_claim_writes_only_when_it_wins(tmp_path: Path) -> None:
    """``DedupeLedger`` reads a claim's ``rows_written``: above 0 exactly for the claims that win."""
    assert [w > 0 for w in await _local_claims(tmp_path)] == CLAIMS_WIN


@pytest.mark.workers
async def test_the_dedupe_claim_writes_only_when_it_wins_on_workers(
    harness_run: HarnessRun, tmp_path: Path
) -> None:
    """The same on Miniflare's SQL (which may count index entries too, so only "above 0" is compared)."""
    written = harness_run.result("check_do_sql_differential::check_dedupe_claim_statement")
    assert [w > 0 for w in written] == CLAIMS_WIN
    assert [w > 0 for w in await _local_claims(tmp_path)] == CLAIMS_WIN
