"""Trace context across a queue: the opt-in envelope, what every SDK consumer unwraps, span links."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import pytest
from opentelemetry.trace import SpanKind

from cap_cloudflare_queue import MessageBatch, MessageSendRequest, Queue, QueueConsumer
from cap_cloudflare_queue.limits import MAX_BODY_BYTES
from cap_cloudflare_queue.tracing import TRACE_KEY, unwrap
from cap_opendal_core.layers import LayerSettings
from tests.support.otel import Recorder

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _stored_bodies(qdir: Path, queue: str) -> list[bytes]:
    with sqlite3.connect(qdir / "queues.sqlite3") as conn:
        rows = conn.execute("SELECT body FROM messages WHERE queue = ? ORDER BY seq", (queue,)).fetchall()
    return [bytes(r[0]) for r in rows]


async def test_the_consumer_links_to_the_producer_span(qdir: Path, clock: FakeClock) -> None:
    rec = Recorder()
    producer_settings = rec.settings(logging=False, otel_options={"queue_trace_context": True})
    q = Queue.local(qdir, "jobs", clock=clock, settings=producer_settings)
    c = QueueConsumer.local(qdir, "jobs", clock=clock, settings=rec.settings(logging=False))
    seen: list[object] = []

    async def handle(batch: MessageBatch) -> None:
        seen.extend(m.body for m in batch)

    async with q, c:
        await q.send({"job": 1})
        await q.send_batch([MessageSendRequest({"job": 2}), MessageSendRequest("plain", content_type="text")])
        batch = await c.pull(batch_size=10)
        await batch.process(handle)

    assert seen == [{"job": 1}, {"job": 2}, "plain"]  # the handler never sees the envelope
    send, send_batch = rec.span("queue.send"), rec.span("queue.send_batch")
    assert send.kind is SpanKind.PRODUCER
    assert dict(send.attributes or {})["messaging.destination.name"] == "jobs"
    assert [m.trace_context is not None for m in batch] == [True, True, False]  # text is never wrapped

    pull = rec.span("queue.pull")
    linked = {link.context.span_id for link in pull.links}
    assert linked == {send.context.span_id, send_batch.context.span_id}
    assert dict(pull.attributes or {})["messaging.operation.type"] == "receive"

    process = rec.span("queue.process")
    assert process.kind is SpanKind.CONSUMER
    assert {link.context.span_id for link in process.links} == linked
    assert dict(process.attributes or {})["messaging.batch.message_count"] == 3
    settle = rec.span("queue.ack")
    assert settle.parent is not None
    assert settle.parent.span_id == process.context.span_id


async def test_without_the_opt_in_the_wire_body_is_untouched(qdir: Path, clock: FakeClock) -> None:
    """OTel on but ``queue_trace_context`` off: a consumer outside the SDK sees exactly the body sent."""
    rec = Recorder()
    async with Queue.local(qdir, "plain", clock=clock, settings=rec.settings(logging=False)) as q:
        await q.send({"job": 1})
    assert _stored_bodies(qdir, "plain") == [b'{"job":1}']
    assert rec.span("queue.send").kind is SpanKind.PRODUCER


async def test_the_envelope_on_the_wire_and_an_sdk_consumer_without_otel(
    qdir: Path, clock: FakeClock
) -> None:
    rec = Recorder()
    settings = rec.settings(logging=False, otel_options={"queue_trace_context": True})
    async with Queue.local(qdir, "wire", clock=clock, settings=settings) as q:
        await q.send({"job": 1})
    (raw,) = _stored_bodies(qdir, "wire")
    envelope = json.loads(raw)
    assert set(envelope) == {TRACE_KEY, "traceparent", "body"}
    assert envelope["body"] == {"job": 1}
    assert envelope["traceparent"].split("-")[1] == format(rec.span("queue.send").context.trace_id, "032x")

    async with QueueConsumer.local(qdir, "wire", clock=clock, settings=LayerSettings(logging=False)) as c:
        batch = await c.pull()
    (message,) = batch
    assert message.body == {"job": 1}
    assert message.trace_context == {"traceparent": envelope["traceparent"]}


async def test_a_message_the_envelope_would_push_over_the_limit_goes_unwrapped(
    qdir: Path, clock: FakeClock
) -> None:
    rec = Recorder()
    settings = rec.settings(logging=False, otel_options={"queue_trace_context": True})
    body = "x" * (MAX_BODY_BYTES - 2)  # as JSON, exactly the most a message may carry
    async with Queue.local(qdir, "full", clock=clock, settings=settings) as q:
        await q.send(body)
    assert _stored_bodies(qdir, "full") == [json.dumps(body).encode()]


async def test_a_claim_checked_message_carries_context_around_its_reference(
    qdir: Path, clock: FakeClock
) -> None:
    import secrets

    import opendal

    from cap_cloudflare_queue import ClaimCheck

    rec = Recorder()
    store = opendal.AsyncOperator("memory")
    key = secrets.token_hex(32)
    settings = rec.settings(logging=False, otel_options={"queue_trace_context": True})
    q = Queue.local(qdir, "big", clock=clock, settings=settings, claim_check=ClaimCheck(store, key=key))
    c = QueueConsumer.local(
        qdir,
        "big",
        clock=clock,
        settings=LayerSettings(logging=False),
        claim_check=ClaimCheck(store, key=key),
    )
    body = {"blob": "y" * (MAX_BODY_BYTES + 10)}
    async with q, c:
        await q.send(body)
        (raw,) = _stored_bodies(qdir, "big")
        assert json.loads(raw)["body"]["cap.claim_check"] == 2  # the reference, inside the envelope
        (message,) = await c.pull()
    assert message.body == body
    assert message.claim_key is not None
    assert message.trace_context is not None


@pytest.mark.parametrize(
    "body",
    [
        {TRACE_KEY: 1, "traceparent": PARENT, "body": 1, "extra": True},  # a field too many
        {TRACE_KEY: 2, "traceparent": PARENT, "body": 1},  # another version
        {TRACE_KEY: 1, "traceparent": "not-a-traceparent", "body": 1},
        {TRACE_KEY: 1, "traceparent": PARENT},  # no body
        {TRACE_KEY: 1, "traceparent": PARENT, "tracestate": 5, "body": 1},
        [TRACE_KEY, PARENT],
        "cap.trace",
    ],
)
def test_only_a_well_formed_envelope_is_unwrapped(body: object) -> None:
    assert unwrap(body) == (body, None)


def test_a_well_formed_envelope_is_unwrapped() -> None:
    body = {TRACE_KEY: 1, "traceparent": PARENT, "tracestate": "k=v", "body": {"a": [1]}}
    assert unwrap(body) == ({"a": [1]}, {"traceparent": PARENT, "tracestate": "k=v"})
