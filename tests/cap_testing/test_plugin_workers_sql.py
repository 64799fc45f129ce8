"""``workers_env``: a Python Durable Object using the synchronous ``storage.sql.exec`` on the real
binding (Miniflare's SQLite-backed object, reached through the plugin's host), and the same class in
the local runtime, from one sample project.

The host answers ``sql.exec`` synchronously (a worker thread asks the object while Node's main thread
waits), so the class body is the one a deployed Worker runs: the table made in ``__init__``, an insert
with ``RETURNING``, an ordered select, a constraint violation as the SDK's error class, bytes and
numbers as the runtime maps them, ``database_size``. Inside an open ``transaction()`` the SQL runs
inside the real transaction (the host hands it to the transaction's closure in workerd), so it commits
with the block's key-value writes and rolls back with them; the same checks pass in the local runtime.
``transaction_sync`` still raises ``Unsupported`` naming the limitation instead of hanging.
"""

from __future__ import annotations

from typing import Final

import pytest

from .sample_projects import NEEDS_NODE, wrangler_toml, write_project

pytestmark = [pytest.mark.workers, NEEDS_NODE]

NOTES: Final[dict[str, str]] = {
    "wrangler.toml": wrangler_toml("notes", "", ("NOTES", "Notes")),
    "src/entry.py": """\
import asyncio

from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_opendal_core.errors import PreconditionFailed, Unsupported


class Notes(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.sql = self.storage.sql
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE, raw BLOB)"
        )

    async def add(self, body: str, raw_hex: str | None = None) -> int:
        raw = None if raw_hex is None else bytes.fromhex(raw_hex)
        cursor = self.sql.exec("INSERT INTO notes (body, raw) VALUES (?, ?) RETURNING id", body, raw)
        return int(cursor.one()["id"])

    async def bodies(self) -> list:
        return [row["body"] for row in self.sql.exec("SELECT body FROM notes ORDER BY id")]

    async def raw(self, note_id: int) -> list:
        value = self.sql.exec("SELECT raw FROM notes WHERE id = ?", note_id).one()["raw"]
        return [type(value).__name__, value.hex()]

    async def duplicate(self, body: str) -> list:
        try:
            self.sql.exec("INSERT INTO notes (body) VALUES (?)", body)
        except PreconditionFailed as exc:
            return ["PreconditionFailed", "UNIQUE constraint failed" in str(exc)]
        return ["no error", False]

    async def values(self) -> dict:
        cursor = self.sql.exec(
            "SELECT 2.0 AS whole, 0.25 AS f, 9007199254740993 AS big, NULL AS z, ? AS text, x'00ff' AS blob",
            "é😀",
        )
        row = cursor.one()
        return {
            "types": {k: type(v).__name__ for k, v in row.items()},
            "row": {k: v.hex() if isinstance(v, bytes) else v for k, v in row.items()},
            "columns": cursor.column_names,
        }

    async def counts(self) -> list:
        cursor = self.sql.exec("UPDATE notes SET raw = NULL")
        cursor.to_array()
        return [cursor.rows_read, cursor.rows_written]

    async def size(self) -> int:
        return self.sql.database_size

    async def commit_with_block(self, body: str) -> list:
        async with self.storage.transaction() as txn:
            first = self.sql.exec("INSERT INTO notes (body) VALUES (?) RETURNING id", body).one()["id"]
            await txn.put("k", first)
            try:
                self.sql.exec("INSERT INTO notes (body) VALUES (?)", body)
                duplicate = "no error"
            except PreconditionFailed:
                duplicate = "PreconditionFailed"
            inside = [row["body"] for row in self.sql.exec("SELECT body FROM notes ORDER BY id")]
            await txn.put("seen", len(inside))
            size = self.sql.database_size
        return [await self.storage.get("k"), await self.storage.get("seen"), duplicate, inside, size > 0]

    async def rollback_with_block(self, body: str) -> list:
        inside = None
        try:
            async with self.storage.transaction() as txn:
                await txn.put("r", 1)
                self.sql.exec("INSERT INTO notes (body) VALUES (?)", body)
                inside = self.sql.exec("SELECT count(*) AS n FROM notes WHERE body = ?", body).one()["n"]
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        return [inside, await self.storage.get("r"), await self.bodies()]

    async def overlapping(self) -> list:
        async with self.storage.transaction() as txn:
            put = asyncio.ensure_future(txn.put("o", 1))
            for _ in range(5):
                await asyncio.sleep(0)  # the put is likely on its way when the SQL below runs
            self.sql.exec("INSERT INTO notes (body) VALUES ('overlapping')")
            await put
        return [await self.storage.get("o"), await self.bodies()]

    async def nested(self) -> list:
        async with self.storage.transaction() as txn:
            self.sql.exec("INSERT INTO notes (body) VALUES ('outer')")
            try:
                async with self.storage.transaction() as inner:
                    await inner.put("inner", 1)
                    self.sql.exec("INSERT INTO notes (body) VALUES ('inner')")
                    raise RuntimeError("undo inner")
            except RuntimeError:
                pass
            await txn.put("outer", 1)
        return [await self.storage.get("outer"), await self.storage.get("inner"), await self.bodies()]

    async def sync_transaction(self) -> list:
        try:
            return ["ran", self.storage.transaction_sync(lambda: self.sql.exec("SELECT 1 AS a").one()["a"])]
        except Unsupported as exc:
            return ["Unsupported", str(exc)]


async def call(env, name, method, *args):
    return await getattr(DurableObjectNamespace.from_env(env, "NOTES").get_by_name(name), method)(*args)
""",
    "tests/cases.py": """\
def check_notes(call):
    assert call("a", "add", "first") == 1
    assert call("a", "add", "second", "00ff10") == 2
    assert call("b", "add", "other") == 1
    assert call("a", "bodies") == ["first", "second"]
    assert call("b", "bodies") == ["other"]
    assert call("a", "raw", 2) == ["bytes", "00ff10"]
    assert call("a", "duplicate", "first") == ["PreconditionFailed", True]
    assert call("a", "bodies") == ["first", "second"]
    assert call("a", "values") == {
        "types": {
            "whole": "int", "f": "float", "big": "float", "z": "NoneType", "text": "str", "blob": "bytes"
        },
        "row": {
            "whole": 2, "f": 0.25, "big": 9007199254740992.0, "z": None, "text": "é😀", "blob": "00ff"
        },
        "columns": ["whole", "f", "big", "z", "text", "blob"],
    }
    assert call("a", "counts")[1] == 2
    assert call("a", "size") > 0


def check_sql_in_transactions(call):
    assert call("t", "commit_with_block", "kept") == [1, 1, "PreconditionFailed", ["kept"], True]
    assert call("t", "bodies") == ["kept"]
    assert call("t", "rollback_with_block", "gone") == [1, None, ["kept"]]
    assert call("n", "nested") == [1, None, ["outer"]]
    assert call("o", "overlapping") == [1, ["overlapping"]]
""",
    "tests/test_on_the_binding.py": """\
from cases import check_notes, check_sql_in_transactions


def test_sql_on_the_binding(workers_env):
    check_notes(lambda name, method, *args: workers_env.run("entry:call", name, method, *args))


def test_state_is_reset(workers_env):
    assert workers_env.run("entry:call", "a", "bodies") == []


def test_sql_inside_a_transaction_commits_and_rolls_back_with_it(workers_env):
    check_sql_in_transactions(lambda name, method, *args: workers_env.run("entry:call", name, method, *args))


def test_transaction_sync_is_refused(workers_env):
    kind, message = workers_env.run("entry:call", "s", "sync_transaction")
    assert kind == "Unsupported"
    assert "transaction_sync is not supported" in message
""",
    "tests/test_local.py": """\
from anyio.from_thread import start_blocking_portal

from cap_cloudflare_do import DurableObjectNamespace
from cases import check_notes, check_sql_in_transactions
from entry import Notes


def test_the_same_class_in_the_local_runtime(tmp_path):
    with start_blocking_portal() as portal:
        local = DurableObjectNamespace.local(path=tmp_path, object_class=Notes)
        with portal.wrap_async_context_manager(local) as ns:
            check_notes(lambda name, method, *args: portal.call(getattr(ns.get_by_name(name), method), *args))


def test_sql_in_transactions_in_the_local_runtime(tmp_path):
    with start_blocking_portal() as portal:
        local = DurableObjectNamespace.local(path=tmp_path, object_class=Notes)
        with portal.wrap_async_context_manager(local) as ns:
            check_sql_in_transactions(
                lambda name, method, *args: portal.call(getattr(ns.get_by_name(name), method), *args)
            )
""",
}


def test_sql_on_the_binding_and_locally(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, NOTES)
    pytester.makeini("[pytest]\npythonpath = src tests\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "tests", timeout=900)
    result.assert_outcomes(passed=6)
