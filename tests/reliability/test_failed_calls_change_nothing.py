"""A call that raises has changed nothing: every numeric, time and size argument of every write (and
the reads around them), given a value the runtime cannot represent, is refused with
``InvalidInput``/``LimitExceeded`` naming it, before any I/O, and the store reads back as before.

The values (``EXTREMES``) are the ones that broke calls before (issue 13): ints too large for a float
(``OverflowError``), ints too large to print (``ValueError`` from the error message itself), NaN,
infinities, floats past every limit, datetimes at the edges of what ``datetime`` holds. Each call
runs on a local store that holds data already; the store's files are compared before and after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import Dedupe, DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace, KvWrite
from cap_cloudflare_queue import MessageBatch, MessageSendRequest, Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket, R2MultipartUpload
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.layers import LayerSettings

from .bad_input_judging import attempt, tree
from .test_bad_input_do import Echo

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

pytestmark = pytest.mark.anyio

QUIET = LayerSettings(logging=False)

EXTREMES: list[tuple[str, Any]] = [
    ("int too large to print", 10**5000),
    ("negative int too large to print", -(10**5000)),
    ("int too large for a float", 10**400),
    ("negative int too large for a float", -(10**400)),
    ("past 2**64", 2**64 + 1),
    ("1e300", 1e300),
    ("-1e300", -1e300),
    ("infinity", float("inf")),
    ("nan", float("nan")),
]
"""Numbers no argument takes; each case below is run with every one."""

KV_CASES: dict[str, Callable[[KvNamespace, Any], Awaitable[Any]]] = {
    "put expiration": lambda kv, x: kv.put("new", "v", expiration=x),
    "put expiration_ttl": lambda kv, x: kv.put("new", "v", expiration_ttl=x),
    "put_many (second item) expiration": lambda kv, x: kv.put_many(
        [KvWrite("new1", "v"), KvWrite("new2", "v", expiration=x)]
    ),
    "put_many (second item) expiration_ttl": lambda kv, x: kv.put_many(
        [KvWrite("new1", "v"), KvWrite("new2", "v", expiration_ttl=x)]
    ),
    "get cache_ttl": lambda kv, x: kv.get("old", cache_ttl=x),
    "list limit": lambda kv, x: kv.list(limit=x),
}


@pytest.mark.parametrize("extreme", EXTREMES, ids=[e[0] for e in EXTREMES])
@pytest.mark.parametrize("case", sorted(KV_CASES))
async def test_kv(case: str, extreme: tuple[str, Any], tmp_path: Path) -> None:
    async with KvNamespace.local(tmp_path / "kv", settings=QUIET) as kv:
        await kv.put("old", "v", metadata={"a": 1}, expiration_ttl=3600)
        before = tree(tmp_path / "kv")
        await _refused(KV_CASES[case](kv, extreme[1]), case)
        assert tree(tmp_path / "kv") == before
        assert await kv.get("new") is None
        assert await kv.get("old") == "v"


R2_CASES: dict[str, Callable[[R2Bucket, R2MultipartUpload, Any], Awaitable[Any]]] = {
    "upload_part part_number": lambda r2, up, x: up.upload_part(x, b"p"),
    "complete part_number": lambda r2, up, x: up.complete([{"part_number": x, "etag": "0" * 32}]),
    "get offset range": lambda r2, up, x: r2.get("old", range={"offset": x}),
    "get length range": lambda r2, up, x: r2.get("old", range={"offset": 0, "length": x}),
    "get suffix range": lambda r2, up, x: r2.get("old", range={"suffix": x}),
    "list limit": lambda r2, up, x: r2.list(limit=x),
    "put value custom_metadata": lambda r2, up, x: r2.put("new", b"v", custom_metadata={"n": x}),
    "put cache_expiry http_metadata": lambda r2, up, x: r2.put(
        "new", b"v", http_metadata={"cache_expiry": x}
    ),
    "put uploaded_before only_if": lambda r2, up, x: r2.put("old", b"w", only_if={"uploaded_before": x}),
}
R2_READS = frozenset({"get length range", "get suffix range"})
"""A range longer than the object reads to its end: a huge length or suffix may succeed (and write
nothing); it must not crash."""


@pytest.mark.parametrize("extreme", EXTREMES, ids=[e[0] for e in EXTREMES])
@pytest.mark.parametrize("case", sorted(R2_CASES))
async def test_r2(case: str, extreme: tuple[str, Any], tmp_path: Path) -> None:
    async with R2Bucket.local(tmp_path / "r2", settings=QUIET) as r2:
        await r2.put("old", b"v")
        upload = await r2.create_multipart_upload("new")
        before = tree(tmp_path / "r2")
        await _refused(
            R2_CASES[case](r2, upload, extreme[1]), case, late=("range",), may_read=case in R2_READS
        )
        assert tree(tmp_path / "r2") == before
        assert await r2.head("new") is None


QUEUE_CASES: dict[str, Callable[[Queue, QueueConsumer, MessageBatch, Any], Awaitable[Any]]] = {
    "send delay_seconds": lambda q, c, m, x: q.send("m", delay_seconds=x),
    "send_batch delay_seconds": lambda q, c, m, x: q.send_batch(
        [MessageSendRequest("a"), MessageSendRequest("b")], delay_seconds=x
    ),
    "send_batch one message's delay_seconds": lambda q, c, m, x: q.send_batch(
        [MessageSendRequest("a"), MessageSendRequest("b", delay_seconds=x)]
    ),
    "pull batch_size": lambda q, c, m, x: c.pull(batch_size=x),
    "pull visibility_timeout": lambda q, c, m, x: c.pull(visibility_timeout=x),
    "pull wait_time": lambda q, c, m, x: c.pull(wait_time=x),
    "retry delay_seconds": lambda q, c, b, x: _retry(b, x),
}


async def _retry(batch: MessageBatch, delay: Any) -> None:
    batch.messages[0].retry(delay_seconds=delay)  # refused here, or marked …
    await batch.settle()  # … and then settled (which would change the queue)


@pytest.mark.parametrize("extreme", EXTREMES, ids=[e[0] for e in EXTREMES])
@pytest.mark.parametrize("case", sorted(QUEUE_CASES))
async def test_queue(case: str, extreme: tuple[str, Any], tmp_path: Path) -> None:
    async with (
        Queue.local(tmp_path / "q", "jobs", settings=QUIET) as queue,
        QueueConsumer.local(tmp_path / "q", "jobs", settings=QUIET) as consumer,
    ):
        await queue.send("old")
        await queue.send("older")
        batch = await consumer.pull(batch_size=1)
        assert len(batch.messages) == 1
        counted = await _queued(tmp_path / "q")
        await _refused(QUEUE_CASES[case](queue, consumer, batch, extreme[1]), case)
        assert await _queued(tmp_path / "q") == counted


async def _queued(path: Path) -> list[tuple[Any, ...]]:
    import sqlite3

    from cap_cloudflare_queue.backends.local import DB_FILE

    db = sqlite3.connect(path / DB_FILE)
    try:
        names = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        tables = [r[0] for r in db.execute(names)]
        return [(t, *row) for t in tables for row in db.execute(f"SELECT * FROM {t} ORDER BY 1")]
    finally:
        db.close()


DO_CASES: dict[str, Callable[[DurableObjectNamespace, Dedupe, Any], Awaitable[Any]]] = {
    "set_alarm scheduled_time": lambda ns, d, x: _storage(ns).set_alarm(x),
    "list limit": lambda ns, d, x: _storage(ns).list(limit=x),
    "dedupe ttl": lambda ns, d, x: d.put_if_absent("new", ttl=x),
}


def _storage(ns: DurableObjectNamespace) -> Any:
    runtime = ns.runtime
    assert runtime is not None
    return runtime.storage(ns.id_from_name("one"))


@pytest.mark.parametrize("extreme", EXTREMES, ids=[e[0] for e in EXTREMES])
@pytest.mark.parametrize("case", sorted(DO_CASES))
async def test_do(case: str, extreme: tuple[str, Any], tmp_path: Path) -> None:
    async with (
        DurableObjectNamespace.local(tmp_path / "do", Echo, settings=QUIET) as ns,
        Dedupe.local(tmp_path / "dedupe", settings=QUIET, shards=1) as dedupe,
    ):
        await _storage(ns).put("old", 1)
        await _storage(ns).set_alarm(4_000_000_000_000)
        assert await dedupe.put_if_absent("old", ttl=60)
        dedupe_storage = dedupe.namespace.runtime.storage(  # type: ignore[union-attr]
            dedupe.namespace.id_from_name(dedupe.shard_of("new"))
        )
        before = (
            await _storage(ns).list(),
            await _storage(ns).get_alarm(),
            await dedupe_storage.list(),
            await dedupe_storage.get_alarm(),
        )
        await _refused(DO_CASES[case](ns, dedupe, extreme[1]), case)
        after = (
            await _storage(ns).list(),
            await _storage(ns).get_alarm(),
            await dedupe_storage.list(),
            await dedupe_storage.get_alarm(),
        )
        assert after == before


async def _refused(
    call: Awaitable[Any], case: str, *, late: tuple[str, ...] = (), may_read: bool = False
) -> None:
    """Refused before I/O (``late``: or by the backend, for what only it can judge), by an error that
    names the argument (the case's last word) and that prints."""
    outcome = await attempt(call)
    if may_read and outcome.ok:
        return
    refused = outcome.refused
    assert refused is not None, f"expected InvalidInput or LimitExceeded, got {outcome}"
    outcome.assert_refused_before_io(late_fields=late)
    named = refused.field if isinstance(refused, InvalidInput) else refused.limit
    assert case.split()[-1] in f"{named} {refused}", refused


async def test_a_jurisdiction_too_large_to_print_is_refused(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path / "do", Echo, settings=QUIET) as ns:
        with pytest.raises(InvalidInput, match="jurisdiction") as raised:
            ns.new_unique_id(jurisdiction=10**5000)  # type: ignore[arg-type]
        assert raised.value.field == "jurisdiction"
