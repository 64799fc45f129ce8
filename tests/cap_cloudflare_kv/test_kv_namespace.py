"""The shared behaviour scenarios (``tests/workers/checks/check_kv_scenarios.py``) on CPython.

The same functions run against Miniflare's KV binding in the Workers harness (``check_kv.py``); here
they run against the memory backend and the local disk backend, with a controllable clock so the
expiration scenario passes time instead of sleeping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_kv import KvNamespace
from tests.workers.checks.check_kv_scenarios import SCENARIOS, Ctx, ManualClock

from .conftest import QUIET

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


def _open(backend: str, tmp_path: Path, clock: ManualClock) -> KvNamespace:
    if backend == "memory":
        return KvNamespace.from_url("memory://", settings=QUIET, clock=clock)
    return KvNamespace.local(tmp_path / "kv", settings=QUIET, clock=clock)


@pytest.mark.parametrize("backend", ["memory", "local"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_scenario(scenario: str, backend: str, tmp_path: Path, clock: ManualClock) -> None:
    async with _open(backend, tmp_path, clock) as kv:
        await SCENARIOS[scenario](kv, Ctx(prefix="run/", clock=clock))


async def test_scenarios_do_not_depend_on_a_prefix(tmp_path: Path, clock: ManualClock) -> None:
    """Keys at the namespace's top level (no common prefix) behave the same."""
    async with _open("local", tmp_path, clock) as kv:
        await SCENARIOS["keys_round_trip"](kv, Ctx(prefix="", clock=clock))
