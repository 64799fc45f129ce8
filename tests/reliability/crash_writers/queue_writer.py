"""Produces to and consumes from a local queue without end, reporting each step, until it is killed.

    python -m tests.reliability.crash_writers.queue_writer DIR SEED FIRST_SEQ

One process is both producer and consumer, so a kill can land in a send, a pull, an ack or a retry:
``send`` (one message) and ``send_batch`` (2-40 messages; one transaction, so atomic) of json, text and
bytes bodies, each carrying a unique id; ``pull`` (leases of 30 s; the ids received are reported after
the pull returns); ``ack`` of some of the pulled messages (one settle: atomic) and ``retry`` of others
(visible again at once); the rest stay leased when the process dies. ``max_retries`` is 100 so no
message is dropped for its attempts during the run.
"""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any

from .protocol import Reporter

QUEUE = "work"
MAX_RETRIES = 100


def make_body(message_id: str, rng: random.Random, max_pad: int = 20_000) -> tuple[Any, Any]:
    """A body carrying ``message_id`` in each content type the local queue takes."""
    pad = "x" * min(max_pad, rng.choice((0, 10, 1000, 20_000)))
    kind: Any = rng.choice(("json", "json", "text", "bytes"))
    if kind == "json":
        return {"id": message_id, "pad": pad, "n": [1, None, "ü"]}, kind
    if kind == "text":
        return f"{message_id}|{pad}", kind
    return f"{message_id}|{pad}".encode(), kind


def id_of(body: Any) -> str:
    """The id :func:`make_body` put in ``body``."""
    if isinstance(body, dict):
        return str(body["id"])
    if isinstance(body, bytes):
        body = body.decode()
    return str(body).split("|", 1)[0]


async def main(directory: str, rng: random.Random, first_seq: int) -> None:
    from cap_cloudflare_queue import MessageSendRequest, Queue, QueueConsumer
    from cap_cloudflare_queue.limits import MAX_BATCH_BYTES
    from cap_opendal_core.layers import LayerSettings

    quiet = LayerSettings(logging=False)
    report = Reporter(first_seq)
    producer = Queue.local(directory, QUEUE, settings=quiet)
    consumer = QueueConsumer.local(directory, QUEUE, max_retries=MAX_RETRIES, settings=quiet)
    held: list[Any] = []  # pulled messages not yet acked or retried
    counter = 0
    report.ready()
    while True:
        roll = rng.random()
        if roll < 0.35 or (roll >= 0.65 and not held):
            count = 1 if rng.random() < 0.3 else rng.randint(2, 40)
            ids = [f"m{first_seq}-{counter + i}" for i in range(count)]
            counter += count
            # keep a batch within one sendBatch (one transaction): over 256 KB the SDK splits it into
            # several, which is documented as not atomic and would make the all-or-none check wrong
            room = MAX_BATCH_BYTES // 2
            bodies = []
            for message_id in ids:
                bodies.append(make_body(message_id, rng, max_pad=max(0, room)))
                room -= len(repr(bodies[-1][0]))
            seq = report.begin("send" if count == 1 else "send_batch", puts=ids, atomic=True)
            if count == 1:
                await producer.send(bodies[0][0], content_type=bodies[0][1])
            else:
                await producer.send_batch([MessageSendRequest(b, content_type=ct) for b, ct in bodies])
            report.ack(seq)
        elif roll < 0.65:
            seq = report.begin("pull")
            batch = await consumer.pull(batch_size=rng.randint(1, 20))
            held.extend(batch.messages)
            report.emit({"note": {"pulled": [id_of(m.body) for m in batch.messages]}})
            report.ack(seq)
        else:
            rng.shuffle(held)
            take = rng.randint(1, len(held))
            chosen, held = held[:take], held[take:]
            ids = [id_of(m.body) for m in chosen]
            if rng.random() < 0.75:
                seq = report.begin("ack", deletes=ids, atomic=True)
                await consumer.ack(chosen)
                report.ack(seq)
            else:
                seq = report.begin("retry", atomic=True)
                await consumer.retry(chosen, delay_seconds=0)
                report.ack(seq)
                report.emit({"note": {"retried": ids}})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], random.Random(int(sys.argv[2])), int(sys.argv[3])))
