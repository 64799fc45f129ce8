"""A ``Dedupe`` call that raises has claimed nothing (issue 13, "calls that fail change nothing").

Before the fix, a ttl too large for an alarm stored the claim and then failed setting the alarm: the
caller saw an error, the key stayed claimed, and the event was never processed. Each case here reads
the whole ledger object (entries and alarm) before and after the refused call, then claims the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import Dedupe
from cap_cloudflare_do.dedupe import MAX_DEDUPE_TTL_SECONDS
from cap_cloudflare_do.limits import ALARM_MAX_EPOCH_MS
from cap_opendal_core import InvalidInput, LimitExceeded
from tests.support.clock import FakeClock

if TYPE_CHECKING:
    from pathlib import Path

    from cap_opendal_core.errors import CapabilityError

pytestmark = pytest.mark.anyio

KEY = "event-1"

BAD_TTLS: list[tuple[str, Any, type[CapabilityError]]] = [
    ("1e20 s: past any alarm time", 1e20, LimitExceeded),
    ("8.64e12 s: a JS Date's range", 8.64e12, LimitExceeded),
    ("an int too large for a float", 10**400, LimitExceeded),
    ("a negative int too large for a float", -(10**400), InvalidInput),
    ("an int too large to print", 10**5000, LimitExceeded),
    ("one second past the longest claim", MAX_DEDUPE_TTL_SECONDS + 1, LimitExceeded),
    ("infinity", float("inf"), InvalidInput),
    ("nan", float("nan"), InvalidInput),
    ("zero", 0, InvalidInput),
]


async def _ledger_state(dedupe: Dedupe) -> tuple[dict[str, Any], int | None]:
    runtime = dedupe.namespace.runtime
    assert runtime is not None
    storage = runtime.storage(dedupe.namespace.id_from_name(dedupe.shard_of(KEY)))
    claims: dict[str, Any] = dict(await storage.list())  # nothing: the ledger keeps its claims in SQL
    if storage.sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name = 'dedupe_claims'").one()["n"]:
        rows = storage.sql.exec("SELECT key, expires FROM dedupe_claims").raw()
        claims.update((str(row[0]), row[1]) for row in rows)
    return claims, await storage.get_alarm()


@pytest.mark.parametrize(("name", "ttl", "error"), BAD_TTLS, ids=[c[0] for c in BAD_TTLS])
async def test_a_refused_ttl_claims_nothing(
    name: str, ttl: Any, error: type[CapabilityError], tmp_path: Path, clock: FakeClock
) -> None:
    async with Dedupe.local(tmp_path, clock=clock, shards=1) as dedupe:
        assert await dedupe.put_if_absent("other", ttl=60)  # a ledger with a claim and an alarm
        before = await _ledger_state(dedupe)
        with pytest.raises(error) as raised:
            await dedupe.put_if_absent(KEY, ttl=ttl)
        assert type(raised.value) is error
        assert "ttl" in str(raised.value)
        assert await _ledger_state(dedupe) == before
        assert await dedupe.put_if_absent(KEY, ttl=60) is True  # the event can still be processed


async def test_the_longest_ttl_is_accepted_and_purged_in_order(tmp_path: Path, clock: FakeClock) -> None:
    async with Dedupe.local(tmp_path, clock=clock, shards=1) as dedupe:
        assert await dedupe.put_if_absent("long", ttl=MAX_DEDUPE_TTL_SECONDS) is True
        assert await dedupe.put_if_absent("short", ttl=10) is True
        entries, alarm = await _ledger_state(dedupe)
        assert alarm == int((clock() + 10) * 1000)
        assert entries["long"] == int(clock() * 1000) + MAX_DEDUPE_TTL_SECONDS * 1000
        runtime = dedupe.namespace.runtime
        assert runtime is not None
        clock.advance(11)
        assert await runtime.run_due_alarms() == 1
        entries, alarm = await _ledger_state(dedupe)
        assert sorted(entries) == ["long"]
        assert alarm == entries["long"]


BAD_TTL_MS: list[tuple[str, Any]] = [
    ("past any alarm time", 10**20),
    ("a float", 1.5),
    ("a str", "60000"),
    ("a bool", True),
    ("zero", 0),
]


@pytest.mark.parametrize(("name", "ttl_ms"), BAD_TTL_MS, ids=[c[0] for c in BAD_TTL_MS])
async def test_the_ledger_checks_its_rpc_arguments_before_writing(
    name: str, ttl_ms: Any, tmp_path: Path, clock: FakeClock
) -> None:
    """Any RPC caller may reach the ledger object, not only ``Dedupe``: it checks what it receives."""
    async with Dedupe.local(tmp_path, clock=clock, shards=1) as dedupe:
        assert await dedupe.put_if_absent("other", ttl=60)
        before = await _ledger_state(dedupe)
        stub = dedupe.namespace.get(dedupe.namespace.id_from_name(dedupe.shard_of(KEY)))
        with pytest.raises(InvalidInput) as raised:
            await stub.call("put_if_absent", KEY, ttl_ms)
        assert raised.value.field == "ttl_ms"
        assert await _ledger_state(dedupe) == before
        assert await dedupe.put_if_absent(KEY, ttl=60) is True


async def test_an_expiry_the_index_cannot_order_is_refused_in_the_object(tmp_path: Path) -> None:
    """The object's clock decides the expiry; past the latest alarm time the runtime takes (year
    2262, below what the 15-digit index orders) it refuses."""
    clock = FakeClock(start=ALARM_MAX_EPOCH_MS / 1000 - 1000)
    async with Dedupe.local(tmp_path, clock=clock, shards=1) as dedupe:
        before = await _ledger_state(dedupe)
        with pytest.raises(InvalidInput, match="expire"):
            await dedupe.put_if_absent(KEY, ttl=10**7)
        assert await _ledger_state(dedupe) == before
        assert await dedupe.put_if_absent(KEY, ttl=60) is True
