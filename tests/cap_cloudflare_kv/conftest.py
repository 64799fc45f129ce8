"""Fixtures for cap_cloudflare_kv: local namespaces on a controllable clock, and the REST stand-in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.support.cf_kv_api import ACCOUNT_ID, NAMESPACE_ID, KvApi, kv_api_server
from tests.workers.checks.check_kv_scenarios import ManualClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

QUIET = LayerSettings(logging=False)
"""Default layers without the per-call log line (tests assert on behaviour, not on stdout)."""

FAST_RETRY = LayerSettings(logging=False, retry=RetryPolicy(attempts=3, base=0.001, cap=0.01))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def memory_kv(clock: ManualClock) -> AsyncIterator[KvNamespace]:
    async with KvNamespace.from_url("memory://", settings=QUIET, clock=clock) as kv:
        yield kv


@pytest.fixture
async def local_kv(tmp_path: Path, clock: ManualClock) -> AsyncIterator[KvNamespace]:
    async with KvNamespace.local(tmp_path / "kv", settings=QUIET, clock=clock) as kv:
        yield kv


@pytest.fixture(scope="session")
def _kv_api_session() -> Iterator[KvApi]:
    with kv_api_server() as state:
        yield state


@pytest.fixture
def kv_api(_kv_api_session: KvApi) -> KvApi:
    """The session's stand-in, emptied: no entries, no queued faults, no recorded requests."""
    _kv_api_session.reset()
    return _kv_api_session


def rest_config(state: KvApi, **overrides: object) -> CloudflareKvConfig:
    fields: dict[str, Any] = {
        "account_id": ACCOUNT_ID,
        "namespace_id": NAMESPACE_ID,
        "api_token": state.api.token,
        "base_url": state.api.base_url,
        "timeout": 5.0,
    }
    fields.update(overrides)
    return CloudflareKvConfig(**fields)


@pytest.fixture
async def rest_kv(kv_api: KvApi) -> AsyncIterator[KvNamespace]:
    async with KvNamespace.from_config(rest_config(kv_api), settings=FAST_RETRY) as kv:
        yield kv
