"""Soak through network faults, the same way for every capability: a few thousand mixed operations
through the fault proxy (5xx, 429, resets, stalls, requests held up and landing late), then the
judgement — every error a ``CapabilityError`` of the right kind, no call past its deadline, no
acknowledged write lost, nothing repeated that must not be, every stored state one the history allows.

The shared run (plan, proxy, ledger, lag watch, quiet wait, report) is
:func:`tests.reliability.soak_support.soak_through_faults`; each capability's operation mix and oracle
is its scenario in ``tests/reliability/soak_scenarios/<capability>.py``. Durable Objects are soaked
through the gateway Worker under Miniflare (the ``workers`` mark).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.reliability.soak_scenarios import do, kv, queue, r2
from tests.reliability.soak_support import soak_through_faults

if TYPE_CHECKING:
    from tests.reliability.soak_support import SoakScenario

pytestmark = pytest.mark.anyio


def _scenario(capability: str, request: pytest.FixtureRequest) -> SoakScenario:
    """The scenario, with the session's stand-ins it needs (moto, the gateway under Miniflare)."""
    if capability == "kv":
        return kv.KvSoak()
    if capability == "queue":
        return queue.QueueSoak()
    if capability == "r2":
        return r2.R2Soak(request.getfixturevalue("moto_s3"))
    if capability == "do":
        return do.DoSoak(request.getfixturevalue("do_gateway"))
    raise AssertionError(capability)


@pytest.mark.parametrize("capability", ["kv", "queue", "r2", pytest.param("do", marks=pytest.mark.workers)])
async def test_soak_through_faults(
    capability: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    await soak_through_faults(_scenario(capability, request), capsys)
