"""Differential test: the local backend observably behaves as Miniflare's R2 binding does.

The Workers harness runs ``run_sequence`` (tests/workers/checks/check_r2_differential.py) against the
real binding and returns its record; here the same seeded sequence runs against ``R2Bucket.local`` and
every step must have observed the same thing (objects, bodies, conditions, ranges, errors, pages).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_r2 import R2Bucket
from tests.support.differential import assert_same_record
from tests.workers.checks.check_r2_differential import SETTINGS, TRANSFER, run_sequence, seed_from

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.workers_harness import HarnessRun

pytestmark = [pytest.mark.anyio, pytest.mark.workers]


async def test_local_backend_matches_the_miniflare_binding(harness_run: HarnessRun, tmp_path: Path) -> None:
    binding = harness_run.result("check_r2_differential::check_random_sequence")
    assert sorted(binding) == [
        str(seed_from(os.environ.get("CAP_DIFF_SEED")))
    ]  # other seeds: CAP_DIFF_SEED=N
    for seed in map(int, binding):
        async with R2Bucket.local(tmp_path / str(seed), settings=SETTINGS, transfer=TRANSFER) as bucket:
            # JSON round trip: the binding's record arrived as JSON (tuples became lists)
            local = json.loads(json.dumps(await run_sequence(bucket, seed, "diff/")))
        expected = binding[str(seed)]
        assert_same_record(local, expected)


async def test_the_sequence_exercises_what_it_claims(tmp_path: Path) -> None:
    """Without the harness: the sequence really covers conditions that fail and hold, ranges that
    cannot be served, absent keys and multi-page listings (else the comparison proves little)."""
    wanted = (
        "put_if:none",
        "put_if:value",
        "get:value",
        "get_if:none",
        "get_if:value",
        "get_range:value",
        "get_range:error:InvalidInput",
        "head:value",
        "list:paged",
        "small-parts:error:InvalidInput",
    )
    for seed in (seed_from(None),):
        kinds: set[str] = set()
        async with R2Bucket.local(tmp_path / str(seed), settings=SETTINGS, transfer=TRANSFER) as bucket:
            for entry in await run_sequence(bucket, seed, "cover/"):
                if entry[0] == "small-parts":
                    kinds.add(f"small-parts:error:{entry[1]['error']}")
                if not isinstance(entry[0], int):
                    continue
                _, op, _, _, result = entry
                if isinstance(result, dict) and "error" in result:
                    kinds.add(f"{op}:error:{result['error']}")
                elif result is None:
                    kinds.add(f"{op}:none")
                elif op == "list" and len(result) > 1:
                    kinds.add("list:paged")
                else:
                    kinds.add(f"{op}:value")
        missing = sorted(set(wanted) - kinds)
        assert not missing, f"seed {seed} never produced {missing}"
