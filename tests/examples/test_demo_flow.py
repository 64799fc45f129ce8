"""The demo flow's nodes on the local backends: exactly-once counting under redelivery, races and
failures, and the checks on submitted events.

Faults are injected by wrapping the real local bucket (a put of ``summary.json`` fails a given number
of times), so everything else — files, SQLite, the Durable Object runtime — is the real thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import anyio
import pytest

from cap_demo.events import check_events, encode_event, make_events
from cap_demo.flow import (
    SUMMARY_KEY,
    DemoCapabilities,
    handle_jobs,
    index_key,
    ingest,
    job_id,
    read_summary,
)
from cap_demo.local import LocalDemo
from cap_demo.observe import DeclaredNode, FlowObserver
from cap_opendal_core.errors import InvalidInput, LimitExceeded, Unavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from cap_cloudflare_queue import MessageBatch
    from cap_cloudflare_r2 import R2Bucket, R2PutValue

pytestmark = pytest.mark.anyio


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[LocalDemo]:
    async with LocalDemo.open(tmp_path / "data") as opened:
        yield opened


def _pull(demo: LocalDemo, size: int = 10) -> Any:
    async def receive() -> MessageBatch:
        return await demo.consumer.pull(batch_size=size)

    return receive


class _FlakySummaryBucket:
    """The real bucket, except that writing ``summary.json`` fails ``failures`` times."""

    def __init__(self, bucket: R2Bucket, failures: int) -> None:
        self._bucket = bucket
        self.failures = failures

    async def put(self, key: str, value: R2PutValue, **options: Any) -> Any:
        if key == SUMMARY_KEY and self.failures > 0:
            self.failures -= 1
            raise Unavailable("injected: R2 is unavailable", capability="r2", operation="put", key=key)
        return await self._bucket.put(key, value, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bucket, name)


async def test_redelivered_and_republished_jobs_count_once(demo: LocalDemo) -> None:
    observer = FlowObserver()
    events = make_events(7)
    await ingest(demo.caps, events, observer)
    await ingest(demo.caps, events, observer)  # every job published twice

    first = await handle_jobs(demo.caps, _pull(demo, 14), observer)
    assert (first.received, first.processed, first.duplicates) == (14, 7, 7)
    summary = await read_summary(demo.caps)
    assert summary is not None
    assert summary["events"] == 7
    assert summary["bytes"] == sum(len(encode_event(e)) for e in events)
    assert summary["amount_cents"] == sum(e.get("amount_cents", 0) for e in events)
    assert (await demo.consumer.pull()).messages == (), "everything was acknowledged"
    for report in observer.reports():
        assert report.ok, report.alias


async def test_two_consumers_racing_on_the_same_jobs_count_each_once(demo: LocalDemo) -> None:
    observer = FlowObserver()
    events = make_events(20)
    for _ in range(3):
        await ingest(demo.caps, events, observer)  # 60 jobs for 20 events
    totals: list[int] = []

    async def consumer() -> None:
        while True:
            report = await handle_jobs(demo.caps, _pull(demo, 5), observer)
            if not report.received:
                return
            totals.append(report.processed)

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(consumer)
    assert sum(totals) == 20
    summary = await read_summary(demo.caps)
    assert summary is not None
    assert summary["events"] == 20, "the conditional summary write lost no update"
    assert sum(summary["by_kind"].values()) == 20


async def test_a_failed_summary_releases_the_claims_and_the_retry_counts_them(demo: LocalDemo) -> None:
    observer = FlowObserver()
    await ingest(demo.caps, make_events(4), observer)
    flaky = _FlakySummaryBucket(demo.caps.payloads, failures=1)
    caps = DemoCapabilities(cast("R2Bucket", flaky), demo.caps.index, demo.caps.jobs, demo.caps.dedupe)

    with pytest.raises(Unavailable, match="injected"):
        await handle_jobs(caps, _pull(demo), observer)
    assert await read_summary(demo.caps) is None
    for n in range(1, 5):  # the claims were given back
        assert await demo.caps.dedupe.put_if_absent(job_id(f"evt-{n:06d}")) is True
        await demo.caps.dedupe.forget(job_id(f"evt-{n:06d}"))

    retried = await handle_jobs(caps, _pull(demo), observer)  # the jobs came back (retried, no delay)
    assert (retried.received, retried.processed) == (4, 4)
    summary = await read_summary(demo.caps)
    assert summary is not None
    assert summary["events"] == 4
    redelivered = await demo.consumer.pull()
    assert redelivered.messages == ()


async def test_a_job_whose_index_entry_is_not_visible_is_retried_not_lost(demo: LocalDemo) -> None:
    observer = FlowObserver()
    await ingest(demo.caps, make_events(2), observer)
    await demo.caps.index.delete(index_key("evt-000002"))  # as if the KV write had not propagated yet

    report = await handle_jobs(demo.caps, _pull(demo), observer)
    assert (report.received, report.processed, report.retried) == (2, 1, 1)
    assert await demo.caps.dedupe.put_if_absent(job_id("evt-000002")) is True, "its claim was released"


async def test_a_malformed_job_is_rejected_and_nothing_is_counted(demo: LocalDemo) -> None:
    await demo.caps.jobs.send({"job_id": "job:x", "event_id": "y"})  # job id does not match the event
    report = await handle_jobs(demo.caps, _pull(demo), FlowObserver())
    assert (report.received, report.rejected, report.processed) == (1, 1, 0)
    assert await read_summary(demo.caps) is None


async def test_an_id_that_holds_another_payload_is_a_conflict(demo: LocalDemo) -> None:
    observer = FlowObserver()
    await ingest(demo.caps, [{"id": "order-1", "kind": "purchase", "amount_cents": 500}], observer)
    clash = await ingest(demo.caps, [{"id": "order-1", "kind": "purchase", "amount_cents": 999}], observer)
    assert clash.conflicts == ["order-1"]
    assert clash.enqueued == 0
    entry = await demo.caps.index.get(index_key("order-1"), "json")
    assert entry["amount_cents"] == 500, "first write wins; the index still describes it"


def test_submitted_events_are_checked_before_anything_is_stored() -> None:
    assert check_events({"events": [{"id": "a"}]}) == [{"id": "a", "kind": "event"}]
    bad: list[tuple[object, str]] = [
        ("nope", "expected a JSON array"),
        ([], "no events"),
        ([{"id": "a"}, 3], "events[1]: must be an object"),
        ([{"id": ""}], "events[0].id"),
        ([{"id": "a"}, {"id": "a"}], "appears twice"),
        ([{"id": "a", "kind": "no spaces please"}], "events[0].kind"),
        ([{"id": "a", "amount_cents": -1}], "events[0].amount_cents"),
        ([{"id": "a", "amount_cents": 1.5}], "events[0].amount_cents"),
        ([{"id": "a", "x": float("nan")}], "not JSON-serialisable"),
    ]
    for value, message in bad:
        with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
            check_events(value)
    with pytest.raises(LimitExceeded, match="at most 100"):
        check_events([{"id": f"e{i}"} for i in range(101)])
    with pytest.raises(LimitExceeded, match="bytes as JSON"):
        check_events([{"id": "big", "blob": "x" * 70_000}])


def test_generated_events_are_the_same_every_time() -> None:
    assert make_events(50) == make_events(50)
    assert make_events(3, start=48) == make_events(50)[47:]
    assert len({e["id"] for e in make_events(1000)}) == 1000
    assert check_events(make_events(100)) == make_events(100)


def test_the_observer_compares_each_execution_with_its_declaration() -> None:
    from cap_opendal_core.hints import Determinism, Effects

    observer = FlowObserver({"peek": DeclaredNode("peek", Effects.PURE, Determinism.STRICT)})
    with pytest.raises(InvalidInput, match="not in the flow"):
        observer.node("typo").__enter__()
    with observer.node("peek") as scope:
        scope.record("resource::kv::read", "resource::kv", capability="kv", operation="get")
    with observer.node("peek"):
        pass
    (report,) = observer.reports()
    assert report.runs == 2
    assert (report.effects, report.determinism) == (Effects.READ_ONLY, Determinism.BEST_EFFORT)
    assert sorted(d.code for d in report.diagnostics) == ["DET301", "DET302", "EFFECT201"]
