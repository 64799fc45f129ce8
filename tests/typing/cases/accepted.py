"""Forms mypy --strict must accept, with the types it must infer (``assert_type``).

Checked by ``tests/typing/test_typing.py``; never imported or run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Protocol, assert_type

from cap_cloudflare_do import DurableObjectNamespace, DurableObjectStorage, DurableObjectStub
from cap_cloudflare_do.sync import DurableObjectNamespace as SyncNamespace
from cap_cloudflare_kv import KvNamespace, KvStream, ValueType
from cap_cloudflare_queue import (
    JsonCodec,
    Message,
    MessageBatch,
    Queue,
    QueueConsumer,
    TextCodec,
    TypedConsumer,
    TypedQueue,
)
from cap_cloudflare_queue.sync import MessageBatch as SyncMessageBatch
from cap_cloudflare_queue.sync import Queue as SyncQueue
from cap_cloudflare_queue.sync import QueueConsumer as SyncQueueConsumer
from cap_cloudflare_r2 import R2Bucket, R2Object


@dataclass
class Job:
    id: int
    name: str


def load_job(raw: Any) -> Job:
    return Job(int(raw["id"]), str(raw["name"]))


def dump_job(job: Job) -> dict[str, object]:
    return {"id": job.id, "name": job.name}


JOBS = JsonCodec(load_job, dump_job)


class CounterApi(Protocol):
    async def increment(self, by: int) -> int: ...
    async def reset(self) -> None: ...


async def kv_reads(kv: KvNamespace, kind: ValueType) -> None:
    assert_type(await kv.get("k"), str | None)
    assert_type(await kv.get("k", "text"), str | None)
    assert_type(await kv.get("k", "bytes"), bytes | None)
    assert_type(await kv.get("k", "json"), Any)
    assert_type(await kv.get("k", "stream"), KvStream | None)
    assert_type(await kv.get("k", kind), Any)


async def queue_bodies(queue: Queue, consumer: QueueConsumer) -> None:
    jobs = queue.typed(JOBS)
    assert_type(jobs, TypedQueue[Job])
    await jobs.send(Job(1, "a"))
    await jobs.send_batch([Job(2, "b"), Job(3, "c")], delay_seconds=5)
    await queue.typed(TextCodec()).send("plain text")
    await queue.send({"any": "json"})  # the untyped queue takes any body, as before

    typed = consumer.typed(JOBS)
    assert_type(typed, TypedConsumer[Job])
    batch = await typed.pull(10)
    assert_type(batch, MessageBatch[Job])
    for message in batch:
        assert_type(message, Message[Job])
        assert_type(message.body, Job)
        message.ack()

    async def handle(batch: MessageBatch[Job]) -> None:
        for m in batch:
            print(m.body.name)

    await typed.run(handle, concurrency=2)

    untyped = await consumer.pull()
    assert_type(untyped.messages[0].body, Any)
    assert_type(untyped.decode_with(JOBS), MessageBatch[Job])


async def do_stubs(ns: DurableObjectNamespace) -> None:
    oid = ns.id_from_name("a")
    counter = ns.get(oid, CounterApi)
    assert_type(counter, CounterApi)
    assert_type(await counter.increment(2), int)
    assert_type(ns.get_by_name("b", CounterApi), CounterApi)
    assert_type(ns.get(oid), DurableObjectStub)
    assert_type(await ns.get(oid).anything(1, 2), Any)  # untyped stubs stay open


async def r2_values(bucket: R2Bucket) -> None:
    async def chunks() -> Any:
        yield b"x"

    for value in (b"bytes", bytearray(b"ba"), memoryview(b"mv"), "text", None):
        assert_type(await bucket.put("k", value), R2Object | None)
    await bucket.put("k", chunks())
    await bucket.put("k", [b"a", b"b"])
    await bucket.put("k", io.BytesIO(b"file"))
    with open(__file__, "rb") as f:
        await bucket.put("k", f)


async def do_values(ns: DurableObjectNamespace, storage: DurableObjectStorage) -> None:
    counts: dict[str, int] = {"a": 1}
    await storage.put("k", counts)
    await storage.put("k", [1, 2, 3])
    await storage.put("k", {"nested": [None, "x", b"b", 1.5, True]})
    await storage.put({"a": 1, "b": "two"})


class SyncCounterApi(Protocol):
    def increment(self, by: int) -> int: ...


def sync_views(queue: SyncQueue, consumer: SyncQueueConsumer, ns: SyncNamespace) -> None:
    queue.typed(JOBS).send(Job(1, "a"))
    batch = consumer.typed(JOBS).pull()
    assert_type(batch, SyncMessageBatch[Job])
    assert_type(batch.messages[0].body, Job)
    counter = ns.get_by_name("a", SyncCounterApi)
    assert_type(counter.increment(1), int)
