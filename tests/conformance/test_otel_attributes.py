"""Each capability's OpenTelemetry span attributes, as its package declares them (``docs/layers.md``).

Core's OpenTelemetry layer asks each package's ``span_attributes`` hook; this checks, on each
capability's local backend, that one real call of each kind carries the semantic-convention attributes
the docs' table lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from opentelemetry.trace import SpanKind

from cap_cloudflare_do import Dedupe, DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from tests.cap_cloudflare_do.objects import Counter
from tests.support.otel import Recorder

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


def attributes(rec: Recorder, name: str) -> dict[str, object]:
    return dict(rec.span(name).attributes or {})


async def test_kv() -> None:
    rec = Recorder()
    async with KvNamespace.from_url("memory://", settings=rec.settings(logging=False)) as kv:
        await kv.put("user:1", "Ada")
    assert attributes(rec, "kv.put") == {
        "cap.capability": "kv",
        "cap.operation": "put",
        "cap.backend": "opendal",
        "cloud.provider": "cloudflare",
        "db.system.name": "cloudflare_workers_kv",
        "db.operation.name": "put",
        "cap.key": "user:1",
    }


async def test_r2(tmp_path: Path) -> None:
    rec = Recorder()
    async with R2Bucket.local(tmp_path / "r2", settings=rec.settings(logging=False)) as bucket:
        await bucket.put("reports/1.json", b"{}")
        await bucket.list(prefix="reports/")
    put = attributes(rec, "r2.put")
    assert put["aws.s3.key"] == "reports/1.json"
    assert put["cap.object_store"] == "cloudflare_r2"
    assert put["cloud.provider"] == "cloudflare"
    assert attributes(rec, "r2.list")["cap.prefix"] == "reports/"


async def test_queue(tmp_path: Path) -> None:
    rec = Recorder()
    settings = rec.settings(logging=False)
    async with (
        Queue.local(tmp_path / "q", "jobs", settings=settings) as q,
        QueueConsumer.local(tmp_path / "q", "jobs", settings=settings) as c,
    ):
        await q.send({"n": 1})
        (await c.pull()).ack_all()
    send = rec.span("queue.send")
    assert send.kind is SpanKind.PRODUCER
    assert {k: v for k, v in (send.attributes or {}).items() if k.startswith("messaging.")} == {
        "messaging.system": "cloudflare_queues",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "jobs",
    }
    pull = rec.span("queue.pull")
    assert pull.kind is SpanKind.CLIENT
    assert (pull.attributes or {})["messaging.operation.type"] == "receive"


async def test_durable_objects_rpc_storage_and_dedupe(tmp_path: Path) -> None:
    rec = Recorder()
    settings = rec.settings(logging=False)
    async with DurableObjectNamespace.local(tmp_path / "do", Counter, settings=settings) as ns:
        await ns.get_by_name("order-42").increment(1)
    rpc = attributes(rec, "do.rpc")
    assert rpc["rpc.system"] == "cloudflare_durable_objects"
    assert rpc["rpc.method"] == "increment"
    get = attributes(rec, "do.storage.get")
    assert get["db.system.name"] == "cloudflare_durable_objects"
    assert get["db.operation.name"] == "get"
    assert get["cap.key"] == "count"

    async with Dedupe.local(tmp_path / "dedupe", settings=settings) as dedupe:
        await dedupe.put_if_absent("event-7")
    claim = attributes(rec, "dedupe.put_if_absent")
    assert claim["db.operation.name"] == "put_if_absent"
    assert claim["cap.key"] == "event-7"
