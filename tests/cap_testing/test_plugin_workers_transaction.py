"""``workers_env``: a Python Durable Object using ``async with self.storage.transaction()`` on the real
binding (Miniflare's SQLite-backed object, reached through the plugin's host).

The SDK holds the runtime's ``ctx.storage.transaction(closure)`` open across the block; these cases
check what that gives a user's object class: a block that raises leaves neither its ``txn`` writes, its
writes through ``self.storage`` nor its alarm; ``txn.rollback()`` drops them too; a block that ends
commits all of them; a block inside a block is a savepoint; ``delete_all()`` inside one is refused.
"""

from __future__ import annotations

from typing import Final

import pytest

from .sample_projects import NEEDS_NODE, wrangler_toml, write_project

pytestmark = [pytest.mark.workers, NEEDS_NODE]

LEDGER: Final[dict[str, str]] = {
    "wrangler.toml": wrangler_toml("ledger", "", ("LEDGERS", "Ledger")),
    "src/entry.py": """\
import datetime as dt

from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_opendal_core.errors import InvalidInput


class Ledger(DurableObject):
    async def transfer(self, amount: int, mode: str) -> dict:
        try:
            async with self.storage.transaction() as txn:
                balance = await txn.get("balance") or 0
                await txn.put("balance", balance + amount)
                entry = {"raw": b"\\x00\\xff", "at": dt.datetime(2026, 1, 2)}
                await self.storage.put(f"entry/{amount}", entry)
                assert await txn.get(f"entry/{amount}") is not None  # reads see the block's writes
                assert list(await txn.list(prefix="entry/"))[-1] == f"entry/{amount}"
                await self.storage.set_alarm(1_900_000_000_000 + amount)
                if mode == "raise":
                    raise ValueError("refused")
                if mode == "rollback":
                    txn.rollback()
        except ValueError:
            pass
        return await self.state()

    async def nested(self) -> dict:
        async with self.storage.transaction() as outer:
            await outer.put("outer", 1)
            try:
                async with self.storage.transaction() as inner:
                    await inner.put("inner", 1)
                    await self.storage.set_alarm(1_900_000_000_000)
                    raise ValueError("inner only")
            except ValueError:
                pass
            await outer.put("after", 2)
        return await self.state()

    async def delete_all_inside(self) -> str:
        async with self.storage.transaction():
            try:
                await self.storage.delete_all()
            except InvalidInput as exc:
                return str(exc)
        return "not refused"

    async def state(self) -> dict:
        entries = await self.storage.list()
        shown = {k: sorted(v) if k.startswith("entry/") else v for k, v in entries.items()}
        raw = [v["raw"] for k, v in entries.items() if k.startswith("entry/")]
        assert all(r == b"\\x00\\xff" for r in raw), raw
        return {"entries": shown, "alarm": await self.storage.get_alarm()}

    async def alarm(self) -> None:
        pass


async def call(env, name, method, *args):
    stub = DurableObjectNamespace.from_env(env, "LEDGERS").get_by_name(name)
    return await getattr(stub, method)(*args)
""",
    "tests/test_ledger.py": """\
EMPTY = {"entries": {}, "alarm": None}


def test_a_block_that_raises_leaves_nothing(workers_env):
    assert workers_env.run("entry:call", "a", "transfer", 5, "raise") == EMPTY


def test_rollback_leaves_nothing(workers_env):
    assert workers_env.run("entry:call", "b", "transfer", 5, "rollback") == EMPTY


def test_a_block_that_ends_commits_everything(workers_env):
    done = workers_env.run("entry:call", "c", "transfer", 5, "commit")
    assert done == {"entries": {"balance": 5, "entry/5": ["at", "raw"]}, "alarm": 1_900_000_000_005}
    after = workers_env.run("entry:call", "c", "transfer", 7, "raise")
    assert after == done
    final = workers_env.run("entry:call", "c", "transfer", 7, "commit")
    assert final["entries"]["balance"] == 12 and final["alarm"] == 1_900_000_000_007


def test_a_nested_block_is_a_savepoint(workers_env):
    nested = workers_env.run("entry:call", "d", "nested")
    assert nested == {"entries": {"after": 2, "outer": 1}, "alarm": None}


def test_delete_all_is_refused_inside(workers_env):
    assert "cannot run inside a transaction" in workers_env.run("entry:call", "e", "delete_all_inside")
""",
}


def test_transactions_on_the_binding(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, LEDGER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "tests", timeout=900)
    result.assert_outcomes(passed=5)
