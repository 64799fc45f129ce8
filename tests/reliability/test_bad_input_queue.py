"""Every public method of ``Queue``, ``QueueConsumer`` and ``MessageBatch``, with arbitrary arguments,
on the local queue (a directory), ``memory://`` and Cloudflare's REST API (the stand-in).

Arguments: bodies of every content type (JSON that is not JSON — NaN, sets, cycles, nesting past the
recursion limit, integers too long to print —, text with lone surrogates, bytes sent as json, bodies
either side of the 128 KB message limit), content types that do not exist or that the backend cannot
send, delays (negative, fractional, NaN, past 12 hours, too large for a float), batches (empty, either
side of 100 messages and of 256 KB, with and without ``split``), pull sizes, visibility timeouts and
wait times, acks and retries of things that are not messages, ``run`` options, queue names and
consumer settings.

The rule: each call succeeds and does what Cloudflare Queues documents (the messages arrive with the
body the content type round-trips to), or raises ``InvalidInput`` / ``LimitExceeded`` without reaching
the backend (no pipeline call, the REST stand-in received no request) and with every queue unchanged.
``Unsupported`` is the documented answer for a content type the backend cannot send (``v8`` off a
Worker, ``bytes`` over REST).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cap_cloudflare_queue import CloudflareQueueConfig, Message, MessageSendRequest, Queue, QueueConsumer
from cap_cloudflare_queue import limits as q
from cap_cloudflare_queue.backends.local import DB_FILE, memory_directory
from cap_cloudflare_queue.producer import _parse_url
from cap_opendal_core.errors import Unsupported
from cap_opendal_core.layers import LayerSettings, RetryPolicy
from tests.support.cf_api import CloudflareApi
from tests.support.cf_queue_api import QueueApi

from . import bad_input_strategies as inputs
from .bad_input_judging import (
    PROPERTY,
    REFUSALS,
    Outcome,
    PropertyEnv,
    answer_at_once,
    attempt,
    confined_tree,
    encodable,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

SETTINGS = LayerSettings(logging=False, retry=RetryPolicy(attempts=1))
BACKENDS = ("local", "memory", "rest")
QUEUE_ID = "0123456789abcdef0123456789abcdef"


def _two_days_later() -> float:
    return time.time() + 2 * 86_400


class ShiftedClock:
    """The REST stand-in's clock: real time plus an offset that draining moves two days on, so
    delayed and leased messages are visible to the drain (as they are to the local drain's clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class QueueEnv(PropertyEnv):
    """One queue for the length of a property, and a way to see everything stored in it."""

    DIRECTORY = "queues"

    name: str
    api: QueueApi | None = field(default=None, repr=False)
    clock: ShiftedClock | None = field(default=None, repr=False)
    shared_producer: Queue | None = field(default=None, repr=False)
    shared_consumer: QueueConsumer | None = field(default=None, repr=False)

    @property
    def database(self) -> Path:
        directory = memory_directory() if self.kind == "memory" else self.root
        return directory / DB_FILE

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[Queue]:
        """A producer for one example (over REST one for the whole property: a REST client costs an
        SSL context to build; the fixture closes it)."""
        if self.kind == "rest":
            if self.shared_producer is None:
                self.shared_producer = Queue.from_config(self._config(), settings=SETTINGS)
            yield self.shared_producer
            return
        queue = (
            Queue.local(self.root, self.name, settings=SETTINGS)
            if self.kind == "local"
            else Queue.from_url(f"memory://{self.name}", settings=SETTINGS)
        )
        async with queue:
            yield queue

    @asynccontextmanager
    async def consumer(self, *, later: bool = False) -> AsyncIterator[QueueConsumer]:
        """A consumer of the queue; ``later``: its clock is two days ahead, past every delay and lease
        (12 hours at most), so it sees every message (REST: :meth:`drain` moves the stand-in's clock)."""
        if self.kind == "rest":
            if self.shared_consumer is None:
                self.shared_consumer = QueueConsumer.from_config(self._config(), settings=SETTINGS)
            yield self.shared_consumer
            return
        clock = _two_days_later if later else None
        if self.kind == "local":
            directory, name = str(self.root), self.name
        else:
            directory, name, _ = _parse_url(f"memory://{self.name}")
        async with QueueConsumer.local(
            directory, name, settings=SETTINGS, clock=clock, max_retries=100
        ) as consumer:
            yield consumer

    async def aclose(self) -> None:
        for shared in (self.shared_producer, self.shared_consumer):
            if shared is not None:
                await shared.aclose()

    def _config(self) -> CloudflareQueueConfig:
        assert self.api is not None
        return self.api.config()

    def state(self) -> Any:
        """Every stored message (and, for REST, the number of requests received); on disk, checks that
        nothing was written beside the queue's directory."""
        if self.api is not None:
            with self.api._lock:
                messages = [
                    (m.id, json.dumps(m.body), m.content_type, m.attempts, m.lease_id, m.visible_at_ms)
                    for m in self.api.queues[QUEUE_ID]
                ]
            return messages, len(self.api.api.requests)
        if self.kind == "local":
            confined_tree(self.parent, self.root)
        if not self.database.exists():
            return []
        with sqlite3.connect(self.database) as db:
            rows = db.execute(
                "SELECT queue, id, body, content_type, visible_at_ms, attempts, lease_id FROM messages "
                "ORDER BY seq"
            ).fetchall()
        db.close()
        return rows

    def refused_quietly(self, before: Any, outcome: Outcome) -> None:
        outcome.assert_refused_before_io()
        assert self.state() == before, "a refused call changed a queue (or sent a request)"

    async def drain(self) -> list[Message]:
        """Every message in the queue, acked: the queue ends empty."""
        out: list[Message] = []
        if self.clock is not None:
            self.clock.offset += 2 * 86_400
        async with self.consumer(later=True) as consumer:
            while batch := await consumer.pull(batch_size=q.MAX_CONSUMER_BATCH_MESSAGES):
                out.extend(batch.messages)
                await consumer.ack(batch.messages)
        return out


_counter = iter(range(10**9))


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[QueueEnv]:
    parent = tmp_path / "parent"
    parent.mkdir()
    name = f"bad-input-{next(_counter)}"
    if request.param != "rest":
        yield QueueEnv(request.param, parent, name)
        return
    with CloudflareApi() as api:
        answer_at_once(api)
        clock = ShiftedClock()
        state = QueueApi(api, queue_ids=(QUEUE_ID,), max_retries=1000, clock=clock)
        environment = QueueEnv("rest", parent, name, state, clock)
        yield environment
        await environment.aclose()


@pytest.fixture
def local_env(tmp_path: Path) -> QueueEnv:
    """The local queue only: names and consumer settings are checked alike whatever the backend."""
    parent = tmp_path / "parent"
    parent.mkdir()
    return QueueEnv("local", parent, f"bad-input-{next(_counter)}")


# --- the oracle ------------------------------------------------------------------------------


def sent_form(body: Any, content_type: str) -> tuple[Any, int] | None:
    """What a consumer receives for ``body`` sent as ``content_type``, and its encoded size; None when
    the body cannot be sent so."""
    if content_type == "json":
        if isinstance(body, bytes | bytearray | memoryview):
            return None
        try:
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            return None
        return (json.loads(text), len(text.encode())) if encodable(text) else None
    if content_type == "text":
        return (body, len(body.encode())) if encodable(body) else None
    if content_type == "bytes" and isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), len(bytes(body))
    return None


def delay_ok(value: object) -> bool:
    return value is None or (
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= q.MAX_DELAY_S
    )


def content_types(kind: str) -> tuple[str, ...]:
    return ("json", "text") if kind == "rest" else ("json", "text", "bytes")


# --- strategies ------------------------------------------------------------------------------

GOOD_BODIES = st.one_of(inputs.json_valid(), st.text(max_size=30), st.binary(max_size=30))
BODIES = st.one_of(
    inputs.json_like(),
    inputs.texts(),
    st.binary(max_size=30),
    inputs.odd_values(),
    st.integers(q.MAX_BODY_BYTES - 4, q.MAX_BODY_BYTES + 2).map(lambda n: "x" * n),
    st.integers(q.MAX_BODY_BYTES - 4, q.MAX_BODY_BYTES + 2).map(bytes),
)
GOOD_TYPES = st.one_of(st.none(), st.sampled_from(["json", "text", "bytes"]))
TYPES = st.one_of(
    st.sampled_from(q.CONTENT_TYPES), st.sampled_from(["JSON", "application/json", ""]), inputs.not_str()
)
GOOD_DELAYS = st.one_of(st.none(), st.integers(0, q.MAX_DELAY_S))
DELAYS = st.one_of(
    inputs.numbers(),
    st.integers(q.MAX_DELAY_S - 1, q.MAX_DELAY_S + 1),
    st.integers(min_value=2**1024, max_value=2**1100),
    st.floats(0, 100),
)


def _shown(body: Any) -> str:
    try:
        return repr(body)[:100]
    except (ValueError, RecursionError):  # an int too long to print, a list nested too deep
        return "unprintable"


def _matching(body: Any, content_type: Any) -> Any:
    """A body the content type can carry (so valid sends are common): text for text, bytes for bytes."""
    if content_type == "text" and not isinstance(body, str):
        return body.decode("latin-1") if isinstance(body, bytes) else _shown(body)
    if content_type == "bytes" and not isinstance(body, bytes):
        return _shown(body).encode("utf-8", "replace")
    if content_type in (None, "json") and isinstance(body, bytes):
        return body.decode("latin-1")
    return body


SEND = inputs.mixed(body=(GOOD_BODIES, BODIES), content_type=(GOOD_TYPES, TYPES), delay=(GOOD_DELAYS, DELAYS))


@st.composite
def sends(draw: st.DrawFn) -> dict[str, Any]:
    args = draw(SEND)
    if draw(st.booleans()):
        args["body"] = _matching(args["body"], args["content_type"])
    return args


def expected_send(kind: str, args: dict[str, Any]) -> tuple[str, Any] | str | None:
    """``(content type, body received)`` for a valid send; ``"unsupported"`` or None (refused)."""
    content_type = "json" if args["content_type"] is None else args["content_type"]
    if not isinstance(content_type, str) or content_type not in q.CONTENT_TYPES:
        return None
    if not delay_ok(args["delay"]):
        return None
    if content_type not in content_types(kind):
        return "unsupported"
    form = sent_form(args["body"], content_type)
    if form is None or form[1] > q.MAX_BODY_BYTES:
        return None
    return content_type, form[0]


# --- properties ------------------------------------------------------------------------------


@PROPERTY
@given(args=sends())
async def test_send(env: QueueEnv, args: dict[str, Any]) -> None:
    async with env.producer() as producer:
        before = env.state()
        outcome = await attempt(
            producer.send(args["body"], content_type=args["content_type"], delay_seconds=args["delay"]),
            documented=(Unsupported,),
        )
    expected = expected_send(env.kind, args)
    if isinstance(outcome.error, Unsupported):
        assert args["content_type"] in q.CONTENT_TYPES
        assert args["content_type"] not in content_types(env.kind)
        assert outcome.pipeline_calls == 0
        assert env.state() == before
        return
    assert outcome.ok == isinstance(expected, tuple), outcome
    if not outcome.ok:
        env.refused_quietly(before, outcome)
        return
    assert isinstance(expected, tuple)
    received = await env.drain()
    assert [(m.content_type, m.body) for m in received] == [expected]


@PROPERTY
@given(
    messages=st.one_of(
        st.lists(
            st.one_of(
                sends().map(lambda a: MessageSendRequest(a["body"], a["content_type"], a["delay"])),
                st.builds(lambda b: {"body": b}, GOOD_BODIES),
            ),
            max_size=4,
        ),
        st.integers(q.MAX_BATCH_MESSAGES - 1, q.MAX_BATCH_MESSAGES + 1).map(
            lambda n: [MessageSendRequest(i) for i in range(n)]
        ),
        st.integers(1, 3).map(lambda n: [MessageSendRequest("x" * (q.MAX_BODY_BYTES - 10))] * n),
        st.lists(
            st.one_of(
                st.dictionaries(
                    st.sampled_from(["body", "content_type", "delay", "delay_seconds"]),
                    GOOD_BODIES,
                    max_size=2,
                ),
                inputs.not_str(),
            ),
            max_size=2,
        ),
        st.just([]),
        inputs.not_str(),
        st.text(max_size=3),
    ),
    delay=st.one_of(GOOD_DELAYS, DELAYS),
    split=st.one_of(st.booleans(), st.booleans(), inputs.not_str()),
)
async def test_send_batch(env: QueueEnv, messages: Any, delay: Any, split: Any) -> None:
    async with env.producer() as producer:
        before = env.state()
        outcome = await attempt(
            producer.send_batch(messages, delay_seconds=delay, split=split), documented=(Unsupported,)
        )
    if not outcome.ok:
        if isinstance(outcome.error, Unsupported):
            assert outcome.pipeline_calls == 0
            assert env.state() == before
            return
        env.refused_quietly(before, outcome)
        return
    assert isinstance(split, bool)
    assert delay_ok(delay)
    expected = []
    total = 0
    for message in messages:
        request = message if isinstance(message, MessageSendRequest) else MessageSendRequest(message["body"])
        result = expected_send(
            env.kind,
            {"body": request.body, "content_type": request.content_type, "delay": request.delay_seconds},
        )
        assert isinstance(result, tuple), f"{request!r} was sent, but Cloudflare would refuse it"
        expected.append(result)
        total += len(json.dumps(result[1]) if result[0] == "json" else result[1]) + q.MESSAGE_METADATA_BYTES
    if not split:
        assert len(expected) <= q.MAX_BATCH_MESSAGES
    received = await env.drain()
    assert sorted(map(repr, ((m.content_type, m.body) for m in received))) == sorted(map(repr, expected))


WAITS = st.one_of(
    st.floats(-10, -0.001),
    st.floats(q.MAX_BATCH_TIMEOUT_S + 0.001, 1e9),
    st.sampled_from([math.nan, math.inf, -math.inf, True, "0", None, 2**1100]),
)


@PROPERTY
@given(
    args=inputs.mixed(
        batch_size=(
            st.one_of(st.none(), st.integers(1, q.MAX_CONSUMER_BATCH_MESSAGES)),
            st.one_of(
                inputs.numbers(),
                st.integers(q.MAX_CONSUMER_BATCH_MESSAGES, q.MAX_CONSUMER_BATCH_MESSAGES + 1),
            ),
        ),
        visibility_timeout=(
            st.one_of(
                st.none(),
                st.floats(0.001, q.MAX_VISIBILITY_TIMEOUT_S),
                st.integers(1, q.MAX_VISIBILITY_TIMEOUT_S),
            ),
            st.one_of(
                inputs.numbers(),
                st.integers(min_value=2**1024, max_value=2**1100),
                st.floats(q.MAX_VISIBILITY_TIMEOUT_S, 1e6),
            ),
        ),
        wait_time=(st.floats(0, 0.02), WAITS),
    ),
    settle=st.sampled_from(["ack", "retry", "ack_all", "retry_all", "process", "none"]),
    retry_delay=st.one_of(GOOD_DELAYS, DELAYS),
)
async def test_pull_and_settle(env: QueueEnv, args: dict[str, Any], settle: str, retry_delay: Any) -> None:
    await env.drain()  # whatever an earlier (failing) example left
    async with env.producer() as producer:
        await producer.send_batch([MessageSendRequest({"n": i}) for i in range(3)])
    async with env.consumer() as consumer:
        before = env.state()
        pulled = await attempt(consumer.pull(**args))
        if not pulled.ok:
            env.refused_quietly(before, pulled)
            await env.drain()
            return
        batch = pulled.value
        assert len(batch) <= (args["batch_size"] or consumer.max_batch_size)
        ids = [m.id for m in batch]
        assert len(ids) == len(set(ids)), "a batch never holds one message twice"
        assert sorted(m.body["n"] for m in batch) == sorted({m.body["n"] for m in batch})
        if args["visibility_timeout"] is None or args["visibility_timeout"] >= 1:
            assert all(m.attempts == 1 for m in batch), "first deliveries"
        leased = env.state()
        if settle == "ack":
            outcome = await attempt(consumer.ack(batch.messages))
        elif settle == "retry":
            outcome = await attempt(consumer.retry(batch.messages, delay_seconds=retry_delay))
        elif settle in ("ack_all", "retry_all"):
            outcome = await attempt(_mark_and_settle(batch, settle, retry_delay))
        elif settle == "process":
            outcome = await attempt(batch.process(_ack_some))
        else:
            outcome = Outcome()
        if not outcome.ok:
            assert not delay_ok(retry_delay)
            env.refused_quietly(leased, outcome)
    left = await env.drain()
    if settle in ("ack", "ack_all") or (settle == "process" and outcome.ok):
        assert {m.body["n"] for m in left} == {0, 1, 2} - {m.body["n"] for m in batch}
    else:
        assert sorted(m.body["n"] for m in left) == [0, 1, 2], "retried or unsettled messages come back"


async def _mark_and_settle(batch: Any, how: str, delay: Any) -> Any:
    if how == "ack_all":
        batch.ack_all()
    else:
        batch.retry_all(delay_seconds=delay)
    return await batch.settle()


async def _ack_some(batch: Any) -> None:
    return None  # a handler that returns acks every message (Cloudflare's rule)


@PROPERTY
@given(
    junk=st.one_of(
        inputs.not_str(),
        st.lists(st.one_of(inputs.not_str(), st.text(max_size=2)), min_size=1, max_size=2),
        inputs.odd_values(),
    ),
    retry=st.booleans(),
)
async def test_settling_what_is_not_a_message(env: QueueEnv, junk: Any, retry: bool) -> None:
    async with env.consumer() as consumer:
        before = env.state()
        outcome = await attempt(consumer.retry(junk) if retry else consumer.ack(junk))
    if outcome.ok:
        assert list(junk) == [], "only an empty list settles nothing without complaint"
        return
    env.refused_quietly(before, outcome)


@PROPERTY
@given(
    args=inputs.mixed(
        handler=(st.just(_ack_some), st.one_of(inputs.not_str(), st.just("handler"))),
        concurrency=(st.integers(1, 4), st.one_of(inputs.numbers(), st.integers(256, 258))),
        batch_size=(st.one_of(st.none(), st.integers(1, 100)), st.one_of(inputs.numbers(), st.just(101))),
        visibility_timeout=(st.none(), st.one_of(inputs.numbers(), st.just(2**1100))),
        max_batch_timeout=(st.one_of(st.none(), st.floats(0, 0.01)), WAITS),
        shutdown_grace=(
            st.floats(0, 1),
            st.one_of(st.floats(-5, -0.1), st.sampled_from([math.nan, math.inf, "1", 2**1100])),
        ),
    )
)
async def test_run(env: QueueEnv, args: dict[str, Any]) -> None:
    async with env.consumer() as consumer:
        before = env.state()
        outcome: Outcome | None = None
        with anyio.move_on_after(0.05):
            outcome = await attempt(consumer.run(**args))
    if outcome is None:
        return  # it ran until cancelled: the arguments were accepted
    env.refused_quietly(before, outcome)


@PROPERTY
@given(
    args=inputs.mixed(
        name=(
            st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
            st.one_of(inputs.texts(), inputs.not_str(), st.just("A"), st.just("x" * 64)),
        ),
        max_batch_size=(st.integers(1, 100), st.one_of(inputs.numbers(), st.just(101))),
        max_batch_timeout=(st.floats(0, 60), WAITS),
        max_retries=(st.integers(0, q.MAX_RETRIES), st.one_of(inputs.numbers(), st.just(q.MAX_RETRIES + 1))),
        dead_letter_queue=(
            st.one_of(st.none(), st.just("dlq")),
            st.one_of(inputs.texts(), inputs.not_str(), st.just("SAME")),
        ),
        retry_delay=(st.integers(0, q.MAX_DELAY_S), DELAYS),
        visibility_timeout=(
            st.floats(0.001, q.MAX_VISIBILITY_TIMEOUT_S),
            st.one_of(inputs.numbers(), st.just(2**1100)),
        ),
        poll_interval=(st.floats(0.001, 10), st.one_of(inputs.numbers(), st.just(2**1100))),
    ),
    producer=st.booleans(),
)
async def test_local_constructors(local_env: QueueEnv, args: dict[str, Any], producer: bool) -> None:
    env = local_env
    if args["dead_letter_queue"] == "SAME":
        args["dead_letter_queue"] = args["name"]
    before = env.state()
    try:
        if producer:
            built: Any = Queue.local(env.root, args["name"], settings=SETTINGS)
        else:
            built = QueueConsumer.local(path=env.root, settings=SETTINGS, **args)
    except REFUSALS:
        pass  # refused: the rule asks only that nothing was written (below)
    else:
        if not producer:
            assert (built.max_batch_size, built.visibility_timeout) == (
                args["max_batch_size"],
                args["visibility_timeout"],
            )
    assert env.state() == before, "building a queue object writes nothing"
    assert not env.root.exists() or not any(env.root.iterdir())
