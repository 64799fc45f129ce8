"""A seeded sequence of SQL statements for a Durable Object's ``storage.sql``, and what each one did.

:func:`statements` builds the sequence — DDL, inserts (NULLs, text, blobs, integral and other floats,
integers past 2**53 written as literals), updates, deletes, selects with ordering, filters, joins and
aggregates, several statements in one call, constraint violations (PRIMARY KEY, NOT NULL, CHECK,
FOREIGN KEY), bad SQL and refused bindings — and :func:`run_sql_sequence` runs it through an
``execute(query, bindings) -> SqlCursor`` function, recording each step's column names, rows and (for a
single INSERT/UPDATE/DELETE) ``rows_written``, or its error class; then two ``transaction_sync`` blocks,
one that commits and one that rolls back; then two ``transaction()`` blocks writing through both APIs
(a key-value put on ``txn``, one on the storage, a SQL insert), one that commits and one that raises —
on a SQLite-backed object all of a block's writes commit together or none do (on the binding through
the SDK's ``storage.transaction()``, which holds the runtime's ``transaction(closure)`` open); last,
the tables ``sqlite_master`` lists (the runtime's hidden key-value table among them).

The harness runs it over Miniflare's real ``ctx.storage.sql`` (:func:`check_sql_sequence`: each query
goes through the same pre-call checks as ``storage.sql.exec``, then over RPC to ``StorageProbe``,
whose answer is converted by the binding's own ``cursor_from_js``/``error_from_js``);
``tests/cap_cloudflare_do/test_do_sql_differential.py`` runs it over the local runtime and requires the
same record. The seed is ``CAP_DIFF_SEED`` or :data:`DEFAULT_SEED`.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

from cap_opendal_core.errors import CapabilityError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from cap_cloudflare_do import DurableObjectStorage
    from cap_cloudflare_do.sql import SqlCursor

    Execute = Callable[[str, tuple[Any, ...]], Awaitable[SqlCursor]]
    Transact = Callable[[list[tuple[str, tuple[Any, ...]]]], Awaitable[None]]
    Mixed = Callable[[str, str, bool], Awaitable[tuple[bool, dict[str, Any]]]]

DEFAULT_SEED = 20260520
STEPS = 160
SETUP = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER CHECK (qty >= 0), "
    "price REAL, data BLOB, big INTEGER)",
    "CREATE TABLE tags (item_id INTEGER NOT NULL REFERENCES items (id), tag TEXT NOT NULL)",
)
NAMES = ("a", "b", "é", "😀", "a'b", "")
PRICES = (1.5, 2.0, -0.25, None, 1e300, 0.125)  # sums exact in binary: see the docs on sum()
BIGS = ("NULL", "0", str(2**53 - 1), str(2**53 + 1), str(2**63 - 1), str(-(2**63)))
BAD: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("SELEC * FROM items", ()),
    ("SELECT * FROM missing", ()),
    ("SELECT ?", ()),
    ("SELECT ?", (True,)),
    ("SELECT ?", (2**60,)),
    ("INSERT INTO items (name) VALUES (?); SELECT 1", ("x",)),
    ("CREATE TABLE _cf_mine (a)", ()),
    ("BEGIN", ()),
    (" -- nothing\n", ()),
    ("SELECT nope FROM items", ()),
)


def seed_from(value: Any) -> int:
    text = None if value is None else str(value).strip()
    return int(text) if text else DEFAULT_SEED


def statements(seed: int) -> list[tuple[str, tuple[Any, ...]]]:
    """The sequence for ``seed``: (query, bindings) pairs."""
    rng = random.Random(seed)
    steps: list[tuple[str, tuple[Any, ...]]] = [(q, ()) for q in SETUP]
    for _ in range(STEPS):
        kind = rng.randrange(15)
        item = rng.randrange(1, 13)
        if kind in (0, 1):
            data = rng.choice((None, b"", rng.randbytes(rng.randrange(1, 6))))
            qty = rng.choice((None, 0, 1, 7))
            steps.append(
                (
                    "INSERT INTO items (name, qty, price, data, big) "
                    f"VALUES (?, ?, ?, ?, {rng.choice(BIGS)})",
                    (rng.choice(NAMES), qty, rng.choice(PRICES), data),
                )
            )
        elif kind == 2:  # explicit ids collide with earlier rows: PRIMARY KEY
            steps.append(("INSERT INTO items (id, name, qty) VALUES (?, ?, ?)", (item, rng.choice(NAMES), 1)))
        elif kind == 3:  # NOT NULL or CHECK
            steps.append(
                rng.choice(
                    (
                        ("INSERT INTO items (name) VALUES (NULL)", ()),
                        ("INSERT INTO items (name, qty) VALUES ('neg', ?)", (-1,)),
                    )
                )
            )
        elif kind == 4:  # FOREIGN KEY when the item is missing
            steps.append(
                ("INSERT INTO tags (item_id, tag) VALUES (?, ?)", (item, rng.choice(("red", "blue", "é"))))
            )
        elif kind == 5:
            steps.append(("UPDATE items SET qty = qty + 1, price = price * 2 WHERE id <= ?", (item,)))
        elif kind == 6:  # a tagged item cannot go: FOREIGN KEY
            steps.append(("DELETE FROM items WHERE id = ?", (item,)))
        elif kind == 7:
            steps.append(("SELECT * FROM items ORDER BY id", ()))
        elif kind == 8:
            steps.append(
                (
                    "SELECT id, name, coalesce(qty, -1) AS q, typeof(price) AS tp, length(data) AS len, "
                    "hex(data) AS hx, big FROM items WHERE price IS NULL OR qty > ? ORDER BY id DESC LIMIT 5",
                    (rng.randrange(3),),
                )
            )
        elif kind == 9:
            steps.append(
                (
                    "SELECT i.id, i.name, count(t.tag) AS n, min(t.tag) AS first, max(t.tag) AS last "
                    "FROM items i LEFT JOIN tags t ON t.item_id = i.id GROUP BY i.id ORDER BY n DESC, i.id",
                    (),
                )
            )
        elif kind == 10:
            steps.append(
                (
                    "SELECT count(*) AS c, sum(qty) AS s, total(price) AS tp, avg(qty) AS a, max(big) AS mb, "
                    "min(big) FROM items",
                    (),
                )
            )
        elif kind == 11:
            steps.append(rng.choice(BAD))
        elif kind == 12:
            steps.append(
                ("INSERT INTO items (name, qty) VALUES ('multi', 1); SELECT count(*) AS c FROM items", ())
            )
        elif kind == 13:
            steps.append(("SELECT data FROM items WHERE data IS NOT NULL ORDER BY id", ()))
        else:
            steps.append(
                (
                    "SELECT price, price * 2 AS twice, qty / 2 AS half, qty / 2.0 AS halved "
                    "FROM items ORDER BY id",
                    (),
                )
            )
    return steps


def plain(value: Any) -> Any:
    """A JSON form that keeps what JSON would lose (bytes, the int/float difference)."""
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _writes(query: str) -> bool:
    return ";" not in query and query.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")


async def run_sql_sequence(execute: Execute, transact: Transact, seed: int, mixed: Mixed) -> list[Any]:
    """Run :func:`statements` through ``execute`` (then two transactions through ``transact`` and two
    through ``mixed``); the record of what each step observed."""
    record: list[Any] = []
    for i, (query, bindings) in enumerate(statements(seed)):
        try:
            cursor = await execute(query, bindings)
            result: Any = {"cols": cursor.column_names, "rows": plain(cursor.raw().to_array())}
            if _writes(query):
                result["written"] = cursor.rows_written
        except CapabilityError as exc:
            result = {"error": type(exc).__name__}
        record.append([i, query, plain(list(bindings)), result])
    committed = [
        ("INSERT INTO items (name, qty) VALUES ('tx', 1)", ()),
        ("UPDATE items SET qty = 2 WHERE name = 'tx'", ()),
    ]
    failed = [
        ("INSERT INTO items (name, qty) VALUES ('tx2', 1)", ()),
        ("INSERT INTO items (name) VALUES (NULL)", ()),
    ]
    for name, steps in (("commit", committed), ("rollback", failed)):
        try:
            await transact(steps)
            outcome = "ok"
        except CapabilityError as exc:
            outcome = type(exc).__name__
        after = await execute("SELECT name, qty FROM items WHERE name LIKE 'tx%' ORDER BY id", ())
        record.append([name, outcome, plain(after.raw().to_array())])
    for name, fail in (("mixed commit", False), ("mixed rollback", True)):
        key = name.replace(" ", "-")
        raised, entries = await mixed(key, f"INSERT INTO items (name, qty) VALUES ('{key}', 3)", fail)
        after = await execute("SELECT name, qty FROM items WHERE name LIKE 'mixed%' ORDER BY id", ())
        record.append([name, raised, entries, plain(after.raw().to_array())])
    tables = await execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", ())
    record.append(["tables", plain(tables.raw().to_array())])
    return record


def sql_on(handle: Any) -> Execute:
    """``execute`` for the sequences here, on the binding: ``handle.sqlExec`` (the probe object's
    ``ctx.storage.sql.exec``), its answer turned into the SDK's cursor or error."""
    from cap_cloudflare_do.backends.workers_sql import cursor_from_js, error_from_js
    from cap_cloudflare_do.sql import check_exec
    from cap_opendal_core import ffi

    async def execute(query: str, bindings: tuple[Any, ...]) -> SqlCursor:
        _, values = check_exec(query, bindings)
        answer = ffi.js_to_py(await ffi.await_js(handle.sqlExec(query, ffi.to_js_value(list(values)))))
        if "error" in answer:
            raise error_from_js(answer["error"], query)
        return cursor_from_js(
            answer["columnNames"], answer["rows"], answer["rowsRead"], answer["rowsWritten"]
        )

    return execute


def mixed_on(storage: DurableObjectStorage, execute: Execute) -> Mixed:
    """``mixed`` for :func:`run_sql_sequence`, the same on both homes: one ``transaction()`` block that
    writes through ``txn``, through the storage and through SQL, and raises at its end when asked."""

    async def mixed(key: str, query: str, fail: bool) -> tuple[bool, dict[str, Any]]:
        try:
            async with storage.transaction() as txn:
                await txn.put(key, "v")
                await storage.put(f"{key}/direct", "v")
                await execute(query, ())
                if fail:
                    raise RuntimeError("rolled back on purpose")
            raised = False
        except RuntimeError:
            raised = True
        return raised, await storage.get([key, f"{key}/direct"])

    return mixed


async def check_sql_sequence(env: Any) -> dict[str, Any]:
    from cap_cloudflare_do import DurableObjectStorage
    from cap_cloudflare_do.backends.workers_sql import error_from_js
    from cap_opendal_core import ffi

    seed = seed_from(getattr(env, "CAP_DIFF_SEED", None))
    ns = env.DO_PROBE
    stub = ns.get(ns.idFromName(f"do-sql-diff/{os.urandom(4).hex()}"))
    handle = env.CAPS_TXN_BRIDGE.storage(await stub.storage(), stub)  # _support.probe_storage
    execute = sql_on(handle)
    storage = DurableObjectStorage.from_js(handle)

    async def transact(steps: list[tuple[str, tuple[Any, ...]]]) -> None:
        js_steps = ffi.to_js_value([[q, list(b)] for q, b in steps])
        answer = ffi.js_to_py(await ffi.await_js(handle.sqlTransaction(js_steps)))
        if "error" in answer:
            raise error_from_js(answer["error"], "transaction_sync")

    # the SDK's transaction() on the binding, as the local replay runs it (SQL through the probe's
    # sqlExec: ctx.storage.sql.exec inside the open transaction)
    mixed = mixed_on(storage, execute)
    return {"seed": seed, "record": await run_sql_sequence(execute, transact, seed, mixed)}


CLAIMS = (  # (key, expires ms (0: never), now ms) and whether the claim wins
    ("a", 2000, 1000),  # new key: claimed
    ("a", 2500, 1500),  # held until 2000: refused
    ("a", 3000, 2000),  # expired at 2000: taken over
    ("b", 0, 1000),  # new, never expires: claimed
    ("b", 0, 10**12),  # never expires: refused
)
CLAIMS_WIN = [True, False, True, True, False]


async def run_dedupe_claims(execute: Execute) -> list[int]:
    """``DedupeLedger``'s own schema and claim statement through ``execute``: each claim's
    ``rows_written``, which the ledger reads as "claimed" when above 0."""
    from cap_cloudflare_do.dedupe import _CLAIM, _SCHEMA

    await execute(_SCHEMA, ())
    return [(await execute(_CLAIM, claim)).rows_written for claim in CLAIMS]


async def check_dedupe_claim_statement(env: Any) -> list[int]:
    """The ledger's claim statement on Miniflare's SQL: rows written only by the claims that win."""
    ns = env.DO_PROBE
    stub = ns.get(ns.idFromName(f"do-sql-dedupe/{os.urandom(4).hex()}"))
    written = await run_dedupe_claims(sql_on(await stub.storage()))
    assert [w > 0 for w in written] == CLAIMS_WIN, written
    return written
