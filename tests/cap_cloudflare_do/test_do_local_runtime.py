"""The embedded runtime: one instance per id, one request at a time, durable storage, alarms, eviction."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cap_cloudflare_do import DurableObject, DurableObjectNamespace, Response
from cap_opendal_core import BackendError, InvalidInput, Misconfigured, Unsupported
from tests.cap_cloudflare_do.objects import Alarmed, Counter, Plain

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


async def test_200_concurrent_increments_to_one_object_end_at_200(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        stub = ns.get_by_name("order-42")
        results: list[int] = []

        async def one() -> None:
            results.append(await stub.increment(1))

        async with anyio.create_task_group() as group:
            for _ in range(200):
                group.start_soon(one)
        assert await stub.get_count() == 200
        # one at a time, in arrival order: every intermediate count was seen exactly once
        assert sorted(results) == list(range(1, 201))


async def test_one_instance_per_id_and_objects_are_independent(tmp_path: Path) -> None:
    before = Counter.constructed
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        a1, a2, b = ns.get_by_name("a"), ns.get(ns.id_from_name("a")), ns.get_by_name("b")
        async with anyio.create_task_group() as group:
            for stub in (a1, a2, b) * 10:
                group.start_soon(stub.increment, 1)
        assert (await a1.get_count(), await b.get_count()) == (20, 10)
        assert await a2.seen() == 20  # the same in-memory instance served both stubs
        assert Counter.constructed - before == 2
        assert ns.runtime is not None
        assert ns.runtime.instance_count == 2


async def test_different_objects_run_concurrently(tmp_path: Path) -> None:
    class Slow(DurableObject):
        async def hold(self, gate: str) -> str:
            await started[gate].wait() if gate == "b" else None
            return gate

    started = {"b": anyio.Event()}

    async with DurableObjectNamespace.local(tmp_path, Slow) as ns, anyio.create_task_group() as group:
        group.start_soon(ns.get_by_name("b").hold, "b")  # blocks object b until the event is set
        with anyio.fail_after(60):
            assert await ns.get_by_name("a").hold("a") == "a"  # object a is not held up by b
        started["b"].set()


async def test_storage_survives_a_restart_and_ids_stay_stable(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        await ns.get_by_name("x").increment(7)
        named = ns.id_from_name("x")
        unique = ns.new_unique_id()
        await ns.get(unique).increment(2)
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        assert ns.id_from_name("x") == named
        assert await ns.get_by_name("x").get_count() == 7
        assert await ns.get(ns.id_from_string(unique.to_string())).get_count() == 2
        assert await ns.get_by_name("x").seen() == 0  # a fresh instance: memory did not survive


async def test_ids_are_namespace_specific_and_validated(tmp_path: Path) -> None:
    async with (
        DurableObjectNamespace.local(tmp_path / "one", Counter) as one,
        DurableObjectNamespace.local(tmp_path / "two", Counter) as two,
    ):
        a = one.id_from_name("same")
        assert a.hex is not None
        assert len(a.hex) == 64
        assert a.hex == a.hex.lower()
        assert one.id_from_name("same") == a
        assert two.id_from_name("same") != a
        assert one.new_unique_id() != one.new_unique_id()
        assert one.id_from_string(a.hex.upper()) == a
        with pytest.raises(InvalidInput, match="not an id of this namespace"):
            two.id_from_string(a.hex)
        for bad in ("abc", "g" * 64, "a" * 63, "a" * 65, 42):
            with pytest.raises(InvalidInput, match="hex"):
                one.id_from_string(bad)  # type: ignore[arg-type]
        assert await one.resolve_id(a) is a
        assert (await one.resolve_id()).hex is not None


async def test_rpc_copies_arguments_and_results(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        stub = ns.get_by_name("copy")
        mine = ["mine"]
        back = await stub.mutate(mine)
        assert mine == ["mine"]
        assert back == ["mine", "changed by the object"]
        value = {
            "b": b"\x00\xff",
            "when": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
            "n": [1, 2.5, None, True],
        }
        assert await stub.echo(value) == value
        assert await stub.call("echo", (1, 2)) == [1, 2]  # tuples travel as lists
        assert await stub.sync_method(21) == 42


async def test_bad_rpc_calls_fail_before_any_io(tmp_path: Path) -> None:
    before = Counter.constructed
    ns = DurableObjectNamespace.local(tmp_path, Counter)
    stub = ns.get_by_name("bad")
    with pytest.raises(InvalidInput, match="private"):
        await stub.call("_private")
    with pytest.raises(InvalidInput, match="private"):
        await stub._private()
    with pytest.raises(InvalidInput, match="no RPC method 'missing'"):
        await stub.missing()
    with pytest.raises(InvalidInput, match="not callable over RPC"):
        await stub.call("alarm")
    with pytest.raises(InvalidInput, match=r"args\[1\].*type object"):
        await stub.call("echo", 1, object())
    with pytest.raises(InvalidInput, match=r"args\[0\]\['s'\].*type set"):
        await stub.echo({"s": {1}})
    with pytest.raises(InvalidInput, match="identifier"):
        await stub.call("not a name")
    assert Counter.constructed == before, "no object was constructed for a refused call"
    with pytest.raises(AttributeError):
        stub.__not_rpc__  # noqa: B018  dunders are never RPC
    await ns.aclose()


async def test_errors_raised_inside_the_object(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        stub = ns.get_by_name("errors")
        with pytest.raises(BackendError, match=r"ValueError: kaput.*inside the Durable Object") as caught:
            await stub.boom("kaput")
        assert isinstance(caught.value.__cause__, ValueError)
        assert caught.value.retryable is False
        with pytest.raises(BackendError, match="cannot be sent back"):
            await stub.give_back_a_set()
        assert await stub.increment(1) == 1  # the object is still usable


async def test_a_cancelled_caller_never_runs_in_the_object_and_leaves_it_free(tmp_path: Path) -> None:
    entered, release = anyio.Event(), anyio.Event()

    class Gate(DurableObject):
        async def hold(self) -> str:
            entered.set()
            await release.wait()
            return "held"

        async def ping(self) -> str:
            return "pong"

    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        stub = ns.get_by_name("cancelled")
        with anyio.CancelScope() as cancelled:
            cancelled.cancel()
            await stub.increment(1)  # stopped at the object's lock, before the object runs
        assert cancelled.cancelled_caught
        assert await stub.get_count() == 0

    async with DurableObjectNamespace.local(tmp_path / "g", Gate) as ns, anyio.create_task_group() as group:
        assert ns.runtime is not None
        gate = ns.get_by_name("gate")
        group.start_soon(gate.hold)
        await entered.wait()
        waiter = anyio.CancelScope()

        async def wait_then_give_up() -> None:
            with waiter:
                await gate.ping()

        group.start_soon(wait_then_give_up)
        lock = ns.runtime._slot(gate.id).lock
        while lock.statistics().tasks_waiting == 0:  # the waiter queued behind hold()
            await anyio.lowlevel.checkpoint()
        waiter.cancel()
        release.set()
        with anyio.fail_after(60):
            assert await gate.ping() == "pong"  # neither call kept the object's lock
        assert waiter.cancelled_caught


async def test_fetch_reaches_the_fetch_handler(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        response = await ns.get_by_name("f").fetch(
            "https://do/path?q=1", method="post", headers={"X-Test": "1"}, body="payload"
        )
        assert isinstance(response, Response)
        assert (response.status, response.ok, response.headers["x-reply"]) == (201, True, "yes")
        assert await response.json() == {
            "url": "https://do/path?q=1",
            "method": "POST",
            "body": "payload",
            "x": "1",
        }
        assert await response.read() == response.body
        with pytest.raises(InvalidInput, match="absolute http"):
            await ns.get_by_name("f").fetch("/relative")
        with pytest.raises(InvalidInput, match="GET request cannot have a body"):
            await ns.get_by_name("f").fetch("https://do/", body=b"x")
        with pytest.raises(InvalidInput, match="header"):
            await ns.get_by_name("f").fetch("https://do/", headers={"X-Bad": "a\r\nb"})
    async with DurableObjectNamespace.local(tmp_path / "plain", Plain) as plain:
        with pytest.raises(Unsupported, match="no fetch"):
            await plain.get_by_name("p").fetch("https://do/")


async def test_idle_objects_are_evicted_and_rebuilt_from_storage(tmp_path: Path, clock: FakeClock) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter, clock=clock, idle_timeout=60) as ns:
        runtime = ns.runtime
        assert runtime is not None
        stub = ns.get_by_name("idle")
        await stub.increment(3)
        assert await stub.seen() == 1
        clock.advance(59)
        assert await runtime.evict_idle() == 0
        clock.advance(60)
        assert await runtime.evict_idle() == 1
        assert runtime.instance_count == 0
        assert await stub.get_count() == 3  # rebuilt: storage kept
        assert await stub.seen() == 0  # …memory not


async def test_alarms_fire_by_the_clock_and_after_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    due = int(clock() * 1000) + 60_000
    async with DurableObjectNamespace.local(tmp_path, Alarmed, clock=clock) as ns:
        stub = ns.get_by_name("alarm")
        await stub.schedule(due)
        assert await stub.alarm_at() == due
        assert ns.runtime is not None
        assert await ns.runtime.run_due_alarms() == 0
    # the process "restarts" before the alarm is due
    clock.advance(61)
    async with DurableObjectNamespace.local(tmp_path, Alarmed, clock=clock) as ns:
        assert ns.runtime is not None
        assert await ns.runtime.run_due_alarms() == 1
        stub = ns.get_by_name("alarm")
        assert await stub.runs() == [{"retry": 0, "at": clock()}]
        assert await stub.alarm_at() is None  # an alarm that ran is no longer set
        assert await ns.runtime.run_due_alarms() == 0


async def test_the_scheduler_fires_a_due_alarm_after_a_restart(tmp_path: Path) -> None:
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    ns = DurableObjectNamespace.local(tmp_path, Alarmed)  # not entered: no scheduler runs
    await ns.get_by_name("sched").schedule(now_ms + 50)
    await ns.aclose()
    async with DurableObjectNamespace.local(tmp_path, Alarmed) as ns:
        stub = ns.get_by_name("sched")
        with anyio.fail_after(60):
            while not await stub.runs():  # noqa: ASYNC110  polling the object: nothing to wait on
                await anyio.sleep(0.02)
        assert len(await stub.runs()) == 1


async def test_a_failing_alarm_is_retried_with_backoff(tmp_path: Path, clock: FakeClock) -> None:
    async with DurableObjectNamespace.local(tmp_path, Alarmed, clock=clock) as ns:
        runtime = ns.runtime
        assert runtime is not None
        stub = ns.get_by_name("flaky")
        await stub.fail_next(2)
        await stub.schedule(int(clock() * 1000))
        assert await runtime.run_due_alarms() == 1
        first_retry = await stub.alarm_at()
        assert first_retry == int(clock() * 1000) + 2000
        clock.advance(2)
        assert await runtime.run_due_alarms() == 1
        assert await stub.alarm_at() == int(clock() * 1000) + 4000  # doubled
        clock.advance(4)
        assert await runtime.run_due_alarms() == 1
        assert [r["retry"] for r in await stub.runs()] == [0, 1, 2]
        assert await stub.alarm_at() is None


async def test_set_alarm_needs_an_alarm_handler(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Plain) as ns:
        with pytest.raises(Unsupported, match="no alarm"):
            await ns.get_by_name("p").try_alarm()


async def test_a_namespace_is_hosted_by_one_runtime_at_a_time(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Counter) as ns:
        await ns.get_by_name("x").increment(1)
        with pytest.raises(Misconfigured, match="another runtime"):
            async with DurableObjectNamespace.local(tmp_path, Counter):
                pass
    async with DurableObjectNamespace.local(tmp_path, Counter) as again:  # released on close
        assert await again.get_by_name("x").get_count() == 1


async def test_in_memory_namespace_is_ephemeral(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(":memory:", Counter) as ns:
        assert await ns.get_by_name("m").increment(2) == 2
        assert ns.info.durability == "ephemeral"
    async with DurableObjectNamespace.from_url("memory://", object_class=Counter) as ns:
        assert await ns.get_by_name("m").get_count() == 0
    async with DurableObjectNamespace.from_url(f"file://{tmp_path}", object_class=Counter) as ns:
        assert ns.info.durability == "durable"
        assert ns.info.consistency == "strong"


async def test_constructor_and_class_errors() -> None:
    with pytest.raises(Misconfigured, match="DurableObject subclasses"):
        DurableObjectNamespace.local(":memory:", dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="read_only names nope"):

        class Wrong(DurableObject):
            read_only = frozenset({"nope"})

            async def fine(self) -> None: ...

    with pytest.raises(InvalidInput, match="object_class"):
        DurableObjectNamespace.from_url("memory://")
    with pytest.raises(Misconfigured, match="scheme 'ftp'"):
        DurableObjectNamespace.from_url("ftp://x", object_class=Counter)

    class Broken(DurableObject):
        def __init__(self, ctx: Any, env: Any) -> None:
            raise RuntimeError("no")

        async def ping(self) -> None: ...

    async with DurableObjectNamespace.local(":memory:", Broken) as ns:
        with pytest.raises(BackendError, match="constructing the object"):
            await ns.get_by_name("b").ping()


async def test_env_reaches_the_objects() -> None:
    class UsesEnv(DurableObject):
        async def greeting(self) -> str:
            return str(self.env["GREETING"])

    async with DurableObjectNamespace.local(":memory:", UsesEnv, env={"GREETING": "hi"}) as ns:
        assert await ns.get_by_name("e").greeting() == "hi"
