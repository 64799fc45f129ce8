"""A seeded sequence of queue sends and consumer decisions, and what each message observably went through.

The plan (:func:`make_plan`) is a list of rounds. A round sends a few messages (``json``, ``text`` and
``bytes`` bodies, one by one or as a batch, plus refused sends) and fixes what the handler does with
each message at each delivery — ``ack``, ``retry`` with or without a delay, nothing, a refused
``delay_seconds`` first — and what it does with the rest of the batch: return (Cloudflare's rule acks
them), ``ack_all``, ``retry_all`` (with or without a delay) or raise. Every decision depends on the
message's own key (in its body) and attempt number, never on which messages share a batch, so the
outcome of each message — bodies, attempts counts, which deliveries come back, which messages reach
the dead-letter queue after ``max_retries`` and with what — is the same whatever the batching.

:class:`Recorder` applies the plan through :meth:`MessageBatch.process` and records every delivery.
The harness runs it over Miniflare's real queue ``cap-diff`` (:func:`check_consumer_sequence`: the
producer binding, the broker's batching, retries and dead-lettering into ``cap-diff-dlq``; the JS
consumer in worker.js hands each batch to the Python handler and applies its calls to the real
messages); ``tests/cap_cloudflare_queue/test_queue_consumer_differential.py`` runs it over the local
queue with a clock it moves (:func:`run_local`) and requires the same record. Rounds where a batch is
retried or raises never ack a message explicitly: Miniflare retries explicitly acked messages when
the batch fails (see the known differences in docs/testing-your-flows.md), which the last round,
``probe``, records on its own. The seed is ``CAP_DIFF_SEED`` or :data:`DEFAULT_SEED`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from cap_cloudflare_queue import MessageSendRequest
from cap_opendal_core.errors import CapabilityError
from cap_opendal_core.layers import LayerSettings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from cap_cloudflare_queue import Message, MessageBatch, Queue
    from cap_cloudflare_queue.limits import ContentType

DEFAULT_SEED = 20260515
QUEUE = "cap-diff"
DEAD_LETTER_QUEUE = "cap-diff-dlq"
MAX_BATCH_SIZE = 4  # harness.mjs QUEUE_DIFF.consumer holds the same settings (the check asserts it)
MAX_RETRIES = 3
ROUNDS = 20
DELAYED = 3
"""How many 1 s delays the plan may use (Miniflare waits them out in real time); other delays are 0."""
ROUND_TIMEOUT_S = 8.0
PROBE_WAIT_S = 5.0
QUIET = LayerSettings(logging=False)
_ID = re.compile(r"[0-9a-f]{32}")
_BAD_DELAYS: tuple[Any, ...] = (-1, 43_201, 2.5, True, "1")


class PlannedFailure(RuntimeError):
    """What a handler raises when the plan says so."""


def seed_from(value: Any) -> int:
    """The seed to run: ``value`` (``CAP_DIFF_SEED``) when given, else :data:`DEFAULT_SEED`."""
    text = None if value is None else str(value).strip()
    return int(text) if text else DEFAULT_SEED


@dataclass
class Round:
    """One round: what is sent, and what the handler does at each delivery of each message."""

    name: str
    policy: str  # "return" | "ack_all" | "retry_all" | "raise" | "raise_once" (the probe)
    policy_delay: int | None = None  # retry_all's delay_seconds
    bad_batch_call: bool = False  # every batch first calls retry_all with a refused delay
    via_batch: bool = False  # send_batch instead of one send per message
    sends: list[tuple[str, ContentType, Any]] = field(default_factory=list)  # (key, content_type, body)
    bad_sends: list[int] = field(default_factory=list)
    steps: dict[str, list[list[list[Any]]]] = field(default_factory=dict)  # key -> attempt -> calls


def _body(rng: random.Random, key: str, content_type: str) -> Any:
    if content_type == "json":
        return {
            "k": key,
            "f": rng.choice((0.5, -1.25, 1e-7)),
            "s": rng.choice(("é😀", "", "a\nb")),
            "l": [1, None, True, {"x": []}],
            "n": rng.randrange(-(2**53) + 1, 2**53),
        }
    if content_type == "text":
        return f"{key}|{rng.choice(('text é 😀', '', ' |x'))}"
    return key.encode() + b"|" + rng.randbytes(rng.randrange(0, 5)) + b"\x00\xff"


def make_plan(seed: int) -> list[Round]:
    """The rounds for ``seed``; the last is the probe of the known difference."""
    rng = random.Random(seed)
    delayed = DELAYED
    rounds: list[Round] = []
    for r in range(ROUNDS):
        policy = rng.choice(("return", "ack_all", "ack_all", "retry_all", "raise", "return"))
        rnd = Round(f"r{r}", policy, bad_batch_call=rng.random() < 0.2, via_batch=rng.random() < 0.4)
        if policy == "retry_all":
            rnd.policy_delay = rng.choice((None, 0))
        may_ack = policy in ("return", "ack_all")
        for i in range(rng.randint(1, 6)):
            key = f"{rnd.name}m{i}"
            content_type: ContentType = rng.choice(("json", "text", "bytes"))
            rnd.sends.append((key, content_type, _body(rng, key, content_type)))
            attempts: list[list[list[Any]]] = []
            for _ in range(MAX_RETRIES + 1):
                calls: list[list[Any]] = []
                if rng.random() < 0.15:
                    calls.append(["retry", rng.choice(_BAD_DELAYS)])
                choice = rng.choice(("pending", "retry", "retry0", "ack", "ack", "ack_retry", "retry_ack"))
                if choice == "ack" and not may_ack:
                    choice = "pending"
                if choice == "retry":
                    calls.append(["retry", None])
                elif choice == "retry0":
                    delay = 0
                    if delayed and rng.random() < 0.1:
                        delayed -= 1
                        delay = 1
                    calls.append(["retry", delay])
                elif choice == "ack":
                    calls.append(["ack"])
                elif choice == "ack_retry" and may_ack:
                    calls += [["ack"], ["retry", 0]]  # the retry is ignored: the first call wins
                elif choice == "retry_ack":
                    calls += [["retry", 0], ["ack"]]  # the ack is ignored
                attempts.append(calls)
            rnd.steps[key] = attempts
        if rng.random() < 0.5:
            rnd.bad_sends.append(rng.randrange(5))
        rounds.append(rnd)
    probe = Round("probe", "raise_once")
    probe.sends.append(("probem0", "json", {"k": "probem0"}))
    probe.steps["probem0"] = [[["ack"]]] * (MAX_RETRIES + 1)
    rounds.append(probe)
    return rounds


def plain(value: Any) -> Any:
    """A JSON form of a body that keeps what JSON would lose (bytes, floats, key order)."""
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, dict):
        return {"dict": [[k, plain(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _error(exc: CapabilityError) -> list[Any]:
    return [type(exc).__name__, getattr(exc, "field", None)]


def key_of(body: Any) -> str:
    """The plan's key a body carries."""
    if isinstance(body, dict):
        return str(body.get("k", "?"))
    if isinstance(body, str):
        return body.split("|", 1)[0]
    if isinstance(body, bytes):
        return body.split(b"|", 1)[0].decode(errors="replace")
    return "?"


async def send_round(queue: Queue, rnd: Round) -> list[Any]:
    """Send the round's messages (and its refused sends); what each call did."""
    results: list[Any] = []
    if rnd.via_batch:
        await queue.send_batch([MessageSendRequest(body, ct) for _, ct, body in rnd.sends])
        results.append(["send_batch", len(rnd.sends)])
    else:
        for i, (key, content_type, body) in enumerate(rnd.sends):
            await queue.send(body, content_type=content_type, delay_seconds=0 if i % 2 else None)
            results.append(["send", key])
    for kind in rnd.bad_sends:
        try:
            if kind == 0:
                await queue.send("a\x00b", content_type="text")
            elif kind == 1:
                await queue.send({"n": 2**53})
            elif kind == 2:
                await queue.send(b"raw", content_type="json")
            elif kind == 3:
                await queue.send("x", content_type="text", delay_seconds=-1)
            else:
                await queue.send_batch([MessageSendRequest(1), MessageSendRequest({1, 2})])
            results.append(["accepted", kind])
        except CapabilityError as exc:
            results.append([kind, *_error(exc)])
    return results


@dataclass
class _Seen:
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    dead_lettered: list[dict[str, Any]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    timestamps: set[float] = field(default_factory=set)


class Recorder:
    """Applies the plan to each batch it is handed and records what every message went through."""

    def __init__(self, rounds: list[Round]) -> None:
        self.rounds = {r.name: r for r in rounds}
        self.seen: dict[str, _Seen] = {}
        self.sends: dict[str, list[Any]] = {}
        self.strays: list[Any] = []
        self._changed: Any = None  # an anyio.Event while the Workers side waits for batches

    def _round_of(self, key: str) -> Round | None:
        name = key.rsplit("m", 1)[0]
        rnd = self.rounds.get(name)
        return rnd if rnd is not None and key in rnd.steps else None

    def _note(self, m: Message) -> _Seen:
        seen = self.seen.setdefault(key_of(m.body), _Seen())
        seen.ids.add(m.id)
        seen.timestamps.add(m.timestamp.timestamp())
        return seen

    async def handle(self, batch: MessageBatch) -> str | None:
        """Process ``batch`` under the plan; the class of the error the handler raised, if any."""
        try:
            return await self._handle(batch)
        finally:
            if self._changed is not None:
                self._changed.set()

    async def _handle(self, batch: MessageBatch) -> str | None:
        if batch.queue == DEAD_LETTER_QUEUE:
            for m in batch.messages:
                self._note(m).dead_lettered.append(
                    {"attempts": m.attempts, "type": type(m.body).__name__, "body": plain(m.body)}
                )

            async def keep(_: MessageBatch) -> None:
                return None

            await batch.process(keep)
            return None
        records: list[tuple[Message, dict[str, Any]]] = []

        async def handler(b: MessageBatch) -> None:
            rounds: set[str] = set()
            for m in b.messages:
                key = key_of(m.body)
                rnd = self._round_of(key)
                record: dict[str, Any] = {
                    "attempts": m.attempts,
                    "type": type(m.body).__name__,
                    "body": plain(m.body),
                    "calls": [],
                }
                records.append((m, record))
                if rnd is None:
                    self.strays.append(record)
                    continue
                rounds.add(rnd.name)
                self._note(m).deliveries.append(record)
                plan = rnd.steps[key]
                for call in plan[min(m.attempts, len(plan)) - 1]:
                    record["calls"].append(self._apply(m, call))
            for name in sorted(rounds):  # one round per batch, unless a round timed out
                rnd = self.rounds[name]
                if rnd.bad_batch_call:
                    try:
                        b.retry_all(delay_seconds=-1)
                    except CapabilityError as exc:
                        self._batch_note(records, ["retry_all", -1, *_error(exc)])
                if rnd.policy == "ack_all":
                    b.ack_all()
                elif rnd.policy == "retry_all":
                    b.retry_all(delay_seconds=rnd.policy_delay)
                elif rnd.policy == "raise" or (
                    rnd.policy == "raise_once" and any(m.attempts == 1 for m in b.messages)
                ):
                    raise PlannedFailure(f"planned failure in round {name}")

        raised: str | None = None
        try:
            await batch.process(handler)
        except PlannedFailure as exc:
            raised = type(exc).__name__
        for m, record in records:
            record["outcome"] = m.outcome
            record["raised"] = raised
        return raised

    @staticmethod
    def _batch_note(records: list[tuple[Message, dict[str, Any]]], note: list[Any]) -> None:
        for _, record in records:
            record["calls"].append(note)

    @staticmethod
    def _apply(m: Message, call: list[Any]) -> list[Any]:
        try:
            if call[0] == "ack":
                m.ack()
            else:
                m.retry(delay_seconds=call[1])
        except CapabilityError as exc:
            return [*call, *_error(exc)]
        return [*call, m.outcome]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait (Workers side) until ``condition()`` holds, checking it after each handled batch."""
        import anyio

        while not condition():
            self._changed = anyio.Event()
            await self._changed.wait()

    def redelivered(self, rnd: Round) -> bool:
        """Some message of ``rnd`` was delivered more than once (the probe)."""
        return any(len(self.seen.get(key, _Seen()).deliveries) > 1 for key, _, _ in rnd.sends)

    def done(self, rnd: Round) -> bool:
        """Every message of ``rnd`` was acked by a batch that did not raise, or dead-lettered."""
        for key, _, _ in rnd.sends:
            seen = self.seen.get(key)
            if seen is None:
                return False
            last = seen.deliveries[-1] if seen.deliveries else None
            acked = last is not None and last.get("outcome") == "ack" and not last.get("raised")
            if not (acked or seen.dead_lettered):
                return False
        return True

    def record(self, rounds: list[Round], incomplete: list[str]) -> dict[str, Any]:
        """What every round observed, independent of ids, times and batching."""
        out: dict[str, Any] = {"rounds": [], "incomplete": incomplete, "strays": self.strays}
        for rnd in rounds:
            messages = {}
            for key, _, _ in rnd.sends:
                seen = self.seen.get(key, _Seen())
                messages[key] = {
                    "deliveries": seen.deliveries,
                    "dead_lettered": seen.dead_lettered,
                    "one_id": len(seen.ids) == 1,  # redeliveries and the dead-letter copy keep the id
                    "ids_are_32_hex": all(_ID.fullmatch(i) for i in seen.ids),
                    "one_timestamp": len(seen.timestamps) == 1,
                }
            out["rounds"].append(
                {
                    "name": rnd.name,
                    "policy": rnd.policy,
                    "sends": self.sends.get(rnd.name),
                    "messages": messages,
                }
            )
        # each send and refused send, each call on a message, and each batch's end (return, ack_all,
        # retry_all or raise) as seen by each message
        sent = sum(len(r.sends) + len(r.bad_sends) for r in rounds)
        handled = sum(
            len(d.get("calls", ())) + 1
            for r in out["rounds"]
            for m in r["messages"].values()
            for d in m["deliveries"] + m["dead_lettered"]
        )
        out["operations"] = sent + handled
        return out


async def check_consumer_sequence(env: Any) -> dict[str, Any]:
    """The sequence over Miniflare's queue, producer binding and push consumer."""
    import anyio
    from pyodide.ffi import create_proxy

    from cap_cloudflare_queue import MessageBatch, Queue
    from cap_opendal_core import ffi

    settings = ffi.js_to_py(env.CAPS_QUEUE_DIFF.settings)
    assert settings["queue"] == QUEUE
    assert settings["deadLetterQueue"] == DEAD_LETTER_QUEUE
    assert settings["consumer"]["maxBatchSize"] == MAX_BATCH_SIZE
    assert settings["consumer"]["maxRetries"] == MAX_RETRIES
    seed = seed_from(getattr(env, "CAP_DIFF_SEED", None))
    rounds = make_plan(seed)
    recorder = Recorder(rounds)

    async def on_batch(js_batch: Any) -> str | None:
        return await recorder.handle(MessageBatch.from_js(js_batch, settings=QUIET))

    proxy = create_proxy(on_batch)
    env.CAPS_QUEUE_DIFF.handler = proxy
    incomplete: list[str] = []
    try:
        queue = Queue.from_env(env, "DIFF_QUEUE", settings=QUIET)
        for rnd in rounds:
            recorder.sends[rnd.name] = await send_round(queue, rnd)
            probe = rnd.policy == "raise_once"
            with anyio.move_on_after(PROBE_WAIT_S if probe else ROUND_TIMEOUT_S):
                await recorder.wait_until(partial(recorder.redelivered if probe else recorder.done, rnd))
            if not probe and not recorder.done(rnd):
                incomplete.append(rnd.name)
    finally:
        env.CAPS_QUEUE_DIFF.handler = None
        proxy.destroy()
    return {"seed": seed, "record": recorder.record(rounds, incomplete)}


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def run_local(seed: int, directory: Path) -> dict[str, Any]:
    """The sequence over the local queue (same settings), moving its clock instead of waiting."""
    from cap_cloudflare_queue import Queue, QueueConsumer

    rounds = make_plan(seed)
    recorder = Recorder(rounds)
    clock = Clock()
    incomplete: list[str] = []
    async with (
        Queue.local(directory, QUEUE, clock=clock, settings=QUIET) as queue,
        QueueConsumer.local(
            directory,
            QUEUE,
            max_batch_size=MAX_BATCH_SIZE,
            max_retries=MAX_RETRIES,
            dead_letter_queue=DEAD_LETTER_QUEUE,
            clock=clock,
            settings=QUIET,
        ) as consumer,
        QueueConsumer.local(directory, DEAD_LETTER_QUEUE, clock=clock, settings=QUIET) as dead_letters,
    ):
        for rnd in rounds:
            recorder.sends[rnd.name] = await send_round(queue, rnd)
            idle = 0
            while not recorder.done(rnd) and idle < 5:  # delays are at most 1 s
                batch = await consumer.pull()
                if not len(batch):
                    batch = await dead_letters.pull()
                if len(batch):
                    idle = 0
                    await recorder.handle(batch)
                else:
                    idle += 1
                    clock.now += 1.0
            if rnd.policy != "raise_once" and not recorder.done(rnd):
                incomplete.append(rnd.name)
    return recorder.record(rounds, incomplete)
