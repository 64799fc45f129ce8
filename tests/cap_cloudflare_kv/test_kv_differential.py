"""Differential: the seeded random put/get/delete/list sequence observes the same on both sides.

The Workers harness runs ``random_ops`` against Miniflare's real KV binding
(``check_kv::check_differential_random_ops``) and returns what each step observed; this replays the
same seed against the local disk backend and compares, step by step.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_kv import KvNamespace
from tests.workers.checks.check_kv_scenarios import DIFFERENTIAL_OPS, ManualClock, random_ops, seed_from

from .conftest import QUIET

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.workers_harness import HarnessRun


@pytest.mark.workers
@pytest.mark.anyio
async def test_local_backend_matches_the_miniflare_binding(harness_run: HarnessRun, tmp_path: Path) -> None:
    got: dict[str, Any] = harness_run.result("check_kv::check_differential_random_ops")
    assert got["seed"] == seed_from(os.environ.get("CAP_DIFF_SEED"))  # other seeds: CAP_DIFF_SEED=N
    workers: list[Any] = got["steps"]
    async with KvNamespace.local(tmp_path / "kv", settings=QUIET, clock=ManualClock()) as kv:
        local = await random_ops(kv, prefix="diff/", seed=got["seed"])
    assert len(local) == len(workers) == DIFFERENTIAL_OPS + 1
    kinds = {step[0] for step in local}
    assert kinds == {"put", "get", "text", "delete", "list", "final"}, "the sequence exercises every op"
    assert any(step[0] == "list" and step[3] for step in local), "some listings return keys"
    assert any(step[0] == "get" and step[3] is not None for step in local), "some reads see metadata"
    for index, (mine, theirs) in enumerate(zip(local, workers, strict=True)):
        assert mine == theirs, f"step {index} differs: local {mine!r}, Miniflare {theirs!r}"
