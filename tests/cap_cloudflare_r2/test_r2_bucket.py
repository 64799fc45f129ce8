"""The shared R2 scenarios (tests/workers/checks/check_r2.py) on memory, local fs and moto's S3 server.

The Workers harness runs the same functions against Miniflare's R2 binding (``check_r2::check_*``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.workers.checks.check_r2 import SCENARIOS, new_prefix

if TYPE_CHECKING:
    from cap_cloudflare_r2 import R2Bucket

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_scenario(scenario: str, bucket: R2Bucket) -> None:
    await SCENARIOS[scenario](bucket, new_prefix(scenario))
