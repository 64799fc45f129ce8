"""Differential: DurableObjectStorage over the local runtime observes what it observes over Workers.

The Workers harness runs ``run_sequence`` (tests/workers/checks/check_do_differential.py) over the
real ``ctx.storage`` of Miniflare's ``StorageProbe`` and returns its record and seed; here the same
seeded sequence runs over the local runtime and every step must have observed the same thing —
values (datetimes to the millisecond), batch results, listings with every option, transactions,
alarms and the error class and field of every refusal. Other seeds: ``CAP_DIFF_SEED=N``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObjectNamespace
from tests.cap_cloudflare_do.objects import Alarmed
from tests.support.differential import assert_same_record
from tests.workers.checks.check_do_differential import STEPS, run_sequence, seed_from

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.workers_harness import HarnessRun

pytestmark = pytest.mark.anyio


async def _local(tmp_path: Path, seed: int) -> list[Any]:
    async with DurableObjectNamespace.local(tmp_path, Alarmed) as ns:
        assert ns.runtime is not None
        storage = ns.runtime.storage(ns.id_from_name(f"diff-{seed}"))
        record: list[Any] = json.loads(json.dumps(await run_sequence(storage, seed)))
        return record


@pytest.mark.workers
async def test_local_runtime_matches_workers_storage(harness_run: HarnessRun, tmp_path: Path) -> None:
    got = harness_run.result("check_do_differential::check_storage_sequence")
    assert got["seed"] == seed_from(os.environ.get("CAP_DIFF_SEED"))
    assert_same_record(await _local(tmp_path, got["seed"]), got["record"])


async def test_the_sequence_exercises_what_it_claims(tmp_path: Path) -> None:
    """Without the harness: the default seed reaches every operation and outcome it should."""
    record = await _local(tmp_path, seed_from(None))
    assert len(record) == STEPS + 1
    seen = set()
    for step in record[:-1]:
        _, op, _, result = step
        seen.add(op)
        if isinstance(result, dict) and "error" in result:
            seen.add(f"{op}:{result['error']}")
        if op == "transaction" and isinstance(result, list):
            seen.add(f"transaction:{result[0]}")
        if op == "list" and isinstance(result, dict) and len(result.get("dict", ())) > 1:
            seen.add("list:several")
        if op == "delete_all" and result[1] is not None:
            seen.add("delete_all:with_alarm")
    wanted = {
        "put", "put_many", "get", "get_many", "delete", "delete_many", "list", "list:several",
        "transaction:commit", "transaction:rollback", "transaction:raise", "alarm", "alarm:InvalidInput",
        "bad:InvalidInput", "bad:LimitExceeded", "delete_all", "delete_all:with_alarm",
    }  # fmt: skip
    assert not wanted - seen, sorted(wanted - seen)
