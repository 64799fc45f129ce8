"""Dedupe: exactly one winner per key while the claim lives; TTLs by an injected clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from cap_cloudflare_do import Dedupe, DedupeLedger, DurableObjectNamespace
from cap_opendal_core import InvalidInput, LimitExceeded
from tests.cap_cloudflare_do.objects import Counter

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


async def test_50_concurrent_claims_of_one_key_have_one_winner(tmp_path: Path) -> None:
    async with Dedupe.local(tmp_path) as dedupe:
        results: list[bool] = []

        async def claim() -> None:
            results.append(await dedupe.put_if_absent("event-1", ttl=3600))

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(claim)
        assert len(results) == 50
        assert results.count(True) == 1


async def test_claims_across_many_keys_and_shards(tmp_path: Path) -> None:
    async with Dedupe.local(tmp_path, shards=8) as dedupe:
        keys = [f"k{i}" for i in range(40)]
        winners: dict[str, int] = dict.fromkeys(keys, 0)

        async def claim(key: str) -> None:
            if await dedupe.put_if_absent(key):
                winners[key] += 1

        async with anyio.create_task_group() as group:
            for key in keys * 3:
                group.start_soon(claim, key)
        assert set(winners.values()) == {1}
        assert len({dedupe.shard_of(k) for k in keys}) > 1  # spread over several objects
        assert dedupe.shard_of("k1") == dedupe.shard_of("k1")
        assert dedupe.namespace.runtime is not None
        assert dedupe.namespace.runtime.instance_count <= 8


async def test_keys_stay_on_the_shard_they_always_had() -> None:
    """Keys must not move between releases (a moved key could be claimed twice): these names are
    what the first SQL ledger computed."""
    keys = ("k1", "event-123", "é")
    async with Dedupe.local(":memory:") as dedupe:
        assert [dedupe.shard_of(k) for k in keys] == ["dedupe:8", "dedupe:48", "dedupe:19"]
    async with Dedupe.local(":memory:", shards=8) as dedupe:
        assert [dedupe.shard_of(k) for k in keys] == ["dedupe:0", "dedupe:0", "dedupe:3"]
    async with Dedupe.local(":memory:", shards=1) as dedupe:
        assert dedupe.shard_of("k1") == dedupe.shard_of("anything") == "dedupe:0"


async def test_key_size_is_counted_in_utf8_bytes(tmp_path: Path) -> None:
    class Key(str):
        pass

    async with Dedupe.local(tmp_path) as dedupe:
        assert await dedupe.put_if_absent("a" * 2048) is True
        assert await dedupe.put_if_absent("é" * 1024) is True  # 2,048 bytes
        assert await dedupe.put_if_absent(Key("sub"), ttl=1.5) is True
        assert await dedupe.put_if_absent("sub") is False
        with pytest.raises(LimitExceeded):
            await dedupe.put_if_absent("é" * 1024 + "a")
        with pytest.raises(InvalidInput, match="surrogate"):
            await dedupe.put_if_absent("\ud800")


async def test_ttl_expiry_and_forget(tmp_path: Path, clock: FakeClock) -> None:
    async with Dedupe.local(tmp_path, clock=clock) as dedupe:
        assert await dedupe.put_if_absent("job", ttl=60) is True
        assert await dedupe.put_if_absent("job", ttl=60) is False
        clock.advance(59.9)
        assert await dedupe.put_if_absent("job") is False
        clock.advance(0.2)
        assert await dedupe.put_if_absent("job") is True  # expired: claimable again, now for ever
        clock.advance(10**6)
        assert await dedupe.put_if_absent("job") is False
        assert await dedupe.forget("job") is True
        assert await dedupe.forget("job") is False
        assert await dedupe.put_if_absent("job", ttl=0.001) is True


async def test_claims_survive_a_restart(tmp_path: Path) -> None:
    async with Dedupe.local(tmp_path) as dedupe:
        assert await dedupe.put_if_absent("once") is True
    async with Dedupe.local(tmp_path) as dedupe:
        assert await dedupe.put_if_absent("once") is False


async def test_expired_claims_are_purged_by_the_alarm(tmp_path: Path, clock: FakeClock) -> None:
    async with Dedupe.local(tmp_path, clock=clock, shards=1) as dedupe:
        ns = dedupe.namespace
        runtime = ns.runtime
        assert runtime is not None
        for i in range(70):  # more than one purge page
            assert await dedupe.put_if_absent(f"short{i}", ttl=10)
        assert await dedupe.put_if_absent("long", ttl=1000)
        assert await dedupe.put_if_absent("forever")
        storage = runtime.storage(ns.id_from_name(dedupe.shard_of("long")))
        claims = "SELECT key FROM dedupe_claims ORDER BY key"
        assert len(storage.sql.exec(claims).to_array()) == 72
        clock.advance(11)
        assert await runtime.run_due_alarms() == 1
        assert storage.sql.exec(claims).raw().to_array() == [["forever"], ["long"]]
        assert await storage.get_alarm() == int((clock() + 989) * 1000)
        assert await dedupe.put_if_absent("short3") is True


async def test_claims_kept_in_key_value_storage_are_adopted(tmp_path: Path, clock: FakeClock) -> None:
    """A ledger written by the key-value version (``k:<key>`` entries and an ``x:`` expiry index)
    keeps its claims: the first instance moves them into the SQL table."""
    dedupe = Dedupe.local(tmp_path, clock=clock, shards=1)
    runtime = dedupe.namespace.runtime
    assert runtime is not None
    storage = runtime.storage(dedupe.namespace.id_from_name(dedupe.shard_of("old")))
    later = int((clock() + 60) * 1000)
    earlier = int((clock() - 60) * 1000)
    await storage.put({"k:old": 0, "k:timed": later, f"x:{later:015d}:timed": 1, "k:gone": earlier})
    async with dedupe:
        assert await dedupe.put_if_absent("old") is False
        assert await dedupe.put_if_absent("timed") is False
        assert await dedupe.put_if_absent("gone") is True  # expired: free again
        assert await storage.list() == {}
        clock.advance(61)
        assert await dedupe.put_if_absent("timed") is True


async def test_bad_input_is_refused_before_any_io(tmp_path: Path) -> None:
    dedupe = Dedupe.local(tmp_path)
    for key in ("", 5, None):
        with pytest.raises(InvalidInput):
            await dedupe.put_if_absent(key)  # type: ignore[arg-type]
    with pytest.raises(LimitExceeded):
        await dedupe.put_if_absent("k" * 2049)
    for ttl in (0, -1, float("nan"), "1", True):
        with pytest.raises(InvalidInput, match="ttl"):
            await dedupe.put_if_absent("k", ttl=ttl)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="shards"):
        Dedupe(DurableObjectNamespace.local(":memory:", DedupeLedger), shards=0)
    with pytest.raises(InvalidInput, match="DurableObjectNamespace"):
        Dedupe(object())  # type: ignore[arg-type]
    assert dedupe.namespace.runtime is not None
    assert dedupe.namespace.runtime.instance_count == 0
    await dedupe.aclose()


async def test_a_namespace_of_another_class_is_refused() -> None:
    async with DurableObjectNamespace.local(":memory:", Counter) as ns:
        with pytest.raises(InvalidInput, match="ledger protocol"):
            Dedupe(ns)
