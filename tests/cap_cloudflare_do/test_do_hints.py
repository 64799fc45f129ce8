"""Hints and the determinism downgrade: reads allow Stable, the first write drops to BestEffort."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import Dedupe, DurableObject, DurableObjectNamespace
from cap_opendal_core import CapabilityBag, InvalidInput
from cap_opendal_core.scope import InvocationScope
from tests.cap_cloudflare_do.objects import Counter

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

READ = "resource::state::read"
WRITE = "resource::state::write"


async def test_storage_reads_are_stable_until_the_first_write(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        assert ns.runtime is not None
        storage = ns.runtime.storage(ns.id_from_name("hints"))
        with InvocationScope("node") as scope:
            await storage.get("a")
            await storage.get(["a", "b"])
            await storage.list(prefix="a")
            await storage.get_alarm()
            assert scope.observed_determinism.json == "stable"
            assert scope.observed_effects.json == "read_only"
            assert scope.effect_hints == (READ,)
            await storage.put("a", 1)
            assert scope.observed_determinism.json == "best_effort"
            assert scope.observed_effects.json == "effectful"
            await storage.get("a")  # reading again does not undo the downgrade
            assert scope.observed_determinism.json == "best_effort"
        assert list(scope.effect_hints) == [READ, WRITE]
        assert scope.determinism_hints == (READ, "resource::state")
        assert scope.subrequests_used == 0  # storage inside an object is not a sub-request
        assert sorted(d.code for d in scope.check("read_only", "stable")) == ["DET301", "DET302", "EFFECT201"]


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda s: s.delete("a"), "best_effort"),
        (lambda s: s.delete_all(), "best_effort"),
        (lambda s: s.set_alarm(0), "best_effort"),
        (lambda s: s.delete_alarm(), "best_effort"),
    ],
)
async def test_every_storage_write_downgrades(write: Any, expected: str) -> None:
    class WithAlarm(DurableObject):
        async def alarm(self) -> None: ...

    async with DurableObjectNamespace.local(":memory:", WithAlarm) as ns:
        assert ns.runtime is not None
        storage = ns.runtime.storage(ns.id_from_name("w"))
        with InvocationScope() as scope:
            await write(storage)
        assert scope.observed_determinism.json == expected


async def test_transactions_record_a_write_only_when_they_write(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        assert ns.runtime is not None
        storage = ns.runtime.storage(ns.id_from_name("txn"))
        with InvocationScope() as scope:
            async with storage.transaction() as txn:
                await txn.get("a")
            assert scope.observed_determinism.json == "stable"
            async with storage.transaction() as txn:
                await txn.put("a", 1)
            assert scope.observed_determinism.json == "best_effort"


async def test_read_only_rpc_records_a_read_and_other_rpc_a_write(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        stub = ns.get_by_name("rpc")
        with InvocationScope("caller", subrequest_budget=10) as scope:
            await stub.get_count()
            await stub.fetch("https://do/")  # Counter lists "fetch" in read_only
            assert scope.observed_determinism.json == "stable"
            assert scope.effect_hints == (READ,)
            await stub.increment(1)
            assert scope.observed_determinism.json == "best_effort"
        assert list(scope.effect_hints) == [READ, WRITE]
        # the object's own storage calls ran outside the caller's scope: only the 3 calls count
        assert scope.subrequests_used == 3
        assert [(r.operation, r.effect_hint) for r in scope.records] == [
            ("rpc", READ),
            ("fetch", READ),
            ("rpc", WRITE),
        ]


async def test_an_object_run_does_not_record_into_its_callers_scope(tmp_path: Path) -> None:
    class Liar(DurableObject):
        read_only = frozenset({"peek"})

        async def peek(self) -> None:
            await self.storage.put("written", True)  # declared read-only, but writes

        async def inner_scope(self) -> list[str]:
            with InvocationScope("inside") as inner:
                await self.storage.get("x")
                first = inner.observed_determinism.json
                await self.storage.put("x", 1)
            return [first, inner.observed_determinism.json]

    async with DurableObjectNamespace.local(tmp_path, Liar) as ns:
        with InvocationScope("caller") as scope:
            await ns.get_by_name("l").peek()
            assert scope.observed_determinism.json == "stable"
            assert await ns.get_by_name("l").inner_scope() == ["stable", "best_effort"]


async def test_the_budget_refuses_a_call_before_it_is_made(tmp_path: Path) -> None:
    from cap_opendal_core import LimitExceeded

    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        stub = ns.get_by_name("budget")
        with InvocationScope(subrequest_budget=1):
            await stub.increment(1)
            with pytest.raises(LimitExceeded):
                await stub.increment(1)
        assert await stub.get_count() == 1


async def test_dedupe_records_dedupe_hints(tmp_path: Path) -> None:
    async with Dedupe.local(tmp_path) as dedupe:
        with InvocationScope() as scope:
            await dedupe.put_if_absent("k")
            await dedupe.forget("k")
        assert scope.effect_hints == ("resource::dedupe::write",)
        assert scope.determinism_hints == ("resource::dedupe",)
        assert scope.observed_determinism.json == "best_effort"


async def test_capabilities_describe_themselves_to_the_bag(tmp_path: Path) -> None:
    ns = DurableObjectNamespace.local(tmp_path / "ns", Counter)
    dedupe = Dedupe.local(tmp_path / "dd")
    bag = CapabilityBag({"FLOW_DO": ns, "DEDUPE": dedupe})
    for name in ("FLOW_DO", "DEDUPE"):
        entry = bag.entry(name)
        assert entry.kind == "durable_object"
        assert entry.descriptor is not None
        assert (entry.descriptor.consistency, entry.descriptor.durability) == ("strong", "durable")
        assert entry.descriptor.reservation == "atomic"
    assert bag.providers_of("resource::dedupe::write") == ("FLOW_DO", "DEDUPE")
    assert bag.providers_of("resource::state::read") == ("FLOW_DO",)
    assert "resource::state::write" in ns.provided_hints
    assert dedupe.provided_hints == ("resource::dedupe::write", "resource::dedupe")
    async with bag:
        assert await ns.get_by_name("x").increment(1) == 1
    with pytest.raises(InvalidInput):
        DurableObjectNamespace.local(":memory:", Counter).get("not an id")  # type: ignore[call-overload]
