"""The demo flow's capabilities on the embedded local backends: files and SQLite under one directory.

``caps demo`` and the server host's default configuration both use this. Every path sits under one
data directory, so deleting it resets everything and two data directories never interfere:

==================  =========================================  ===============================
binding             backend                                    on disk
==================  =========================================  ===============================
PAYLOADS (R2)       ``R2Bucket.local``                         ``r2/payloads/``
INDEX (KV)          ``KvNamespace.local``                      ``kv/index/``
JOBS (queue)        ``Queue.local`` + ``QueueConsumer.local``  ``queues/queues.sqlite3``
DEDUPE (DO)         ``Dedupe.local`` (embedded DO runtime)     ``do/dedupe/sql/`` (per object)
==================  =========================================  ===============================

The queue's name and its consumer settings (batch size, retries, dead-letter queue) come from the
flow's manifest, as they would in a ``wrangler.toml``.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from cap_opendal_core.closing import ClosesOnExit, close_all

from .flow import DemoBindings, DemoCapabilities, JobsReport, handle_jobs

if TYPE_CHECKING:
    import os
    from collections.abc import Callable

    from cap_cloudflare_queue import MessageBatch, QueueConsumer
    from cap_opendal_core.bag import CapabilityBag
    from cap_opendal_core.layers import LayerSettings

    from .observe import FlowObserver

__all__ = ["LocalDemo", "LocalLayout"]


@dataclass(frozen=True)
class LocalLayout:
    """Where each capability keeps its data under ``root``."""

    root: Path

    @property
    def payloads(self) -> Path:
        return self.root / "r2" / "payloads"

    @property
    def index(self) -> Path:
        return self.root / "kv" / "index"

    @property
    def queues(self) -> Path:
        return self.root / "queues"

    @property
    def dedupe(self) -> Path:
        return self.root / "do" / "dedupe"

    def rows(self) -> list[tuple[str, str, Path]]:
        """``(binding, what, path)`` for each capability, for display."""
        return [
            ("PAYLOADS", "R2 bucket: a blob and a JSON record per object", self.payloads),
            ("INDEX", "KV namespace: one file per key", self.index),
            ("JOBS", "queue: queues.sqlite3 (WAL)", self.queues),
            ("DEDUPE", "Durable Object ledger: one SQLite database per object", self.dedupe),
        ]


@dataclass(eq=False, repr=False)
class LocalDemo(ClosesOnExit):
    """The four capabilities plus a consumer of the jobs queue, opened under one data directory.

    ``async with LocalDemo.open(".caps/demo") as demo:`` — ``demo.caps`` is the
    :class:`DemoCapabilities`, ``demo.consumer`` the :class:`QueueConsumer` of the jobs queue.
    Closing it closes all of them (and releases the Durable Object runtime's lock on its directory).
    """

    layout: LocalLayout
    caps: DemoCapabilities
    consumer: QueueConsumer
    _: KW_ONLY
    queue_name: str
    batch_size: int

    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str],
        *,
        manifest: Any = None,
        settings: LayerSettings | None = None,
        bindings: DemoBindings | None = None,
    ) -> LocalDemo:
        """Build (no I/O beyond creating directories) every capability under ``root``."""
        from cap_cloudflare_do import Dedupe
        from cap_cloudflare_kv import KvNamespace
        from cap_cloudflare_queue import Queue, QueueConsumer
        from cap_cloudflare_r2 import R2Bucket

        from .observe import demo_manifest

        names = bindings or DemoBindings()
        spec = (manifest or demo_manifest())[names.jobs]
        queue_name = spec.queue or "caps-demo-jobs"
        consumer_settings = spec.consumer
        layout = LocalLayout(Path(root))
        for path in (layout.payloads, layout.index, layout.queues, layout.dedupe):
            path.mkdir(parents=True, exist_ok=True)
        batch_size = (consumer_settings.max_batch_size if consumer_settings else None) or 10
        # Constructors do no I/O and hold nothing yet (the Durable Object runtime locks its directory
        # when entered), so a failure half way leaves nothing to close.
        payloads = R2Bucket.local(layout.payloads, settings=settings)
        index = KvNamespace.local(layout.index, settings=settings)
        jobs = Queue.local(layout.queues, queue_name, settings=settings)
        consumer = QueueConsumer.local(
            layout.queues,
            queue_name,
            max_batch_size=batch_size,
            max_retries=(consumer_settings.max_retries if consumer_settings else None) or 3,
            dead_letter_queue=consumer_settings.dead_letter_queue if consumer_settings else None,
            settings=settings,
        )
        dedupe = Dedupe.local(layout.dedupe, settings=settings)
        caps = DemoCapabilities(payloads, index, jobs, dedupe)
        return cls(layout, caps, consumer, queue_name=queue_name, batch_size=batch_size)

    async def drain(
        self,
        observer: FlowObserver,
        *,
        expected: int,
        progress: Callable[[int], None] | None = None,
    ) -> JobsReport:
        """Pull and handle batches of jobs until ``expected`` were handled or the queue has nothing
        visible (a pull that returns a short batch). ``progress`` gets the running count after each
        batch. Returns the batches' figures added up, with the latest summary."""
        total = JobsReport()

        async def receive() -> MessageBatch:
            return await self.consumer.pull(batch_size=self.batch_size)

        while True:
            report = await handle_jobs(self.caps, receive, observer)
            total.add(report)
            if progress is not None:
                progress(total.received)
            if report.received < self.batch_size or total.received >= expected:
                return total

    def bag(self, bindings: DemoBindings | None = None) -> CapabilityBag:
        """The four capabilities as a bag (for preflight); the consumer is this host's own."""
        return self.caps.to_bag(bindings)

    async def __aenter__(self) -> Self:
        await self.caps.dedupe.__aenter__()
        return self

    async def aclose(self) -> None:
        """Close everything, newest first; every close is attempted."""
        caps = self.caps
        closing = (caps.dedupe, self.consumer, caps.jobs, caps.index, caps.payloads)
        await close_all([c.aclose for c in closing], "the demo's capabilities")
