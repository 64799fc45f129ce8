"""The local queue's Cloudflare semantics, on real SQLite files, with time moved by a fake clock."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import TYPE_CHECKING

import anyio
import pytest

from cap_cloudflare_queue import MessageBatch, MessageSendRequest, Queue, QueueConsumer
from cap_opendal_core.errors import InvalidInput, Misconfigured
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from pathlib import Path

    from cap_opendal_core.layers import LayerSettings
    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


def _rows(qdir: Path, queue: str) -> list[tuple[str, int, str | None]]:
    """(id, attempts, lease_id) of every message the file holds for ``queue``."""
    with sqlite3.connect(qdir / "queues.sqlite3") as conn:
        return conn.execute(
            "SELECT id, attempts, lease_id FROM messages WHERE queue = ? ORDER BY seq", (queue,)
        ).fetchall()


def _pair(
    qdir: Path, clock: FakeClock, quiet: LayerSettings, **consumer: object
) -> tuple[Queue, QueueConsumer]:
    q = Queue.local(qdir, "jobs", clock=clock, settings=quiet)
    c = QueueConsumer.local(qdir, "jobs", clock=clock, settings=quiet, **consumer)  # type: ignore[arg-type]
    return q, c


async def _noop(batch: MessageBatch) -> None:
    return None


async def test_round_trip_keeps_bodies_content_types_and_metadata(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet)
    async with q, c:
        await q.send({"n": 1, "nested": [None, "x"]})
        await q.send("héllo", content_type="text")
        await q.send(b"\x00\xff\x10", content_type="bytes")
        await q.send_batch([MessageSendRequest([1, 2]), {"body": "t", "content_type": "text"}])
        batch = await c.pull(batch_size=10)
        assert batch.queue == "jobs"
        got = sorted(((m.content_type, repr(m.body)) for m in batch), key=str)
        assert got == sorted(
            [
                ("json", repr({"n": 1, "nested": [None, "x"]})),
                ("text", repr("héllo")),
                ("bytes", repr(b"\x00\xff\x10")),
                ("json", repr([1, 2])),
                ("text", repr("t")),
            ],
            key=str,
        )
        for m in batch:
            assert m.attempts == 1
            assert len(m.id) == 32
            assert m.timestamp == dt.datetime.fromtimestamp(clock.now, tz=dt.UTC)
            assert m.lease_id is not None
            assert m.lease_id.startswith(m.id)
        assert len({m.id for m in batch}) == 5
        result = await batch.process(_noop)
        assert (result.acked, result.retried) == (5, 0)
    assert _rows(qdir, "jobs") == []


async def test_delayed_messages_wait_for_their_time(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet)
    async with q, c:
        await q.send("later", content_type="text", delay_seconds=120)
        await q.send_batch(
            [MessageSendRequest("soon", "text"), MessageSendRequest("own", "text", 90)], delay_seconds=60
        )
        assert len(await c.pull()) == 0
        clock.advance(59)
        assert len(await c.pull()) == 0
        clock.advance(1)
        for expected, why in (
            ("soon", "the batch's delay"),
            ("own", "a message's own delay wins"),
            ("later", ""),
        ):
            batch = await c.pull()
            assert [m.body for m in batch] == [expected], why
            await c.ack(batch.messages)
            clock.advance(30)


async def test_visibility_timeout_redelivers_with_attempts_plus_one(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet)
    async with q, c:
        await q.send("x", content_type="text")
        first = await c.pull(visibility_timeout=30)
        assert [m.attempts for m in first] == [1]
        assert len(await c.pull()) == 0, "a leased message is invisible to other pulls"
        clock.advance(29.9)
        assert len(await c.pull()) == 0
        clock.advance(0.1)
        second = await c.pull(visibility_timeout=5)
        assert [(m.id, m.attempts) for m in second] == [(first.messages[0].id, 2)]
        assert second.messages[0].lease_id != first.messages[0].lease_id


async def test_retry_with_delay_and_the_consumers_default_delay(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet, retry_delay=10)
    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(2)])
        batch = await c.pull()
        by_body = {m.body: m for m in batch}
        by_body[0].retry(delay_seconds=100)
        by_body[1].retry()  # the consumer's retry_delay applies
        result = await batch.settle()
        assert (result.acked, result.retried) == (0, 2)
        clock.advance(10)
        again = await c.pull()
        assert [(m.body, m.attempts) for m in again] == [(1, 2)]
        await c.ack(again.messages)
        clock.advance(89)
        assert len(await c.pull()) == 0
        clock.advance(1)
        assert [(m.body, m.attempts) for m in await c.pull()] == [(0, 2)]


async def test_dead_letter_after_max_retries_by_retry_and_by_expired_lease(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet, max_retries=2, dead_letter_queue="jobs-dlq")
    dlq = QueueConsumer.local(qdir, "jobs-dlq", clock=clock, settings=quiet)
    async with q, c, dlq:
        await q.send("by-retry", content_type="text")
        for attempt in (1, 2, 3):  # 1 + max_retries deliveries
            batch = await c.pull()
            assert [(m.body, m.attempts) for m in batch] == [("by-retry", attempt)]
            batch.retry_all()
            result = await batch.settle()
        assert (result.retried, result.dead_lettered) == (0, 1)
        assert len(await c.pull()) == 0
        moved = await dlq.pull()
        assert [(m.body, m.attempts) for m in moved] == [("by-retry", 1)]
        await moved.process(_noop)

        await q.send("by-lease", content_type="text")
        for attempt in (1, 2, 3):
            batch = await c.pull(visibility_timeout=1)
            assert [m.attempts for m in batch] == [attempt]
            clock.advance(1)  # the lease runs out: a failed delivery
        assert len(await c.pull()) == 0, "the fourth delivery would exceed max_retries"
        assert [m.body for m in await dlq.pull()] == ["by-lease"]


async def test_without_a_dead_letter_queue_exhausted_messages_are_dropped(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet, max_retries=0)
    async with q, c:
        await q.send("once", content_type="text")
        batch = await c.pull()
        batch.retry_all()
        assert (await batch.settle()).dead_lettered == 1
        assert _rows(qdir, "jobs") == []


async def test_first_call_wins_and_batch_calls_skip_decided_messages(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet)
    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(4)])
        batch = await c.pull()
        m = {x.body: x for x in batch}
        m[0].ack()
        m[0].retry()
        m[1].retry(delay_seconds=5)
        m[1].ack()
        batch.ack_all()
        batch.retry_all()
        assert [m[i].outcome for i in range(4)] == ["ack", "retry", "ack", "ack"]
        assert m[1].retry_delay == 5
        with pytest.raises(InvalidInput, match="delay_seconds"):
            m[2].retry(delay_seconds=-1)
        result = await batch.settle()
        assert (result.acked, result.retried) == (3, 1)
        assert await batch.settle() == type(result)(), "a second settle sends nothing"


async def test_handler_rule_ack_on_return_retry_on_raise(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet)
    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(3)])

        async def fails_after_acking_one(batch: MessageBatch) -> None:
            batch.messages[0].ack()
            raise RuntimeError("boom")

        batch = await c.pull()
        with pytest.raises(RuntimeError, match="boom"):
            await batch.process(fails_after_acking_one)
        assert [x.outcome for x in batch] == ["ack", "retry", "retry"]
        again = await c.pull()
        assert sorted(x.attempts for x in again) == [2, 2]
        assert batch.messages[0].id not in {x.id for x in again}
        await again.process(_noop)
        assert _rows(qdir, "jobs") == []


async def test_nothing_is_lost_across_a_restart(qdir: Path, clock: FakeClock, quiet: LayerSettings) -> None:
    q, c = _pair(qdir, clock, quiet)
    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(30)])
        leased = await c.pull(batch_size=10, visibility_timeout=60)
        assert len(leased) == 10
    # new objects, new connections: what was committed is all there, leases included
    q2, c2 = _pair(qdir, clock, quiet)
    async with q2, c2:
        rest = await c2.pull(batch_size=100)
        assert sorted(m.body for m in rest) == sorted(set(range(30)) - {m.body for m in leased})
        await rest.process(_noop)
        clock.advance(60)
        back = await c2.pull(batch_size=100)
        assert sorted((m.body, m.attempts) for m in back) == sorted((m.body, 2) for m in leased)
        await back.process(_noop)
    assert _rows(qdir, "jobs") == []


async def test_pull_waits_for_a_batch_to_fill(qdir: Path, clock: FakeClock, quiet: LayerSettings) -> None:
    q, c = _pair(qdir, clock, quiet)
    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(4)])

        async def more_later() -> None:
            await anyio.sleep(0.05)
            await q.send_batch([MessageSendRequest(i) for i in range(4, 10)])

        async with anyio.create_task_group() as tg:
            tg.start_soon(more_later)
            batch = await c.pull(batch_size=10, wait_time=5)
        assert sorted(m.body for m in batch) == list(range(10))
        await batch.process(_noop)

        await q.send("alone", content_type="text")
        partial = await c.pull(batch_size=10, wait_time=0.1)
        assert [m.body for m in partial] == ["alone"], "when the wait runs out, the batch goes as it is"


async def test_stale_leases_ack_permissively_but_retry_only_when_nobody_else_holds_it(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, a = _pair(qdir, clock, quiet)
    b = QueueConsumer.local(qdir, "jobs", clock=clock, settings=quiet)
    async with q, a, b:
        await q.send("contended", content_type="text")
        first = await a.pull(visibility_timeout=10)
        clock.advance(10)
        second = await b.pull(visibility_timeout=10)
        assert [m.attempts for m in second] == [2]
        stale = await a.retry(first.messages)
        assert stale.retried == 0
        assert "leased to another consumer" in stale.warnings[0]
        assert _rows(qdir, "jobs")[0][2] == second.messages[0].lease_id, "b still holds its lease"
        assert (await b.ack(second.messages)).acked == 1

        await q.send("late ack", content_type="text")
        first = await a.pull(visibility_timeout=10)
        clock.advance(10)
        second = await b.pull(visibility_timeout=10)
        late = await a.ack(first.messages)
        assert late.acked == 1, "Cloudflare accepts acks after the lease ran out"
        gone = await b.ack(second.messages)
        assert gone.acked == 0
        assert "no longer in the queue" in gone.warnings[0]


async def test_run_handles_until_cancelled_and_applies_the_rule(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet, max_retries=1, dead_letter_queue="jobs-dlq")
    seen: list[tuple[int, int]] = []
    done = anyio.Event()

    async def handler(batch: MessageBatch) -> None:
        for m in batch:
            seen.append((m.body, m.attempts))
        if any(m.body == 13 for m in batch):
            for m in batch:
                if m.body != 13:
                    m.ack()
            raise ValueError("13 is unlucky")
        if len({b for b, _ in seen}) == 40 and sum(1 for b, _ in seen if b == 13) == 2:
            done.set()

    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(40)])
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: c.run(handler, concurrency=3, batch_size=7))
            with anyio.fail_after(60):
                await done.wait()
            tg.cancel_scope.cancel()
    assert sorted(b for b, a in seen if b != 13) == [i for i in range(40) if i != 13]
    assert [a for b, a in seen if b == 13] == [1, 2]
    assert [row[0] for row in _rows(qdir, "jobs")] == []
    assert len(_rows(qdir, "jobs-dlq")) == 1, "13 failed 1 + max_retries times and went to the DLQ"


async def test_run_handles_batches_concurrently(qdir: Path, clock: FakeClock, quiet: LayerSettings) -> None:
    q, c = _pair(qdir, clock, quiet)
    inside = 0
    all_in = anyio.Event()

    async def handler(batch: MessageBatch) -> None:
        nonlocal inside
        inside += 1
        if inside == 4:
            all_in.set()
        await all_in.wait()  # only returns once four batches are in flight together

    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(40)])
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: c.run(handler, concurrency=4, batch_size=10))
            with anyio.fail_after(60):
                await all_in.wait()
                while _rows(qdir, "jobs"):  # noqa: ASYNC110  (another connection's state: poll it)
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()


async def test_graceful_shutdown_finishes_in_flight_batches(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet)
    started = anyio.Event()
    finished: list[int] = []

    async def slow(batch: MessageBatch) -> None:
        started.set()
        await anyio.sleep(0.2)
        finished.extend(m.body for m in batch)

    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(5)])
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: c.run(slow, concurrency=1, batch_size=5, shutdown_grace=10))
                await started.wait()
                tg.cancel_scope.cancel()  # shut down while the handler sleeps
    assert sorted(finished) == list(range(5)), "the in-flight batch ran to the end"
    assert _rows(qdir, "jobs") == [], "and was acked"


async def test_shutdown_grace_expiry_releases_undecided_messages(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet)
    started = anyio.Event()

    async def stuck(batch: MessageBatch) -> None:
        batch.messages[0].ack()
        started.set()
        await anyio.sleep(30)

    async with q, c:
        await q.send_batch([MessageSendRequest(i) for i in range(3)])
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: c.run(stuck, concurrency=1, batch_size=3, shutdown_grace=0.05))
                await started.wait()
                tg.cancel_scope.cancel()
        rows = _rows(qdir, "jobs")
        assert len(rows) == 2, "the acked message is gone"
        assert all(lease is None for _, _, lease in rows), "the others were released, not left leased"
        back = await c.pull()
        assert sorted(m.attempts for m in back) == [2, 2]


async def test_hints_are_recorded_in_the_invocation_scope(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    q, c = _pair(qdir, clock, quiet)
    async with q, c:
        with InvocationScope("producer") as producing:
            await q.send(1)
            await q.send_batch([MessageSendRequest(2)])
        assert producing.effect_hints == ("resource::queue::publish",)
        assert producing.determinism_hints == ("resource::queue",)
        with InvocationScope("consumer") as consuming:
            batch = await c.pull()
            await batch.process(_noop)
        assert consuming.effect_hints == ("resource::queue::consume",)
        assert {(r.operation, r.count) for r in consuming.records} == {("pull", 1), ("ack", 1)}


@pytest.mark.filterwarnings("ignore:.*queue URLs are deprecated:DeprecationWarning")
async def test_urls_and_descriptors(tmp_path: Path, quiet: LayerSettings) -> None:
    q = Queue.from_url("memory://shared-q", settings=quiet)
    c = QueueConsumer.from_url("memory://shared-q", settings=quiet)
    async with q, c:
        await q.send("in memory", content_type="text")
        assert [m.body for m in await c.pull()] == ["in memory"]
        assert q.info.durability == "ephemeral"
        assert (q.info.delivery, q.info.ordering) == ("at_least_once", "unordered")
    on_disk = Queue.from_url(f"file://{tmp_path}/disk-q", settings=quiet)
    async with on_disk:
        await on_disk.send(1)
        assert on_disk.info.durability == "durable"
        assert on_disk.binding_kind == "queue"
        assert "resource::queue::publish" in on_disk.provided_hints
    assert (tmp_path / "queues.sqlite3").is_file()
    for bad in (
        "local://host/x/q",
        "local:///q",
        "file://host/x/q",
        "memory://Bad_Name",
        "s3://bucket/q",
        "memory://q?x=1",
    ):
        with pytest.raises((Misconfigured, InvalidInput)):
            Queue.from_url(bad)
