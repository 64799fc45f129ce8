"""Typed bodies (``codec.py``, ``typed.py``): what a codec does on both ends of a real local queue,
and what it refuses — before any I/O on the producer side, at ``body`` on the consumer side."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_queue import JsonCodec, MessageBatch, Queue, QueueConsumer, TextCodec
from cap_opendal_core.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from cap_opendal_core.layers import LayerSettings
    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Job:
    id: int
    name: str


def load_job(raw: Any) -> Job:
    if not isinstance(raw, dict) or set(raw) != {"id", "name"}:
        raise ValueError(f"not a job: {raw!r}")
    return Job(int(raw["id"]), str(raw["name"]))


JOBS = JsonCodec(load_job, lambda job: {"id": job.id, "name": job.name})


def _pair(qdir: Path, clock: FakeClock, quiet: LayerSettings) -> tuple[Queue, QueueConsumer]:
    queue = Queue.local(qdir, "jobs", clock=clock, settings=quiet)
    consumer = QueueConsumer.local(qdir, "jobs", clock=clock, settings=quiet)
    return queue, consumer


def _stored(qdir: Path) -> int:
    with sqlite3.connect(qdir / "queues.sqlite3") as conn:
        (count,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        return int(count)


async def test_values_round_trip_as_plain_json_bodies(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    queue, consumer = _pair(qdir, clock, quiet)
    async with queue, consumer:
        await queue.typed(JOBS).send(Job(1, "a"))
        await queue.typed(JOBS).send_batch([Job(2, "b"), Job(3, "c")])
        # the wire format is the service's: an untyped consumer sees ordinary JSON
        plain = await consumer.pull(batch_size=10)
        assert sorted(m.body["id"] for m in plain) == [1, 2, 3]
        assert {m.content_type for m in plain} == {"json"}
        plain.retry_all(delay_seconds=0)
        await plain.settle()
        clock.advance(1)
        batch = await consumer.typed(JOBS).pull(batch_size=10)
        assert sorted(batch, key=lambda m: m.body.id)[0].body == Job(1, "a")
        assert {m.body.name for m in batch} == {"a", "b", "c"}
        batch.ack_all()
        await batch.settle()
    assert _stored(qdir) == 0


async def test_a_value_that_does_not_encode_sends_nothing(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    queue, _ = _pair(qdir, clock, quiet)
    async with queue:
        await queue.send("warm up")  # creates the store, so the count below is of messages
        with pytest.raises(InvalidInput, match=r"bodies\[1\]") as err:
            await queue.typed(JOBS).send_batch([Job(1, "a"), "not a job"])  # type: ignore[list-item]
        assert err.value.field == "bodies[1]"
        with pytest.raises(InvalidInput, match="TextCodec"):
            await queue.typed(TextCodec()).send(b"bytes")  # type: ignore[arg-type]
    assert _stored(qdir) == 1


async def test_a_body_the_codec_refuses_fails_its_handler_and_is_retried(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    queue, consumer = _pair(qdir, clock, quiet)
    seen: list[Job] = []

    async def handle(batch: MessageBatch[Job]) -> None:
        for m in batch:
            seen.append(m.body)

    async with queue, consumer:
        await queue.send({"id": 7, "unexpected": True})
        batch = await consumer.typed(JOBS).pull()
        message = batch.messages[0]
        with pytest.raises(InvalidInput, match=f"message {message.id}: its body does not decode") as err:
            _ = message.body
        assert err.value.field == "body"
        with pytest.raises(InvalidInput):
            await batch.process(handle)
        assert message.outcome == "retry"
        assert seen == []
        clock.advance(1)
        again = await consumer.pull()
        assert [m.attempts for m in again] == [2]


async def test_decode_happens_once_and_views_share_marks(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    calls: list[object] = []

    def counting(raw: Any) -> Job:
        calls.append(raw)
        return load_job(raw)

    queue, consumer = _pair(qdir, clock, quiet)
    async with queue, consumer:
        await queue.typed(JOBS).send(Job(1, "a"))
        batch = await consumer.pull()
        typed = batch.decode_with(JsonCodec(counting))
        assert typed.messages[0].body is typed.messages[0].body
        assert len(calls) == 1
        typed.messages[0].ack()
        assert batch.messages[0].outcome == "ack"
        assert (await batch.settle()).acked == 1


async def test_typed_run_hands_decoded_batches(qdir: Path, clock: FakeClock, quiet: LayerSettings) -> None:
    import anyio

    queue, consumer = _pair(qdir, clock, quiet)
    got: list[Job] = []
    done = anyio.Event()

    async def handle(batch: MessageBatch[Job]) -> None:
        got.extend(m.body for m in batch)
        if len(got) >= 2:
            done.set()

    async with queue, consumer:
        await queue.typed(JOBS).send_batch([Job(1, "a"), Job(2, "b")])
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: consumer.typed(JOBS).run(handle, concurrency=1))
            with anyio.fail_after(60):
                await done.wait()
            tg.cancel_scope.cancel()
    assert sorted(j.id for j in got) == [1, 2]


class _Odd:
    content_type = "xml"

    def encode(self, value: object) -> object:
        return value

    def decode(self, body: object) -> object:
        return body


@pytest.mark.parametrize(
    ("codec", "match"),
    [
        (JsonCodec, "got a class"),
        (object(), "got object"),
        (
            _Odd(),
            "xml",
        ),
    ],
)
async def test_what_is_not_a_codec_is_refused_before_io(
    qdir: Path, clock: FakeClock, quiet: LayerSettings, codec: Any, match: str
) -> None:
    queue, consumer = _pair(qdir, clock, quiet)
    with pytest.raises(InvalidInput, match=match) as err:
        queue.typed(codec)
    assert err.value.field == "codec"
    with pytest.raises(InvalidInput, match=match):
        consumer.typed(codec)
    assert not qdir.exists()  # noqa: ASYNC240


def test_json_codec_refuses_what_is_not_callable() -> None:
    with pytest.raises(InvalidInput, match="load must be callable"):
        JsonCodec(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="dump must be callable"):
        JsonCodec(load_job, "x")  # type: ignore[arg-type]


def test_the_sync_views_send_and_decode_the_same(qdir: Path, clock: FakeClock, quiet: LayerSettings) -> None:
    from cap_cloudflare_queue import sync

    with (
        sync.Queue.local(qdir, "jobs", clock=clock, settings=quiet) as queue,
        sync.QueueConsumer.local(qdir, "jobs", clock=clock, settings=quiet) as consumer,
    ):
        queue.typed(JOBS).send_batch([Job(1, "a"), Job(2, "b")])
        with pytest.raises(InvalidInput, match="body"):
            queue.typed(JOBS).send("not a job")  # type: ignore[arg-type]
        batch = consumer.typed(JOBS).pull(batch_size=10)
        assert sorted((m.body for m in batch), key=lambda j: j.id) == [Job(1, "a"), Job(2, "b")]
        batch.ack_all()
        assert batch.settle().acked == 2
