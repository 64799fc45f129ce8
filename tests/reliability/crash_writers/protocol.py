"""What a writer process tells the test, one JSON line per event on stdout, flushed at once.

Why a line per event, written before the next step: the test kills the writer with SIGKILL at a
random moment, so the only trustworthy account of what the writer was told is what already reached
the pipe. ``begin`` is written before an operation starts and ``ack`` only after the capability
returned — so an ``ack`` line means "the SDK reported this done" and an operation with a ``begin``
but no ``ack`` was in flight when the process died (it may or may not have happened).

Events::

    {"ready": true}
    {"b": SEQ, "op": NAME, "puts": [KEY…], "deletes": [KEY…], "atomic": BOOL}
    {"a": SEQ}
    {"note": …}            anything else a writer wants the test to know (ignored by the ledger)

A key's state after a ``put`` is the operation's ``SEQ`` (writers store it with the value), after a
``delete`` it is absent. :mod:`.harness` turns the events into what each key may hold after the crash.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence

__all__ = ["Reporter", "chunks", "delete_keys", "parse_payload", "payload", "run_main"]


class Reporter:
    """Numbers operations from ``first_seq`` and writes their events to stdout."""

    def __init__(self, first_seq: int) -> None:
        self._next = first_seq

    @staticmethod
    def emit(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    def ready(self) -> None:
        self.emit({"ready": True})

    def begin(
        self, op: str, *, puts: Iterable[str] = (), deletes: Iterable[str] = (), atomic: bool = False
    ) -> int:
        seq = self._next
        self._next += 1
        self.emit({"b": seq, "op": op, "puts": list(puts), "deletes": list(deletes), "atomic": atomic})
        return seq

    def ack(self, seq: int) -> None:
        self.emit({"a": seq})


def payload(key: str, seq: int, size: int, rng: random.Random) -> bytes:
    """A value that says which write made it: ``[key, seq]`` as JSON, a newline, then ``size`` random
    bytes. A reader that finds another write's prefix, or a body that fails its checksum, found a
    torn or mixed value."""
    return json.dumps([key, seq]).encode() + b"\n" + rng.randbytes(size)


def parse_payload(data: bytes) -> tuple[str, int] | None:
    """``(key, seq)`` from a :func:`payload`; None when the prefix is not one."""
    head, sep, _ = data.partition(b"\n")
    if not sep:
        return None
    try:
        key, seq = json.loads(head)
    except ValueError:
        return None
    if not isinstance(key, str) or not isinstance(seq, int):
        return None
    return key, seq


async def chunks(value: bytes, rng: random.Random, largest: int) -> AsyncIterator[bytes]:
    """``value`` as a stream of seeded random pieces of 1 to ``largest`` bytes, yielding to the loop
    between pieces (so a kill can land mid-stream)."""
    at = 0
    while at < len(value):
        step = rng.randint(1, largest)
        yield value[at : at + step]
        at += step
        await asyncio.sleep(0)


async def delete_keys(
    report: Reporter,
    rng: random.Random,
    keys: Sequence[str],
    delete: Callable[[Any], Awaitable[object]],
    *,
    several: bool = False,
) -> int:
    """Delete one of ``keys`` (``delete``) or, with ``several``, two or three of them in one call
    (``delete_many``: not atomic, each key on its own), reported as it begins; the operation's seq."""
    if several:
        chosen = rng.sample(keys, rng.randint(2, 3))
        seq = report.begin("delete_many", deletes=chosen)
        await delete(chosen)
    else:
        key = rng.choice(keys)
        seq = report.begin("delete", deletes=[key])
        await delete(key)
    return seq


def run_main(main: Callable[[str, random.Random, int], Coroutine[Any, Any, None]]) -> None:
    """Run a writer's ``main(ROOT, seeded generator, FIRST_SEQ)`` from its command line."""
    asyncio.run(main(sys.argv[1], random.Random(int(sys.argv[2])), int(sys.argv[3])))
