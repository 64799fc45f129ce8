"""A process that hosts :class:`Ledger` and is killed with SIGKILL by ``test_do_transactions.py``.

    python -m tests.cap_cloudflare_do.txn_crash_proc DIR MODE

``MODE`` is ``hang`` (open a transaction that writes through both APIs and sets the alarm, say
``inside``, then wait to be killed), ``commit`` (the same transaction, committed, then say
``committed`` and wait) or ``open`` (open the namespace — migrating an earlier layout — then say
``opened``). ``CAP_EMBEDDED_FAULT`` in the environment can make it kill itself at a step on the way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio

from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_opendal_core.layers import LayerSettings

ALARM_MS = 4_102_444_800_000
"""2100-01-01: never due while the test runs."""
QUIET = LayerSettings(logging=False)


class Ledger(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        self.sql.exec("CREATE TABLE IF NOT EXISTS log (n INTEGER NOT NULL)")

    async def write(self, hang: bool) -> None:
        async with self.storage.transaction() as txn:
            await txn.put("a", 1)
            await self.storage.put("b", 2)
            self.sql.exec("INSERT INTO log (n) VALUES (1)")
            await self.storage.set_alarm(ALARM_MS)
            if hang:
                print("inside", flush=True)
                await anyio.sleep(3600)

    async def alarm(self) -> None:
        """Never due here."""


async def main(directory: Path, mode: str) -> None:
    async with DurableObjectNamespace.local(directory, Ledger, settings=QUIET) as ns:
        if mode == "open":
            print("opened", flush=True)
        else:
            await ns.get_by_name("ledger").write(mode == "hang")
            print("committed", flush=True)
        await anyio.sleep(3600)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), sys.argv[2])
