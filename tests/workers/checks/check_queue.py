"""cap_cloudflare_queue on the Workers path: the producer binding (Miniflare's queue ``cap-queue``, whose
JS consumer in worker.js records each message into QUEUE_LOG with its JS type) and ``MessageBatch.from_js``
over JS-built batches whose ``ack``/``retry`` calls are recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import TYPE_CHECKING, Any

import anyio
from _support import raises
from pyodide.code import run_js

from cap_cloudflare_queue import ClaimCheck, MessageBatch, MessageSendRequest, Queue
from cap_opendal_core import InvalidInput, LimitExceeded, Misconfigured, ffi
from cap_opendal_core.layers import LayerSettings
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from collections.abc import Callable

QUIET = LayerSettings(logging=False)
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)

_seen: dict[str, dict[str, Any]] = {}  # QUEUE_LOG records already read, by key (they never change)


async def _records(env: Any, wanted: Callable[[dict[str, Any]], bool], count: int) -> list[dict[str, Any]]:
    """Wait until the JS consumer has recorded ``count`` messages matching ``wanted``."""
    with anyio.fail_after(30):
        while True:
            cursor = None
            while True:
                options = {"prefix": "cap-queue/", **({"cursor": cursor} if cursor else {})}
                page = ffi.js_to_py(await env.QUEUE_LOG.list(ffi.to_js_options(options)))
                for item in page["keys"]:
                    name = item["name"]
                    if name not in _seen:
                        _seen[name] = json.loads(await env.QUEUE_LOG.get(name))
                if page.get("list_complete", True):
                    break
                cursor = page["cursor"]
            mine = [r for r in _seen.values() if wanted(r)]
            if len(mine) >= count:
                return mine
            await anyio.sleep(0.05)


def _marked(marker: str) -> Callable[[dict[str, Any]], bool]:
    def wanted(record: dict[str, Any]) -> bool:
        if record.get("bytes") is not None:
            return bytes(record["bytes"]).find(marker.encode()) >= 0
        body = record["body"]
        if isinstance(body, dict):
            return body.get("marker") == marker
        return isinstance(body, str) and marker in body

    return wanted


async def check_content_types_reach_the_js_consumer(env: Any) -> list[dict[str, Any]]:
    marker = os.urandom(6).hex()
    queue = Queue.from_env(env, "QUEUE", settings=QUIET)
    assert queue.backend == "workers"
    assert (queue.info.delivery, queue.info.ordering) == ("at_least_once", "unordered")
    json_body = {"marker": marker, "n": [1, None, 2.5], "s": "é", "empty": {}}
    await queue.send(json_body)
    await queue.send(f"text:{marker}", content_type="text", delay_seconds=0)
    await queue.send(b"bytes:" + marker.encode() + b"\x00\xff", content_type="bytes")
    await queue.send({"marker": marker, "when": WHEN}, content_type="v8")

    found = await _records(env, _marked(marker), 4)
    records = {f"{r['type']}:{isinstance(r['body'], dict) and 'when' in r['body']}": r for r in found}
    json_record = records["Object:False"]
    assert json_record["body"] == json_body
    assert json_record["attempts"] == 1
    assert records["String:False"]["body"] == f"text:{marker}"
    binary = records["ArrayBuffer:False"]
    assert bytes(binary["bytes"]) == b"bytes:" + marker.encode() + b"\x00\xff"
    v8 = records["Object:True"]["body"]
    assert v8["when"] == "2026-01-02T03:04:05.678Z", "v8 carried a real Date (json could not have)"
    return [
        {
            "content_type": "json",
            "type": json_record["type"],
            "body": json_body,
            "received": json_record["body"],
        },
        {
            "content_type": "text",
            "type": "String",
            "body": f"text:{marker}",
            "received": records["String:False"]["body"],
        },
        {
            "content_type": "bytes",
            "type": binary["type"],
            "body": list(b"bytes:" + marker.encode() + b"\x00\xff"),
            "received": binary["bytes"],
        },
    ]


async def check_send_batch_is_split_and_every_message_arrives(env: Any) -> None:
    from workers.rpc import _EnvWrapper  # the workers SDK's wrapped env works as well as the raw one

    marker = os.urandom(6).hex()
    queue = Queue.from_env(_EnvWrapper(env), "QUEUE", settings=QUIET)
    requests = [MessageSendRequest({"marker": marker, "i": i}) for i in range(104)]
    requests.append(MessageSendRequest(f"text:{marker}", "text", delay_seconds=0))
    with InvocationScope("producer") as scope:
        await queue.send_batch(requests)
    assert [(r.operation, r.count) for r in scope.records] == [("send_batch", 2)], (
        "101+ messages: two batches"
    )
    records = await _records(env, _marked(marker), 105)
    numbers = sorted(r["body"]["i"] for r in records if isinstance(r["body"], dict))
    assert numbers == list(range(104))
    assert [r["body"] for r in records if r["type"] == "String"] == [f"text:{marker}"]
    assert {r["attempts"] for r in records} == {1}


async def check_bad_input_is_refused_before_the_binding_is_called(env: Any) -> None:
    queue = Queue.from_env(env, "QUEUE", settings=QUIET)
    with InvocationScope("refused") as scope:
        with raises(LimitExceeded, match="claim_check"):
            await queue.send("x" * 130_000, content_type="text")
        with raises(InvalidInput, match="use content_type='bytes'"):
            await queue.send(b"raw", content_type="json")
        with raises(InvalidInput, match="delay_seconds"):
            await queue.send(1, delay_seconds=-1)
        with raises(LimitExceeded, match="v8"):
            await queue.send({"blob": b"x" * 200_000}, content_type="v8")
        with raises(InvalidInput, match="messages[1].body"):
            await queue.send_batch([MessageSendRequest(1), MessageSendRequest({1, 2})])
    assert scope.records == [], "no call reached the pipeline"


_JS_BATCH = """
(() => {
  const calls = [];
  const message = (id, body, attempts) => ({
    id, body, attempts, timestamp: new Date(1700000000123),
    ack() { calls.push(["ack", id]); },
    retry(options) { calls.push(["retry", id, options === undefined ? null : options.delaySeconds]); },
  });
  const bodies = BODIES;
  const messages = bodies.map((body, i) => message(`m${i + 1}`, body, i + 1));
  return {
    calls,
    batch: {
      queue: QUEUE_NAME,
      messages,
      ackAll() { calls.push(["ackAll"]); },
      retryAll(options) { calls.push(["retryAll", options === undefined ? null : options.delaySeconds]); },
    },
  };
})()
"""


def _js_batch(
    bodies_js: str = '[{ a: 1 }, "text", new Uint8Array([1, 2, 3]).buffer, null]', queue: str = "jobs"
) -> Any:
    return run_js(_JS_BATCH.replace("BODIES", bodies_js).replace("QUEUE_NAME", json.dumps(queue)))


async def check_from_js_wraps_the_batch_and_marks_reach_the_runtime(env: Any) -> None:
    made = _js_batch()
    with InvocationScope("consumer") as scope:
        batch = MessageBatch.from_js(made.batch, settings=QUIET)
    assert scope.effect_hints == ("resource::queue::consume",)
    assert batch.queue == "jobs"
    assert [m.id for m in batch] == ["m1", "m2", "m3", "m4"]
    assert [m.body for m in batch] == [{"a": 1}, "text", b"\x01\x02\x03", None]
    assert [m.attempts for m in batch] == [1, 2, 3, 4]
    assert batch.messages[0].timestamp == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)

    m1, m2, _, _ = batch.messages
    m1.ack()
    m2.retry(delay_seconds=30)
    m2.ack()  # ignored: the first call wins, as in the runtime
    batch.ack_all()
    batch.retry_all()  # nothing left pending: no call
    assert ffi.js_to_py(made.calls) == [["ack", "m1"], ["retry", "m2", 30], ["ackAll"]]
    result = await batch.settle()
    assert (result.acked, result.retried) == (3, 1)


async def check_process_applies_the_handler_rule_on_a_js_batch(env: Any) -> None:
    made = _js_batch()

    async def fails(batch: MessageBatch) -> None:
        batch.messages[0].ack()
        raise RuntimeError("handler failed")

    with raises(RuntimeError, match="handler failed"):
        await MessageBatch.from_js(made.batch, settings=QUIET).process(fails)
    assert ffi.js_to_py(made.calls) == [["ack", "m1"], ["retryAll", None]]

    made = _js_batch()

    async def succeeds(batch: MessageBatch) -> None:
        batch.messages[1].retry(delay_seconds=5)

    result = await MessageBatch.from_js(made.batch, settings=QUIET).process(succeeds)
    assert ffi.js_to_py(made.calls) == [["retry", "m2", 5], ["ackAll"]]
    assert (result.acked, result.retried) == (3, 1)


class _BucketStore:
    """The raw R2 binding as a claim-check store (what R2Bucket.from_env does, minus everything else)."""

    def __init__(self, bucket: Any) -> None:
        self.bucket = bucket

    async def put(self, key: str, value: bytes, /) -> None:
        await self.bucket.put(key, ffi.to_uint8array(value))

    async def get(self, key: str, /) -> bytes | None:
        found = await self.bucket.get(key)
        return None if ffi.is_js_null(found) else ffi.to_bytes(await found.arrayBuffer())

    async def delete(self, key: str, /) -> None:
        await self.bucket.delete(key)


async def check_claim_check_through_r2_and_a_pushed_batch(env: Any) -> None:
    marker = os.urandom(6).hex()
    secrets = run_js(f'({{ CAPS_CLAIM_CHECK_KEY: "{os.urandom(32).hex()}" }})')  # a Worker secret in env
    claim_check = ClaimCheck.from_env(_BucketStore(env.BUCKET), secrets, prefix=f"claims-{marker}/")
    with raises(Misconfigured, match="queue_name"):
        Queue.from_env(env, "QUEUE", settings=QUIET, claim_check=claim_check)
    queue = Queue.from_env(env, "QUEUE", queue_name="cap-queue", settings=QUIET, claim_check=claim_check)
    big = {"marker": marker, "rows": ["x" * 1000] * 300}
    await queue.send(big)

    def is_reference(record: dict[str, Any]) -> bool:
        body = record["body"]
        return isinstance(body, dict) and str(body.get("key", "")).startswith(f"claims-{marker}/")

    (record,) = await _records(env, is_reference, 1)
    reference = record["body"]
    assert reference["cap.claim_check"] == 2
    assert reference["content_type"] == "json"
    key = reference["key"]
    assert not ffi.is_js_null(await env.BUCKET.head(key)), "the body is in R2 while the message travels"

    # Forged, tampered and replayed references are ordinary bodies: nothing in R2 is read or deleted.
    victim = f"claims-{marker}/cap-queue/victim"
    await env.BUCKET.put(victim, "not yours")
    forged = [
        {**reference, "key": victim},
        {**reference, "size": reference["size"] + 1},
        {k: v for k, v in reference.items() if k != "mac"} | {"cap.claim_check": 1},
    ]
    made = _js_batch(f"JSON.parse({json.dumps(json.dumps([*forged, reference]))})", queue="other")
    bodies: list[Any] = []

    async def collect(batch: MessageBatch) -> None:
        bodies.extend(m.body for m in batch.messages)

    await MessageBatch.from_js(made.batch, claim_check=claim_check, settings=QUIET).process(collect)
    assert bodies == [*forged, reference], "the genuine reference replayed onto 'other' is not trusted"
    assert not ffi.is_js_null(await env.BUCKET.head(victim))
    assert not ffi.is_js_null(await env.BUCKET.head(key))

    made = _js_batch(f"[JSON.parse({json.dumps(json.dumps(reference))})]", queue="cap-queue")
    seen: list[Any] = []

    async def handler(batch: MessageBatch) -> None:
        seen.append(batch.messages[0].body)

    await MessageBatch.from_js(made.batch, claim_check=claim_check, settings=QUIET).process(handler)
    assert seen == [big]
    assert ffi.js_to_py(made.calls) == [["ackAll"]]
    assert ffi.is_js_null(await env.BUCKET.head(key)), "acked: the stored body is deleted"
    await env.BUCKET.delete(victim)
