"""Soak scenario: Cloudflare Queues' REST backend (push and pull consumer) through the fault proxy
(run by ``tests/conformance/test_soak.py``).

Producer workers send single messages and batches (JSON and text bodies, each carrying a unique id;
now and then a batch over 100 messages, which the SDK splits); consumer workers pull batches and
acknowledge them, all through the proxy. Sends are not idempotent: the SDK must never repeat one, so
every send call may reach the proxy at most once, and the service must accept each message at most
once (counted from the requests the upstream answered with 2xx). A send the SDK reported as done
must be delivered — and so must the part of a split batch that ``BatchPartiallySent`` says went out:
afterwards the leases are expired (the stand-in's clock jumps a day) and the queue is drained
directly, without the proxy; every acknowledged send must have been received in the soak or in the
drain, with its exact body and content type — otherwise it is a lost write. Redelivery (an ack whose
answer was lost) is allowed: Queues deliver at least once.

A request held up on the way may reach the service after its call failed — a send, a pull that
leases messages nobody will see, an ack — so the counts and the drain wait until the clients are
closed and the proxy is quiet (:meth:`FaultProxy.wait_quiet`): nothing can arrive after them.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import anyio

from cap_cloudflare_queue import (
    BatchPartiallySent,
    CloudflareQueueConfig,
    MessageSendRequest,
    Queue,
    QueueConsumer,
)
from cap_opendal_core.errors import DeadlineExceeded, Unavailable
from cap_opendal_core.layers import LayerSettings
from tests.reliability.soak_support import (
    SoakLedger,
    SoakScenario,
    SoakTask,
    late_requests,
    quicken,
    soak_settings,
)
from tests.support.cf_api import CloudflareApi
from tests.support.cf_queue_api import QueueApi

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from cap_cloudflare_queue import MessageBatch
    from tests.support.fault_proxy import FaultProxy, ProxyRecord

SEED = 777
QUEUE_ID = "0123456789abcdef0123456789abcdef"
PRODUCERS = 10
SENDS_PER_PRODUCER = 130
CONSUMERS = 4
PULLS_PER_CONSUMER = 130
DEADLINE = 0.5
SETTINGS = soak_settings(DEADLINE)
ID = re.compile(rb"<p\d{2}-\d{4}>")
Kind = Literal["json", "text"]


class Clock:
    """The stand-in's clock: real time, plus a jump the test makes to expire every lease at the end."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _config(base_url: str, api: CloudflareApi) -> CloudflareQueueConfig:
    return CloudflareQueueConfig(
        account_id=api.account_id,
        queue_id=QUEUE_ID,
        api_token=api.token,
        queue_name="soak",
        base_url=base_url,
        timeout=2.0,
    )


class Soak:
    def __init__(self, ledger: SoakLedger) -> None:
        self.ledger = ledger
        self.expected: dict[str, tuple[Any, str]] = {}
        """id → (body, content type) of every message a send tried."""
        self.sent_ok: set[str] = set()
        self.send_calls: list[tuple[str, ...]] = []
        """The ids each send/send_batch call carried (one entry per call)."""
        self.received: Counter[str] = Counter()
        self.partial = 0

    def _message(self, rng: random.Random, producer: int, n: int) -> tuple[str, Any, Kind]:
        mid = f"<p{producer:02d}-{n:04d}>"
        content_type: Kind
        if rng.random() < 0.3:
            body: Any = f"text message {mid} " + "t" * rng.randrange(50)
            content_type = "text"
        else:
            body = {"id": mid, "n": n, "nested": {"ü": [1, 2.5, None]}, "pad": "x" * rng.randrange(300)}
            content_type = "json"
        self.expected[mid] = (body, content_type)
        return mid, body, content_type

    async def produce(self, queue: Queue, producer: int) -> None:
        rng = random.Random(SEED * 1000 + producer)
        n = 0
        for _ in range(SENDS_PER_PRODUCER):
            if rng.random() < 0.6:
                n += 1
                mid, body, content_type = self._message(rng, producer, n)
                self.send_calls.append((mid,))
                out = await self.ledger.run(
                    "send", partial(queue.send, body, content_type=content_type), bound=DEADLINE
                )
                ids: tuple[str, ...] = (mid,)
            else:
                batch = []
                # now and then more than the 100 messages one request may carry: the SDK splits it
                size = rng.randint(101, 115) if rng.random() < 0.05 else rng.randint(2, 8)
                for _ in range(size):
                    n += 1
                    batch.append(self._message(rng, producer, n))
                ids = tuple(mid for mid, _, _ in batch)
                self.send_calls.append(ids)
                requests = [MessageSendRequest(body, content_type=ct) for _, body, ct in batch]
                out = await self.ledger.run("send_batch", partial(queue.send_batch, requests), bound=DEADLINE)
            if out.ok:
                self.sent_ok.update(ids)
            elif isinstance(out.error, BatchPartiallySent):  # the SDK says these went out
                self.partial += 1
                self.sent_ok.update(ids[i] for i in out.error.sent)
            elif isinstance(out.error, Unavailable | DeadlineExceeded) and not any(
                "may already be in the queue" in note for note in getattr(out.error, "__notes__", ())
            ):
                self.ledger.problem(f"an ambiguous send failure does not say so: {out.error!r}")

    def _receive(self, batch: MessageBatch, where: str) -> None:
        for message in batch:
            raw = message.body if isinstance(message.body, str) else json.dumps(message.body)
            found = ID.search(raw.encode())
            if found is None:
                self.ledger.problem(f"{where}: a message nobody sent: {message.body!r}")
                continue
            mid = found.group().decode()
            self.received[mid] += 1
            if (message.body, message.content_type) != self.expected.get(mid):
                self.ledger.problem(f"{where}: {mid} arrived as {message.content_type} {message.body!r}")

    async def consume(self, consumer: QueueConsumer) -> None:
        for _ in range(PULLS_PER_CONSUMER):
            out = await self.ledger.run(
                "pull", lambda: consumer.pull(batch_size=10, visibility_timeout=60), bound=DEADLINE
            )
            if not out.ok:
                continue
            batch: MessageBatch = out.value
            if not len(batch):
                await anyio.sleep(0.005)
                continue
            self._receive(batch, "pull")
            batch.ack_all()
            await self.ledger.run("ack", batch.settle, bound=DEADLINE)


class QueueSoak(SoakScenario):
    """Queues' REST producer and pull consumer against the Cloudflare API stand-in."""

    capability = "queue"
    seed = SEED
    flavor = "cloudflare"
    stall_seconds = 4.0

    def __init__(self) -> None:
        self.clock = Clock()
        self.api: CloudflareApi | None = None
        self.state: QueueApi | None = None
        self.soak: Soak | None = None

    @contextlib.contextmanager
    def upstream(self) -> Iterator[str]:
        with CloudflareApi() as api:
            quicken(api)
            self.api = api
            self.state = QueueApi(api, queue_ids=(QUEUE_ID,), max_retries=1000, clock=self.clock)
            yield api.base_url

    @contextlib.asynccontextmanager
    async def load(self, proxy: FaultProxy, ledger: SoakLedger) -> AsyncIterator[list[SoakTask]]:
        assert self.api is not None
        soak = self.soak = Soak(ledger)
        via_proxy = _config(proxy.rewrite(self.api.base_url), self.api)
        async with (
            Queue.from_config(via_proxy, settings=SETTINGS) as queue,
            QueueConsumer.from_config(via_proxy, settings=SETTINGS) as consumer,
        ):
            tasks: list[SoakTask] = [partial(soak.produce, queue, p) for p in range(PRODUCERS)]
            tasks += [partial(soak.consume, consumer) for _ in range(CONSUMERS)]
            yield tasks

    async def judge(self, records: list[ProxyRecord], upstream: str, ledger: SoakLedger) -> str:
        assert self.api is not None
        assert self.state is not None
        assert self.soak is not None
        soak, api = self.soak, self.api
        # sends are never repeated: each call reached the proxy once, each message was accepted once
        pushes = [r for r in records if r.path.endswith(("/messages", "/messages/batch"))]
        carried = Counter(m.decode() for r in pushes for m in set(ID.findall(r.body)))
        for ids in soak.send_calls:  # at most once: a call cancelled before it was sent never arrives
            if any(carried[i] > 1 for i in ids):
                times = sorted({carried[i] for i in ids})
                ledger.problem(f"the send of {ids[:3]}… reached the service {times} times")
        accepted = Counter(
            m.decode()
            for r in pushes
            if r.forwarded and r.upstream_status is not None and r.upstream_status < 300
            for m in set(ID.findall(r.body))
        )
        twice = {mid: n for mid, n in accepted.items() if n > 1}
        if twice:
            ledger.problem(f"the service accepted {len(twice)} message(s) more than once: {twice}")

        # drain directly (no proxy) once every lease has run out
        self.clock.offset = 86_400.0
        async with QueueConsumer.from_config(
            _config(upstream, api), settings=LayerSettings(logging=False)
        ) as direct:
            while True:
                batch = await direct.pull(batch_size=100, visibility_timeout=60)
                if not len(batch):
                    break
                soak._receive(batch, "drain")
                batch.ack_all()
                await batch.settle()
        for mid in sorted(soak.sent_ok - set(soak.received)):
            ledger.lost(f"{mid} was sent (the SDK said so) but never delivered")
        for mid in sorted(set(soak.received) - set(accepted)):
            ledger.problem(f"{mid} was delivered but the service never accepted it")
        redelivered = sum(n - 1 for n in soak.received.values())
        return (
            f", messages_sent_ok={len(soak.sent_ok)}, accepted={len(accepted)}, "
            f"redelivered={redelivered}, dropped={len(self.state.dropped)}, partially_sent={soak.partial}, "
            f"late={late_requests(records)}"
        )
