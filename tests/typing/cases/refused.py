"""Forms mypy --strict must refuse: each line marked ``# E: <code>`` must raise exactly that error
code there, and no other line may raise one. Checked by ``tests/typing/test_typing.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cap_cloudflare_do import DurableObjectNamespace, DurableObjectStorage
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import JsonCodec, MessageBatch, Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket


@dataclass
class Job:
    id: int


JOBS = JsonCodec(lambda raw: Job(int(raw["id"])), lambda job: {"id": job.id})


class CounterApi(Protocol):
    async def increment(self, by: int) -> int: ...


async def refused(
    kv: KvNamespace, queue: Queue, consumer: QueueConsumer, ns: DurableObjectNamespace, bucket: R2Bucket
) -> None:
    await kv.get("k", "jsno")  # E: call-overload
    await kv.get_with_metadata("k", "arrayBuffer")  # E: arg-type
    await queue.typed(JOBS).send("not a job")  # E: arg-type
    await queue.typed(JOBS).send_batch([Job(1), "x"])  # E: list-item
    batch = await consumer.typed(JOBS).pull()
    name: str = batch.messages[0].body  # E: assignment

    async def wrong_handler(batch: MessageBatch[str]) -> None: ...

    await consumer.typed(JOBS).run(wrong_handler)  # E: arg-type
    counter = ns.get(ns.id_from_name("a"), CounterApi)
    await counter.increment("one")  # E: arg-type
    await counter.decrement(1)  # E: attr-defined
    total: str = await counter.increment(1)  # E: assignment
    await bucket.put("k", 42)  # E: arg-type
    await bucket.put("k", {"a": 1})  # E: dict-item
    await bucket.put("k", object())  # E: arg-type
    _: Any = name, total


async def refused_do_values(storage: DurableObjectStorage) -> None:
    await storage.put("k", {1, 2})  # E: call-overload
    await storage.put("k", object())  # E: call-overload
    await storage.put({"k": {1: "int key"}})  # E: dict-item
