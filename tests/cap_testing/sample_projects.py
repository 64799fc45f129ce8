"""Sample user projects the plugin's tests create and run from the outside, as a user would.

``SERVER_FLOW``: a server flow tested on the embedded backends (the clock, alarms, Dedupe, a scope
assertion that passes and one that must fail). ``WORKER``: a Python Worker with a queue consumer and a
Durable Object written with cap-cloudflare-do, tested under ``workers_env``.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:
    from pathlib import Path

SERVER_FLOW: Final[dict[str, str]] = {
    "flow.json": """\
{"nodes": [
  {"alias": "price", "effects": "read_only", "determinism": "best_effort"},
  {"alias": "pure_total", "effects": "pure", "determinism": "strict"}
]}
""",
    "test_flow.py": """\
import pytest

from cap_cloudflare_do import DurableObject
from cap_opendal_core.scope import InvocationScope
from cap_testing import assert_node, checked_node


class Reminder(DurableObject):
    async def schedule(self, delay_s: float) -> None:
        await self.storage.set_alarm((self.now() + delay_s) * 1000)

    async def fired(self) -> int:
        return await self.storage.get("fired") or 0

    async def alarm(self) -> None:
        await self.storage.put("fired", (await self.storage.get("fired") or 0) + 1)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_kv_expiry_follows_the_clock(caps_kv, caps_clock):
    await caps_kv.put("session", "x", expiration_ttl=60)
    caps_clock.advance(61)
    assert await caps_kv.get("session") is None


@pytest.mark.anyio
async def test_queue_retry_delay(caps, caps_queue, caps_clock):
    consumer = caps.consumer("queue", max_retries=1)
    await caps_queue.send({"n": 1})
    batch = await consumer.pull()
    batch.messages[0].retry(delay_seconds=30)
    await batch.settle()
    assert not (await consumer.pull()).messages
    caps_clock.advance(31)
    assert [m.body for m in (await consumer.pull()).messages] == [{"n": 1}]


@pytest.mark.anyio
async def test_alarms_fire_when_due(caps, caps_do, caps_clock):
    ns = caps_do(Reminder)
    stub = ns.get_by_name("r")
    await stub.schedule(3600)
    assert await caps.run_due_alarms() == 0
    caps_clock.advance(3600)
    assert await caps.run_due_alarms() == 1
    assert await stub.fired() == 1


@pytest.mark.anyio
async def test_node_keeps_to_its_declaration(caps_kv):
    with checked_node("price", flow="flow.json"):
        await caps_kv.get("price:book")


@pytest.mark.anyio
async def test_node_that_writes_fails(caps_kv):
    with InvocationScope("pure_total") as scope:
        await caps_kv.put("cache", "1")
    assert_node(scope, flow="flow.json")


@pytest.mark.anyio
async def test_dedupe_claims_expire_by_the_clock(caps, caps_r2, caps_clock):
    dedupe = caps.dedupe()
    assert await dedupe.put_if_absent("email:ada", ttl=3600)
    assert not await dedupe.put_if_absent("email:ada", ttl=3600)
    caps_clock.advance(3601)
    assert await dedupe.put_if_absent("email:ada", ttl=3600)
    await caps_r2.put("receipts/1", b"paid")
    body = await caps_r2.get("receipts/1")
    assert body is not None and await body.read() == b"paid"
""",
}
SERVER_FLOW_OUTCOMES: Final = {"passed": 5, "failed": 1}
"""``test_node_that_writes_fails`` fails on purpose: its message is checked."""


NEEDS_NODE: Final = pytest.mark.skipif(shutil.which("node") is None, reason="workers_env needs Node 20+")
"""For the tests that run a sample project under ``workers_env`` from the outside."""


def wrangler_toml(name: str, bindings: str, durable_object: tuple[str, str]) -> str:
    """A sample Python Worker's ``wrangler.toml``: the header, ``bindings`` (TOML sections) and one
    SQLite-backed Durable Object class, ``(binding, class name)``."""
    binding, class_name = durable_object
    return f"""\
name = "{name}"
main = "src/entry.py"
compatibility_date = "2026-04-01"
compatibility_flags = ["python_workers"]
{bindings}
[[durable_objects.bindings]]
name = "{binding}"
class_name = "{class_name}"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["{class_name}"]
"""


WORKER: Final[dict[str, str]] = {
    "wrangler.toml": wrangler_toml(
        "orders",
        """
[[kv_namespaces]]
binding = "ORDERS"

[[r2_buckets]]
binding = "RECEIPTS"
bucket_name = "receipts"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"
max_batch_size = 5
max_retries = 2
""",
        ("COUNTERS", "Counter"),
    ),
    "src/entry.py": """\
import json

from workers import Response, WorkerEntrypoint

from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import MessageBatch, Queue
from cap_cloudflare_r2 import R2Bucket


class Counter(DurableObject):
    async def increment(self, by: int = 1) -> int:
        value = (await self.storage.get("n") or 0) + by
        await self.storage.put("n", value)
        return value

    async def fetch(self, request):
        return Response(f"{request.method} count={await self.storage.get('n') or 0}")


async def place_order(env, order_id, sku):
    kv = KvNamespace.from_env(env, "ORDERS")
    await kv.put(f"order:{order_id}", sku)
    await Queue.from_env(env, "JOBS").send({"order_id": order_id})
    return await DurableObjectNamespace.from_env(env, "COUNTERS").get_by_name(sku).increment(1)


async def counter_page(env, sku):
    stub = env.COUNTERS.get(env.COUNTERS.idFromName(sku))
    response = await stub.fetch("http://counter/")
    return await response.text()


async def receipt(env, order_id):
    obj = await R2Bucket.from_env(env, "RECEIPTS").get(f"receipts/{order_id}")
    return None if obj is None else (await obj.read()).decode()


async def fail(env, message):
    raise ValueError(message)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        order_id = request.url.rsplit("/", 1)[-1]
        sku = await KvNamespace.from_env(self.env, "ORDERS").get(f"order:{order_id}")
        if sku is None:
            return Response("not found", status=404)
        body = json.dumps({"order_id": order_id, "sku": sku})
        return Response(body, headers={"content-type": "application/json"})

    async def queue(self, batch):
        bucket = R2Bucket.from_env(self.env, "RECEIPTS")
        for message in MessageBatch.from_js(batch).messages:
            if message.body.get("poison"):
                message.retry()
                continue
            await bucket.put(f"receipts/{message.body['order_id']}", b"paid")
            message.ack()


async def enqueue(env, body):
    await Queue.from_env(env, "JOBS").send(body)
""",
    "tests/test_worker.py": """\
import pytest
from cap_testing import WorkerError


def test_order_flow(workers_env):
    assert workers_env.run("entry:place_order", "o-1", "book") == 1
    assert workers_env.run("entry:place_order", "o-2", "book") == 2
    deliveries = workers_env.drain()
    assert sorted(d.outcome for d in deliveries) == ["ack", "ack"]
    assert workers_env.run("entry:receipt", "o-1") == "paid"
    assert workers_env.run("entry:counter_page", "book") == "GET count=2"
    response = workers_env.fetch("/orders/o-1")
    assert response.status == 200
    assert response.json() == {"order_id": "o-1", "sku": "book"}


def test_state_is_reset(workers_env):
    assert workers_env.fetch("/orders/o-1").status == 404
    assert workers_env.run("entry:place_order", "o-3", "book") == 1


def test_errors_reach_the_test(workers_env):
    with pytest.raises(WorkerError) as info:
        workers_env.run("entry:fail", "boom")
    assert info.value.type == "ValueError"
    assert "boom" in info.value.traceback
    with pytest.raises(WorkerError) as info:
        workers_env.run("entry:place_order", None, None)
    assert info.value.type == "cap_opendal_core.errors.InvalidInput"


def test_poison_messages_run_out_of_retries(workers_env):
    workers_env.run("entry:enqueue", {"poison": True})
    deliveries = workers_env.drain()
    assert [(d.attempts, d.outcome) for d in deliveries] == [(1, "retry"), (2, "retry"), (3, "retry")]
""",
}
WORKER_OUTCOMES: Final = {"passed": 4}


def write_project(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path → text) under ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
