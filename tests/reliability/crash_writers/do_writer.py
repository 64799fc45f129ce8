"""Drives Durable Objects' local storage without end, reporting each RPC, until it is killed.

    python -m tests.reliability.crash_writers.do_writer DIR SEED FIRST_SEQ

The embedded runtime hosts :class:`CrashLedger` objects (three names) in ``DIR`` (SQLite, WAL mode);
each RPC is one storage call: ``put`` of one entry, ``put`` of a mapping (atomic), a transaction of
puts and deletes (atomic), ``delete`` of a list (atomic), ``set_alarm`` and ``delete_alarm``. Values
carry their key, write number and SHA-256; an alarm's time encodes the write that set it.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
from typing import Any

from cap_cloudflare_do import DurableObject

from .protocol import Reporter

OBJECTS = ("alpha", "beta", "ünï")
KEYS = ("k1", "a/b", "ü", "", "x" * 1000)
ALARM = "@alarm"
ALARM_BASE_MS = 4_102_444_800_000
"""2100-01-01: alarms set by the writer never fall due; ``at_ms - ALARM_BASE_MS`` is the write."""
SIZES = (0, 100, 10_000, 200_000, 1_000_000)


def model_key(name: str, key: str) -> str:
    """The ledger's name for ``key`` of object ``name`` (``@alarm`` stands for its alarm)."""
    return f"{name}:{key}"


def value_for(key: str, seq: int, rng: random.Random) -> dict[str, Any]:
    blob = rng.randbytes(rng.choice(SIZES))
    return {"key": key, "seq": seq, "blob": blob, "sha": hashlib.sha256(blob).hexdigest()}


class CrashLedger(DurableObject):
    """Each method is one storage call, so each RPC the writer reports is one write (or batch)."""

    async def put_one(self, key: str, value: Any) -> None:
        await self.storage.put(key, value)

    async def put_batch(self, entries: dict[str, Any]) -> None:
        await self.storage.put(entries)

    async def txn(self, puts: dict[str, Any], deletes: list[str]) -> None:
        async with self.storage.transaction() as txn:
            await txn.put(puts)
            if deletes:
                await txn.delete(deletes)

    async def remove(self, keys: list[str]) -> None:
        await self.storage.delete(keys)

    async def schedule(self, at_ms: int) -> None:
        await self.storage.set_alarm(at_ms)

    async def unschedule(self) -> None:
        await self.storage.delete_alarm()

    async def alarm(self) -> None:
        """Never runs: the writer's alarms are set for 2100."""


async def main(directory: str, rng: random.Random, first_seq: int) -> None:
    from cap_cloudflare_do import DurableObjectNamespace
    from cap_opendal_core.layers import LayerSettings

    report = Reporter(first_seq)
    async with DurableObjectNamespace.local(
        directory, CrashLedger, settings=LayerSettings(logging=False)
    ) as namespace:
        stubs = {name: namespace.get_by_name(name) for name in OBJECTS}
        report.ready()
        while True:
            name = rng.choice(OBJECTS)
            stub = stubs[name]
            roll = rng.random()
            if roll < 0.35:
                key = rng.choice(KEYS)
                seq = report.begin("put", puts=[model_key(name, key)])
                await stub.call("put_one", key, value_for(key, seq, rng))
            elif roll < 0.55:
                keys = rng.sample(KEYS, rng.randint(2, 4))
                seq = report.begin("put_batch", puts=[model_key(name, k) for k in keys], atomic=True)
                await stub.call("put_batch", {k: value_for(k, seq, rng) for k in keys})
            elif roll < 0.7:
                chosen = rng.sample(KEYS, rng.randint(1, 5))
                cut = rng.randint(1, len(chosen))
                puts, deletes = chosen[:cut], chosen[cut:]
                seq = report.begin(
                    "transaction",
                    puts=[model_key(name, k) for k in puts],
                    deletes=[model_key(name, k) for k in deletes],
                    atomic=True,
                )
                await stub.call("txn", {k: value_for(k, seq, rng) for k in puts}, deletes)
            elif roll < 0.85:
                keys = rng.sample(KEYS, rng.randint(1, 3))
                seq = report.begin("delete", deletes=[model_key(name, k) for k in keys], atomic=True)
                await stub.call("remove", keys)
            elif roll < 0.95:
                seq = report.begin("set_alarm", puts=[model_key(name, ALARM)])
                await stub.call("schedule", ALARM_BASE_MS + seq)
            else:
                seq = report.begin("delete_alarm", deletes=[model_key(name, ALARM)])
                await stub.call("unschedule")
            report.ack(seq)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], random.Random(int(sys.argv[2])), int(sys.argv[3])))
