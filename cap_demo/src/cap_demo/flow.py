"""The demo flow's nodes — the same code on the local backends, a server, and inside a Python Worker.

Each ``async def`` below is one Flow IR node of ``demo_ingest.flow_ir.json`` and calls only the
capabilities that node declares; the hosts (``caps demo``, ``examples/server_host``,
``examples/workers_host``) differ only in how they build :class:`DemoCapabilities` and where batches
of jobs come from. The orchestration functions (:func:`ingest`, :func:`handle_jobs`) run every node
execution inside a :class:`~cap_demo.observe.FlowObserver` scope.

Exactly-once effects, and what that means here: the queue delivers each job *at least* once (and a
re-run publishes every job again), so ``consume_jobs`` claims the job id in the :class:`Dedupe` ledger
first — exactly one claim per id ever succeeds — and only a winning claim is counted into the totals
by ``summarize``. The job is acknowledged only after the totals are written; if writing them fails the
claims are released (``forget``) and the jobs retried, so nothing is lost and nothing counts twice. The
one window left is a crash between the claim and the totals write: that job is then never counted
(at-most-once for that crash), which is the price of a ledger that is not in the same store as the
effect. Claims never expire here, so a re-run months later still counts each event once.

This module imports only the standard library and the core at import time (it runs under Pyodide);
the capability packages are imported inside the functions that build capabilities.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.errors import CapabilityError, InvalidInput, PreconditionFailed
from cap_opendal_core.records import attributes

from .events import EVENT_ID, encode_event

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from cap_cloudflare_do import Dedupe
    from cap_cloudflare_kv import KvNamespace
    from cap_cloudflare_queue import Message, MessageBatch, Queue
    from cap_cloudflare_r2 import R2Bucket, R2ObjectBody
    from cap_opendal_core.bag import CapabilityBag

    from .observe import FlowObserver

__all__ = [
    "SUMMARY_KEY",
    "Claimed",
    "DemoBindings",
    "DemoCapabilities",
    "IngestReport",
    "JobResult",
    "JobsReport",
    "StoredEvent",
    "consume_jobs",
    "empty_summary",
    "enqueue_jobs",
    "handle_jobs",
    "index_event",
    "index_key",
    "ingest",
    "job_id",
    "open_payload",
    "payload_key",
    "read_index_entry",
    "read_summary",
    "release_claims",
    "store_payload",
    "summarize",
]

SUMMARY_KEY: Final = "summary.json"
"""The running totals, in the PAYLOADS bucket next to the events."""
FLOW_NAME: Final = "caps_demo_ingest"
INDEX_RETRY_DELAY_S: Final = 10
"""When a job's index entry is not visible yet (Workers KV is eventually consistent: a write can take
up to a minute to reach another location), the job is retried after this many seconds."""
SUMMARY_ATTEMPTS: Final = 8
"""Conditional writes of the totals tried before giving up (each loses only to a concurrent writer)."""
INGEST_CONCURRENCY: Final = 8
"""Events stored and indexed at once."""


# --- keys ------------------------------------------------------------------------------------------


def payload_key(event_id: str) -> str:
    """Where an event's payload lives in R2."""
    return f"events/{event_id}.json"


def index_key(event_id: str) -> str:
    """Where an event's index entry lives in KV."""
    return f"event:{event_id}"


def job_id(event_id: str) -> str:
    """The job of an event: derived from the event id, so publishing it twice is the same job."""
    return f"job:{event_id}"


def _check_event_id(event_id: object) -> str:
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise InvalidInput(f"not an event id: {event_id!r}", field="event_id")
    return event_id


# --- the capabilities ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoBindings:
    """The binding names the flow's manifest gives its four capabilities (a host may rename them)."""

    payloads: str = "PAYLOADS"
    index: str = "INDEX"
    jobs: str = "JOBS"
    dedupe: str = "DEDUPE"


@dataclass
class DemoCapabilities:
    """The four capabilities the flow uses: an R2 bucket, a KV namespace, a queue producer, a ledger."""

    payloads: R2Bucket
    index: KvNamespace
    jobs: Queue
    dedupe: Dedupe

    @classmethod
    def from_env(cls, env: Any, bindings: DemoBindings | None = None) -> DemoCapabilities:
        """Inside a Python Worker: every capability from its binding in ``env`` (raw or SDK-wrapped)."""
        from cap_cloudflare_do import Dedupe, DurableObjectNamespace
        from cap_cloudflare_kv import KvNamespace
        from cap_cloudflare_queue import Queue
        from cap_cloudflare_r2 import R2Bucket

        names = bindings or DemoBindings()
        return cls(
            payloads=R2Bucket.from_env(env, names.payloads),
            index=KvNamespace.from_env(env, names.index),
            jobs=Queue.from_env(env, names.jobs),
            dedupe=Dedupe(DurableObjectNamespace.from_env(env, names.dedupe, read_only=())),
        )

    @classmethod
    def from_bag(cls, bag: CapabilityBag, bindings: DemoBindings | None = None) -> DemoCapabilities:
        """From a host's :class:`~cap_opendal_core.bag.CapabilityBag` (after preflight)."""
        names = bindings or DemoBindings()
        return cls(bag[names.payloads], bag[names.index], bag[names.jobs], bag[names.dedupe])

    def to_bag(self, bindings: DemoBindings | None = None) -> CapabilityBag:
        """A bag holding the four under their binding names, for preflight and ``async with``."""
        from cap_opendal_core.bag import CapabilityBag

        names = bindings or DemoBindings()
        return CapabilityBag(
            {
                names.payloads: self.payloads,
                names.index: self.index,
                names.jobs: self.jobs,
                names.dedupe: self.dedupe,
            }
        )


# --- ingest: store_payload, index_event, enqueue_job ----------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    """An event whose payload is in R2. ``created`` is False when an earlier run had stored it;
    ``conflict`` is True when what is stored under its id is not this event (ids are immutable)."""

    event_id: str
    key: str
    size: int
    sha256: str
    kind: str
    amount_cents: int
    created: bool
    conflict: bool = False

    def index_entry(self) -> dict[str, Any]:
        return attributes(self, ("key", "size", "sha256", "kind", "amount_cents"))


async def store_payload(caps: DemoCapabilities, event: Mapping[str, Any]) -> StoredEvent:
    """Node ``store_payload``: put the event into R2 unless it is already there (first write wins).

    The payload is sent with its SHA-256, so R2 refuses a corrupted upload; the digest also goes into
    the object's custom metadata, so a later submission of the same id can be told apart.
    """
    from cap_cloudflare_r2 import R2Conditional

    event_id = _check_event_id(event.get("id"))
    data = encode_event(dict(event))
    digest = hashlib.sha256(data).hexdigest()
    key = payload_key(event_id)
    kind = str(event.get("kind", "event"))
    amount = int(event.get("amount_cents", 0))
    for _ in range(2):  # the second round only if the object vanished between put and head
        stored = await caps.payloads.put(
            key,
            data,
            http_metadata={"content_type": "application/json"},
            custom_metadata={"sha256": digest, "kind": kind},
            sha256=digest,
            only_if=R2Conditional(etag_does_not_match="*"),
        )
        if stored is not None:
            return StoredEvent(event_id, key, len(data), digest, kind, amount, created=True)
        existing = await caps.payloads.head(key)
        if existing is not None:
            same = existing.custom_metadata.get("sha256") == digest
            return StoredEvent(
                event_id, key, existing.size, digest, kind, amount, created=False, conflict=not same
            )
    raise PreconditionFailed(
        f"event {event_id!r}: the stored payload kept changing while it was written",
        capability="r2",
        operation="put",
        key=key,
    )


async def index_event(caps: DemoCapabilities, stored: StoredEvent) -> None:
    """Node ``index_event``: the event's index entry in KV (overwriting it is harmless)."""
    await caps.index.put(
        index_key(stored.event_id),
        json.dumps(stored.index_entry(), separators=(",", ":"), sort_keys=True),
        metadata={"kind": stored.kind, "size": stored.size},
    )


async def enqueue_jobs(caps: DemoCapabilities, stored: Sequence[StoredEvent]) -> int:
    """Node ``enqueue_job``: one job per event, sent as batches (``send_batch`` splits at 100)."""
    from cap_cloudflare_queue import MessageSendRequest

    requests = [
        MessageSendRequest({"job_id": job_id(s.event_id), "event_id": s.event_id, "key": s.key})
        for s in stored
    ]
    if requests:
        await caps.jobs.send_batch(requests)
    return len(requests)


@dataclass
class IngestReport:
    """What one ingest did: how many events arrived, were new, were already stored, and were enqueued."""

    received: int = 0
    created: int = 0
    existing: int = 0
    conflicts: list[str] = field(default_factory=list)
    enqueued: int = 0

    def add(self, other: IngestReport) -> None:
        """Add ``other``'s figures to these (several submissions make one report)."""
        self.received += other.received
        self.created += other.created
        self.existing += other.existing
        self.conflicts.extend(other.conflicts)
        self.enqueued += other.enqueued

    def to_dict(self) -> dict[str, Any]:
        shown = attributes(self, ("received", "created", "existing"))
        return shown | {"conflicts": list(self.conflicts), "enqueued": self.enqueued}


async def ingest(
    caps: DemoCapabilities,
    events: Sequence[Mapping[str, Any]] | object,
    observer: FlowObserver,
    *,
    concurrency: int = INGEST_CONCURRENCY,
) -> IngestReport:
    """Nodes ``ingest`` → ``store_payload`` + ``index_event`` (per event) → ``enqueue_job``.

    ``events`` is checked first (:func:`~cap_demo.events.check_events`): a bad batch
    raises before anything is stored. An event whose id already holds a different payload is reported
    in ``conflicts`` and neither indexed nor enqueued.
    """
    import anyio

    from .events import check_events

    with observer.node("ingest"):
        checked = check_events(events)
    report = IngestReport(received=len(checked))
    results: dict[str, StoredEvent] = {}
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(event: Mapping[str, Any]) -> None:
        async with limiter:
            with observer.node("store_payload"):
                stored = await store_payload(caps, event)
            results[stored.event_id] = stored
            if stored.conflict:
                return
            with observer.node("index_event"):
                await index_event(caps, stored)

    async with anyio.create_task_group() as group:
        for event in checked:
            group.start_soon(one, event)

    ordered = [results[e["id"]] for e in checked]
    report.created = sum(s.created for s in ordered)
    report.existing = sum(not s.created for s in ordered)
    report.conflicts = [s.event_id for s in ordered if s.conflict]
    ready = [s for s in ordered if not s.conflict]
    with observer.node("enqueue_job"):
        report.enqueued = await enqueue_jobs(caps, ready)
    return report


# --- jobs: consume_jobs, summarize ----------------------------------------------------------------


@dataclass(frozen=True)
class JobResult:
    """A job whose claim this consumer won: what it adds to the totals."""

    job_id: str
    event_id: str
    kind: str
    size: int
    amount_cents: int


@dataclass
class Claimed:
    """What ``consume_jobs`` decided for a batch. ``results`` and their ``messages`` are still pending:
    they are acknowledged once ``summarize`` has counted them."""

    results: list[JobResult] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    duplicates: int = 0
    retried: int = 0
    rejected: int = 0


def _job_of(body: object) -> tuple[str, str] | None:
    if not isinstance(body, dict):
        return None
    job, event_id = body.get("job_id"), body.get("event_id")
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id) or job != job_id(event_id):
        return None
    return job, event_id


async def consume_jobs(caps: DemoCapabilities, batch: MessageBatch) -> Claimed:
    """Node ``consume_jobs``: claim each job in the Dedupe ledger and read its event's index entry.

    A job someone already claimed is acknowledged at once (its effect happened); a malformed job is
    retried (after ``max_retries`` it goes to the dead-letter queue); a job whose index entry cannot
    be read yet releases its claim and is retried later.
    """
    claimed = Claimed()
    for message in batch.messages:
        job = _job_of(message.body)
        if job is None:
            message.retry()
            claimed.rejected += 1
            continue
        jid, event_id = job
        if not await caps.dedupe.put_if_absent(jid):
            message.ack()
            claimed.duplicates += 1
            continue
        try:
            entry = await caps.index.get(index_key(event_id), "json")
        except CapabilityError:
            await caps.dedupe.forget(jid)
            message.retry(delay_seconds=INDEX_RETRY_DELAY_S)
            claimed.retried += 1
            continue
        if not isinstance(entry, dict):  # not visible yet (eventual consistency) or unreadable
            await caps.dedupe.forget(jid)
            message.retry(delay_seconds=INDEX_RETRY_DELAY_S)
            claimed.retried += 1
            continue
        claimed.results.append(
            JobResult(
                jid,
                event_id,
                str(entry.get("kind", "event")),
                int(entry.get("size", 0)),
                int(entry.get("amount_cents", 0)),
            )
        )
        claimed.messages.append(message)
    return claimed


async def release_claims(caps: DemoCapabilities, claimed: Claimed) -> None:
    """Give back the claims of jobs whose effect was not recorded, so their retry can win again."""
    for result in claimed.results:
        await caps.dedupe.forget(result.job_id)


def empty_summary() -> dict[str, Any]:
    return {"flow": FLOW_NAME, "events": 0, "bytes": 0, "amount_cents": 0, "by_kind": {}, "updates": 0}


def add_results(summary: Mapping[str, Any], results: Iterable[JobResult], *, now: str) -> dict[str, Any]:
    """``summary`` with ``results`` counted in (pure: the caller writes it)."""
    out = {**empty_summary(), **summary}
    by_kind = dict(out["by_kind"])
    for r in results:
        out["events"] += 1
        out["bytes"] += r.size
        out["amount_cents"] += r.amount_cents
        by_kind[r.kind] = by_kind.get(r.kind, 0) + 1
    out["by_kind"] = dict(sorted(by_kind.items()))
    out["updates"] += 1
    out["updated_at"] = now
    return out


async def summarize(caps: DemoCapabilities, results: Sequence[JobResult]) -> dict[str, Any]:
    """Node ``summarize``: count ``results`` into ``summary.json`` with a conditional write.

    Read the totals, add, and write them back only if nobody changed them meanwhile (``etag_matches``,
    or ``etag_does_not_match="*"`` for the first write); on a lost race, read again. Counting is not
    idempotent — that is why only jobs whose Dedupe claim won reach this node.
    """
    import datetime as dt

    from cap_cloudflare_r2 import R2Conditional

    for _ in range(SUMMARY_ATTEMPTS):
        body = await caps.payloads.get(SUMMARY_KEY)
        if body is None:
            current: dict[str, Any] = empty_summary()
            condition = R2Conditional(etag_does_not_match="*")
        else:
            current = json.loads(await body.read())
            condition = R2Conditional(etag_matches=body.etag)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        updated = add_results(current, results, now=now)
        written = await caps.payloads.put(
            SUMMARY_KEY,
            json.dumps(updated, indent=2, sort_keys=True).encode("utf-8") + b"\n",
            http_metadata={"content_type": "application/json"},
            only_if=condition,
        )
        if written is not None:
            return updated
    raise PreconditionFailed(
        f"{SUMMARY_KEY} changed under every one of {SUMMARY_ATTEMPTS} attempts to update it",
        capability="r2",
        operation="put",
        key=SUMMARY_KEY,
    )


@dataclass
class JobsReport:
    """One batch of jobs: how many arrived, were counted, were duplicates, were retried or rejected."""

    received: int = 0
    processed: int = 0
    duplicates: int = 0
    retried: int = 0
    rejected: int = 0
    bytes: int = 0
    """Payload bytes of the jobs counted."""
    summary: dict[str, Any] | None = None

    def add(self, other: JobsReport) -> None:
        """Add ``other``'s figures to these (and keep its summary when it has one)."""
        self.received += other.received
        self.processed += other.processed
        self.duplicates += other.duplicates
        self.retried += other.retried
        self.rejected += other.rejected
        self.bytes += other.bytes
        self.summary = other.summary or self.summary

    def to_dict(self) -> dict[str, Any]:
        return attributes(self, ("received", "processed", "bytes", "duplicates", "retried", "rejected"))


async def handle_jobs(
    caps: DemoCapabilities,
    receive: Callable[[], Awaitable[MessageBatch]],
    observer: FlowObserver,
) -> JobsReport:
    """Nodes ``consume_jobs`` → ``summarize`` for one batch, then acknowledge it.

    ``receive`` produces the batch inside the ``consume_jobs`` scope (``consumer.pull`` on a server,
    ``MessageBatch.from_js`` in a Worker), so receiving counts as the node's. Settling the batch is
    the host's bookkeeping and happens outside the node scopes. If ``summarize`` fails, the claims are
    released, the claimed jobs retried, and the error re-raised.
    """
    with observer.node("consume_jobs"):
        batch = await receive()
        claimed = await consume_jobs(caps, batch)
    report = JobsReport(
        received=len(batch.messages),
        processed=len(claimed.results),
        duplicates=claimed.duplicates,
        retried=claimed.retried,
        rejected=claimed.rejected,
        bytes=sum(r.size for r in claimed.results),
    )
    if claimed.results:
        try:
            with observer.node("summarize"):
                report.summary = await summarize(caps, claimed.results)
        except Exception:
            await release_claims(caps, claimed)
            for message in claimed.messages:
                message.retry()
            await batch.settle()
            raise
    batch.ack_all()
    await batch.settle()
    return report


# --- reading back ----------------------------------------------------------------------------------


async def read_summary(caps: DemoCapabilities) -> dict[str, Any] | None:
    """The totals so far, or None before the first job was counted."""
    body = await caps.payloads.get(SUMMARY_KEY)
    if body is None:
        return None
    data: dict[str, Any] = json.loads(await body.read())
    return data


async def read_index_entry(caps: DemoCapabilities, event_id: str) -> dict[str, Any] | None:
    """An event's index entry, or None."""
    entry = await caps.index.get(index_key(_check_event_id(event_id)), "json")
    return entry if isinstance(entry, dict) else None


async def open_payload(caps: DemoCapabilities, event_id: str) -> R2ObjectBody | None:
    """An event's stored payload, streamed (``async for chunk in body``), or None."""
    return await caps.payloads.get(payload_key(_check_event_id(event_id)))
