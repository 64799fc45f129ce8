"""Bad input and documented limits are refused before any I/O, with errors naming what was wrong."""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_queue import MessageSendRequest, Queue, QueueConsumer
from cap_cloudflare_queue.limits import MAX_BATCH_BYTES, MAX_BODY_BYTES, MAX_DELAY_S
from cap_opendal_core.errors import InvalidInput, LimitExceeded, Misconfigured, Unsupported

if TYPE_CHECKING:
    from pathlib import Path

    from cap_opendal_core.layers import LayerSettings
    from tests.support.clock import FakeClock

pytestmark = pytest.mark.anyio


def _count(qdir: Path) -> int:
    path = qdir / "queues.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])


async def test_an_oversized_body_is_refused_with_the_numbers(
    qdir: Path, clock: FakeClock, quiet: LayerSettings
) -> None:
    async with Queue.local(qdir, "jobs", clock=clock, settings=quiet) as q:
        await q.send(b"x" * MAX_BODY_BYTES, content_type="bytes")  # exactly at the limit: fine
        with pytest.raises(LimitExceeded) as caught:
            await q.send(b"x" * (MAX_BODY_BYTES + 1), content_type="bytes")
        err = caught.value
        assert (err.limit, err.value, err.maximum) == (
            "queue.message_bytes",
            MAX_BODY_BYTES + 1,
            MAX_BODY_BYTES,
        )
        assert "claim_check" in err.message
        with pytest.raises(LimitExceeded, match=r"messages\[1\]"):
            await q.send_batch([MessageSendRequest(1), MessageSendRequest("é" * 70_000, "text")])
    assert _count(qdir) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "error", "needle"),
    [
        (b"raw", "json", InvalidInput, "use content_type='bytes'"),
        ({"a": {1, 2}}, "json", InvalidInput, "not JSON-serialisable"),
        (float("nan"), "json", InvalidInput, "not JSON-serialisable"),
        ({"x": 1}, "text", InvalidInput, "needs a str"),
        ("\ud800", "text", InvalidInput, "lone surrogate"),
        ("text", "bytes", InvalidInput, "needs bytes"),
        ("x", "xml", InvalidInput, "not a queue content type"),
        ("x", "v8", Unsupported, "Workers runtime"),
    ],
)
async def test_bodies_the_content_type_cannot_carry(
    qdir: Path, quiet: LayerSettings, body: Any, content_type: str, error: type[Exception], needle: str
) -> None:
    async with Queue.local(qdir, "jobs", settings=quiet) as q:
        with pytest.raises(error, match=needle):
            await q.send(body, content_type=content_type)  # type: ignore[arg-type]
    assert _count(qdir) == 0


@pytest.mark.parametrize(
    ("delay", "error"),
    [
        (-1, InvalidInput),
        (1.5, InvalidInput),
        (True, InvalidInput),
        ("10", InvalidInput),
        (MAX_DELAY_S + 1, LimitExceeded),
    ],
)
async def test_delay_out_of_range(
    qdir: Path, quiet: LayerSettings, delay: Any, error: type[Exception]
) -> None:
    async with Queue.local(qdir, "jobs", settings=quiet) as q:
        with pytest.raises(error, match="delay_seconds"):
            await q.send(1, delay_seconds=delay)
        with pytest.raises(error, match=r"messages\[0\]\.delay_seconds"):
            await q.send_batch([MessageSendRequest(1, delay_seconds=delay)])
        with pytest.raises(error, match="delay_seconds"):
            await q.send_batch([MessageSendRequest(1)], delay_seconds=delay)
        await q.send(1, delay_seconds=MAX_DELAY_S)
    assert _count(qdir) == 1


async def test_one_bad_message_sends_nothing_of_its_batch(qdir: Path, quiet: LayerSettings) -> None:
    async with Queue.local(qdir, "jobs", settings=quiet) as q:
        good = [MessageSendRequest(i) for i in range(150)]
        with pytest.raises(InvalidInput, match=r"messages\[120\]\.body") as caught:
            await q.send_batch([*good[:120], MessageSendRequest(b"bytes as json"), *good[120:]])
        assert caught.value.field == "messages[120].body"
    assert _count(qdir) == 0


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([1, 2, 3], r"messages\[0\]: expected a MessageSendRequest"),
        ([{"bdy": 1}], r"messages\[0\]: a message mapping"),
        ([{"body": 1, "extra": 2}], "unknown keys"),
        ([], "at least one message"),
        ({"body": 1}, "expected a list"),
        ("abc", "expected a list"),
    ],
)
async def test_malformed_batches(qdir: Path, quiet: LayerSettings, messages: Any, needle: str) -> None:
    async with Queue.local(qdir, "jobs", settings=quiet) as q:
        with pytest.raises(InvalidInput, match=needle):
            await q.send_batch(messages)


async def test_batches_over_the_limits_are_split_or_refused(qdir: Path, quiet: LayerSettings) -> None:
    async with Queue.local(qdir, "jobs", settings=quiet) as q:
        many = [MessageSendRequest(i) for i in range(101)]
        with pytest.raises(LimitExceeded, match="split=True") as caught:
            await q.send_batch(many, split=False)
        assert (caught.value.limit, caught.value.value, caught.value.maximum) == (
            "queue.batch_messages",
            101,
            100,
        )
        big = [MessageSendRequest("x" * 100_000, "text") for _ in range(3)]
        with pytest.raises(LimitExceeded) as caught:
            await q.send_batch(big, split=False)
        assert caught.value.limit == "queue.batch_bytes"
        assert caught.value.maximum == MAX_BATCH_BYTES
        assert _count(qdir) == 0
        await q.send_batch(many)
        await q.send_batch(big)
    assert _count(qdir) == 104


def test_batch_planning_respects_both_limits() -> None:
    from cap_cloudflare_queue.validation import plan_batches, prepare_message

    messages = [prepare_message(i, "x" * 60_000, "text", None) for i in range(9)]
    batches = plan_batches(messages, split=True)
    assert [len(b) for b in batches] == [4, 4, 1]
    assert all(sum(m.size for m in b) <= MAX_BATCH_BYTES for b in batches)
    small = [prepare_message(i, i, "json", None) for i in range(250)]
    assert [len(b) for b in plan_batches(small, split=True)] == [100, 100, 50]
    assert [m.index for b in plan_batches(small, split=True) for m in b] == list(range(250))


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"batch_size": 0}, InvalidInput, "batch_size"),
        ({"batch_size": 101}, LimitExceeded, "100 messages"),
        ({"visibility_timeout": 0}, InvalidInput, "visibility_timeout"),
        ({"visibility_timeout": 43_201}, LimitExceeded, "12 h"),
        ({"wait_time": 61}, LimitExceeded, "60 s"),
        ({"wait_time": -1}, InvalidInput, "wait_time"),
    ],
)
async def test_pull_arguments(
    qdir: Path, quiet: LayerSettings, kwargs: dict[str, Any], error: type[Exception], needle: str
) -> None:
    async with QueueConsumer.local(qdir, "jobs", settings=quiet) as c:
        with pytest.raises(error, match=needle):
            await c.pull(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"max_retries": 101}, "max_retries"),
        ({"dead_letter_queue": "jobs"}, "must differ"),
        ({"dead_letter_queue": "Bad Name"}, "dead_letter_queue"),
        ({"retry_delay": -5}, "retry_delay"),
        ({"max_batch_size": 0}, "max_batch_size"),
    ],
)
def test_consumer_settings(qdir: Path, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises((InvalidInput, LimitExceeded), match=needle):
        QueueConsumer.local(qdir, "jobs", **kwargs)


def test_queue_names_follow_cloudflare(qdir: Path) -> None:
    for bad in ("", "Jobs", "-jobs", "a" * 64):
        with pytest.raises(InvalidInput, match="queue name"):
            Queue.local(qdir, bad)


@pytest.mark.parametrize("cls", [Queue, QueueConsumer])
def test_local_in_the_old_order_names_the_new_one(tmp_path: Path, cls: type[Queue | QueueConsumer]) -> None:
    """``local`` takes the directory first; a directory where the name goes says so, before any I/O."""
    for name in (tmp_path, str(tmp_path), "jobs/../x"):
        with pytest.raises(Misconfigured, match=rf"{cls.__name__}\.local\(path, name"):
            cls.local(str(tmp_path / "jobs"), name)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match="name"):
        cls.local("jobs")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"id": 12345678901234567890}, "body['id']"),
        ([1, [2, 2**53]], "body[1][1]"),
        (-(2**53), "body"),
    ],
)
async def test_json_bodies_with_ints_javascript_cannot_hold_are_refused(
    qdir: Path, clock: FakeClock, quiet: LayerSettings, body: Any, where: str
) -> None:
    """The Workers binding cannot serialise them (a BigInt) and a JS consumer would round them: refused
    before any I/O on every backend, naming where the number sits."""
    async with Queue.local(qdir, "jobs", clock=clock, settings=quiet) as q:
        with pytest.raises(InvalidInput, match=re.escape(where)) as caught:
            await q.send(body)
        assert caught.value.field == "body"
        with pytest.raises(InvalidInput) as in_batch:
            await q.send_batch([{"body": 1}, {"body": body}])
        assert in_batch.value.field == "messages[1].body"
        await q.send({"id": 2**53 - 1, "f": 1.5e300, "flag": True})  # the largest safe int is fine
    assert _count(qdir) == 1


async def test_a_text_body_holding_nul_is_refused(qdir: Path, clock: FakeClock, quiet: LayerSettings) -> None:
    """Workers cuts a text body at its first U+0000; refused everywhere rather than truncated there."""
    async with Queue.local(qdir, "jobs", clock=clock, settings=quiet) as q:
        with pytest.raises(InvalidInput, match="U\\+0000") as caught:
            await q.send("before\x00after", content_type="text")
        assert caught.value.field == "body"
        await q.send({"s": "before\x00after"})  # JSON escapes it: fine
        await q.send(b"before\x00after", content_type="bytes")
    assert _count(qdir) == 2
