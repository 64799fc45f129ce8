"""Crash safety, the same way for every capability that stores keys: KV, R2 and Durable Object storage.

For each, a writer process (``tests/reliability/crash_writers/<capability>_writer.py``) works on one
directory until it is SIGKILLed at a seeded random moment; the store is reopened, read back by the
capability's own oracle (``tests/reliability/crash_readers/<capability>.py``: torn values, mixed
metadata, listings) and judged by the shared ledger (no acknowledged write lost, an in-flight batch
all or nothing, no phantom key); then the next writer starts on the same directory
(:func:`~tests.reliability.crash_writers.harness.survives_kills`). The queue's crash test
(``tests/reliability/test_crash_queue.py``) judges deliveries, not keys, and stays on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.reliability.crash_readers import do, kv, r2
from tests.reliability.crash_writers.harness import survives_kills

if TYPE_CHECKING:
    from pathlib import Path

    from tests.reliability.crash_writers.harness import ReadBack

SCENARIOS: dict[str, tuple[str, ReadBack]] = {
    "kv": ("kv", kv.read_back),
    "r2": ("bucket", r2.read_back),
    "do": ("objects", do.read_back),
}
"""Capability → (the directory its store lives in, its oracle)."""


@pytest.mark.parametrize("capability", sorted(SCENARIOS))
def test_local_store_survives_sigkill_at_random_points(tmp_path: Path, capability: str) -> None:
    directory, read_back = SCENARIOS[capability]
    writer = f"tests.reliability.crash_writers.{capability}_writer"
    survives_kills(capability, writer, tmp_path / directory, read_back)
