"""``async with storage.transaction()`` on the binding: the SDK holds the runtime's
``ctx.storage.transaction(closure)`` open across the block, so on a SQLite-backed object its
key-value, SQL and alarm writes commit together or not at all — an exception or ``txn.rollback()``
drops every one of them, a block inside a block is a savepoint, ``transaction_sync`` inside joins it.
``StorageProbe``'s real storage is reached as a Python object's ``ctx.storage``
(:func:`_support.probe_storage`); its SQL through the probe's ``sqlExec``, which runs inside the open
transaction as ``ctx.storage.sql.exec`` does in a Worker."""

from __future__ import annotations

from typing import Any

from _support import probe_storage, raises, unique_key
from check_do_sql_differential import sql_on

from cap_cloudflare_do import DurableObjectStorage
from cap_opendal_core.errors import InvalidInput


async def _open(env: Any, name: str) -> tuple[DurableObjectStorage, Any]:
    handle = await probe_storage(env, unique_key(name))
    execute = sql_on(handle)
    await execute("CREATE TABLE t (a TEXT)", ())
    return DurableObjectStorage.from_js(handle), execute


async def _rows(execute: Any) -> list[Any]:
    return [row["a"] for row in (await execute("SELECT a FROM t ORDER BY a", ())).to_array()]


async def check_a_block_that_raises_leaves_nothing(env: Any) -> None:
    storage, execute = await _open(env, "do/txn-raise")
    with raises(LookupError, match="abandon"):
        async with storage.transaction() as txn:
            await txn.put("a", 1)
            await storage.put("b", b"\x00\xff")
            await execute("INSERT INTO t VALUES ('x')", ())
            await storage.set_alarm(4_000_000_000_000)
            assert await txn.get(["a", "b"]) == {"a": 1, "b": b"\x00\xff"}  # reads see the block
            assert await _rows(execute) == ["x"]
            raise LookupError("abandon")
    assert (await storage.list(), await _rows(execute), await storage.get_alarm()) == ({}, [], None)


async def check_a_block_that_ends_commits_everything(env: Any) -> None:
    storage, execute = await _open(env, "do/txn-commit")
    async with storage.transaction() as txn:
        await txn.put("a", 1)
        await storage.put("b", 2)
        await execute("INSERT INTO t VALUES ('x')", ())
        await storage.set_alarm(4_000_000_000_000)
    assert await storage.list() == {"a": 1, "b": 2}
    assert (await _rows(execute), await storage.get_alarm()) == (["x"], 4_000_000_000_000)


async def check_rollback_drops_sql_too(env: Any) -> None:
    storage, execute = await _open(env, "do/txn-rollback")
    async with storage.transaction() as txn:
        await txn.put("a", 1)
        await execute("INSERT INTO t VALUES ('x')", ())
        txn.rollback()
        with raises(InvalidInput, match="finished"):
            await txn.put("a", 2)
        await storage.put("after", 1)  # outside the rolled-back transaction, as in the local runtime
    assert (await storage.list(), await _rows(execute)) == ({"after": 1}, [])


async def check_a_nested_block_is_a_savepoint(env: Any) -> None:
    storage, execute = await _open(env, "do/txn-nested")
    async with storage.transaction() as outer:
        await outer.put("outer", 1)
        with raises(LookupError):
            async with storage.transaction() as inner:
                await inner.put("inner", 1)
                await execute("INSERT INTO t VALUES ('inner')", ())
                raise LookupError("inner only")
        await execute("INSERT INTO t VALUES ('outer')", ())
        assert await outer.get("inner") is None
    assert (await storage.list(), await _rows(execute)) == ({"outer": 1}, ["outer"])


async def check_delete_all_is_refused_inside(env: Any) -> None:
    storage, _ = await _open(env, "do/txn-delete-all")
    await storage.put("kept", 1)
    async with storage.transaction():
        with raises(InvalidInput, match="inside a transaction"):
            await storage.delete_all()
    assert await storage.list() == {"kept": 1}
