"""One transaction across the key-value and SQL APIs in the local runtime, as on a SQLite-backed object.

Each object's key-value entries live in the hidden ``_cf_KV`` table of the object's own database, so
``storage.transaction()`` and ``transaction_sync(fn)`` commit both APIs' writes together or neither:
on an exception, on ``txn.rollback()``, and when the process is killed with SIGKILL mid-transaction
(a real subprocess). Alarms set inside a transaction commit with it, also across a kill between the
object's commit and the namespace's alarm index. A store of the earlier layout (every object's
entries in ``objects.sqlite3``) is migrated when it opens, also after a kill half-way.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObjectNamespace, DurableObjectStorage
from cap_cloudflare_do.backends import local_sql
from cap_cloudflare_do.backends.sqlite_store import DB_FILE, KV_TABLE, SQL_FOLDER
from cap_cloudflare_do.codec import encode, encoded_size
from cap_cloudflare_do.ids import local_id_from_name
from cap_cloudflare_do.limits import MAX_ENTRY_BYTES
from cap_opendal_core.errors import Closed, InvalidInput, LimitExceeded, PreconditionFailed
from cap_opendal_core.layers import LayerSettings

from .txn_crash_proc import ALARM_MS, Ledger

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
QUIET = LayerSettings(logging=False)


class Boom(Exception):
    pass


@pytest.fixture
async def namespace(tmp_path: Path) -> AsyncIterator[DurableObjectNamespace]:
    async with DurableObjectNamespace.local(tmp_path, Ledger, settings=QUIET) as ns:
        yield ns


def _storage(ns: DurableObjectNamespace, name: str = "ledger") -> DurableObjectStorage:
    assert ns.runtime is not None
    storage = ns.runtime.storage(ns.id_from_name(name))
    storage.sql.exec("CREATE TABLE IF NOT EXISTS log (n INTEGER NOT NULL)")
    return storage


def _rows(storage: DurableObjectStorage) -> list[int]:
    return [int(row["n"] or 0) for row in storage.sql.exec("SELECT n FROM log ORDER BY n")]


def _committed(
    tmp_path: Path, ns: DurableObjectNamespace, name: str = "ledger"
) -> tuple[list[Any], list[int]]:
    """What another connection sees in the object's database file: only committed rows."""
    hex_id = ns.id_from_name(name).hex
    with sqlite3.connect(tmp_path / SQL_FOLDER / f"{hex_id}.sqlite3") as db:
        has_kv = db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (KV_TABLE,)).fetchone()
        keys = (
            [bytes(k).decode() for (k,) in db.execute(f"SELECT key FROM {KV_TABLE} ORDER BY key")]
            if has_kv
            else []
        )
        rows = [n for (n,) in db.execute("SELECT n FROM log ORDER BY n")]
    db.close()
    return keys, rows


# --- storage.transaction(): key-value and SQL together ------------------------------------------------


async def test_a_transaction_commits_key_value_and_sql_writes_together(
    namespace: DurableObjectNamespace, tmp_path: Path
) -> None:
    storage = _storage(namespace)
    async with storage.transaction() as txn:
        await txn.put("a", 1)
        await storage.put("b", 2)  # storage's own calls join the open transaction
        storage.sql.exec("INSERT INTO log (n) VALUES (1)")
        assert await txn.get("b") == 2
        assert _rows(storage) == [1]
        assert _committed(tmp_path, namespace) == ([], []), "nothing is visible outside before the commit"
    assert await storage.get(["a", "b"]) == {"a": 1, "b": 2}
    assert _rows(storage) == [1]
    assert _committed(tmp_path, namespace) == (["a", "b"], [1])


@pytest.mark.parametrize("how", ["exception", "rollback", "failing statement"])
async def test_a_transaction_that_fails_leaves_both_apis_as_they_were(
    namespace: DurableObjectNamespace, how: str
) -> None:
    storage = _storage(namespace)
    await storage.put("a", 0)
    storage.sql.exec("INSERT INTO log (n) VALUES (0)")

    async def body() -> None:
        async with storage.transaction() as txn:
            await txn.put("a", 1)
            await txn.delete("a")
            await storage.put({"b": 2, "c": 3})
            storage.sql.exec("INSERT INTO log (n) VALUES (1)")
            storage.sql.exec("CREATE TABLE extra (x)")
            if how == "exception":
                raise Boom
            if how == "rollback":
                txn.rollback()
                return
            storage.sql.exec("INSERT INTO log (n) VALUES (NULL)")  # NOT NULL: PreconditionFailed

    if how == "exception":
        with pytest.raises(Boom):
            await body()
    elif how == "rollback":
        await body()
    else:
        with pytest.raises(PreconditionFailed, match="NOT NULL"):
            await body()
    assert await storage.list() == {"a": 0}
    assert _rows(storage) == [0]
    assert storage.sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name = 'extra'").one()["n"] == 0


async def test_transaction_sync_inside_a_transaction_is_part_of_it(namespace: DurableObjectNamespace) -> None:
    storage = _storage(namespace)

    def insert(n: int) -> int:
        storage.sql.exec("INSERT INTO log (n) VALUES (?)", n)
        return n

    def fails() -> None:
        insert(2)
        raise Boom

    async def outer() -> None:
        async with storage.transaction() as txn:
            await txn.put("k", "v")
            assert storage.transaction_sync(lambda: insert(1)) == 1
            with pytest.raises(Boom):
                storage.transaction_sync(fails)  # rolls back its own savepoint only
            assert _rows(storage) == [1]
            raise Boom

    with pytest.raises(Boom):
        await outer()
    assert _rows(storage) == []
    assert await storage.get("k") is None

    async def inner() -> None:
        async with storage.transaction() as txn:
            await txn.put("inner", 1)
            insert(5)
            raise Boom

    async with storage.transaction() as txn:  # nested transactions are savepoints
        await txn.put("outer", 1)
        with pytest.raises(Boom):
            await inner()
        insert(6)
    assert await storage.list() == {"outer": 1}
    assert _rows(storage) == [6]


async def test_transaction_sync_keeps_its_sql_writes_all_or_nothing(
    namespace: DurableObjectNamespace,
) -> None:
    """``fn`` is synchronous: the key-value methods (async) cannot run in it — SQL can."""
    storage = _storage(namespace)

    def both() -> None:
        storage.sql.exec("INSERT INTO log (n) VALUES (1)")
        storage.sql.exec("INSERT INTO log (n) VALUES (NULL)")

    with pytest.raises(Exception, match="NOT NULL"):
        storage.transaction_sync(both)
    assert _rows(storage) == []


# --- the hidden key-value table -----------------------------------------------------------------------


async def test_key_value_entries_live_in_a_table_sql_cannot_touch(namespace: DurableObjectNamespace) -> None:
    storage = _storage(namespace)
    tables = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    assert [r["name"] for r in storage.sql.exec(tables)] == ["log"], (
        "SQL-only objects show no key-value table"
    )
    await storage.put("k", b"v")
    assert [r["name"] for r in storage.sql.exec(tables)] == [KV_TABLE, "log"]
    for query in (f"SELECT * FROM {KV_TABLE}", f"DELETE FROM {KV_TABLE}", f"DROP TABLE {KV_TABLE}"):
        with pytest.raises(InvalidInput, match="not authorized"):
            storage.sql.exec(query)
    assert await storage.get("k") == b"v"
    assert storage.sql.database_size > 0
    await storage.delete_all()  # every table and key at once
    assert await storage.list() == {}
    assert [r["name"] for r in storage.sql.exec(tables)] == []


async def test_an_entry_of_the_largest_size_fits_its_row(namespace: DurableObjectNamespace) -> None:
    storage = _storage(namespace)
    value = b"x" * MAX_ENTRY_BYTES
    size = len(value)
    while 1 + encoded_size(encode(value[:size])) > MAX_ENTRY_BYTES:
        size -= 1
    await storage.put("k", value[:size])  # exactly at the limit: the row's header must still fit
    assert await storage.get("k") == value[:size]
    with pytest.raises(LimitExceeded):
        await storage.put("k", value[: size + 1])


# --- alarms inside a transaction ----------------------------------------------------------------------


async def test_an_alarm_set_inside_a_transaction_commits_with_it(namespace: DurableObjectNamespace) -> None:
    storage = _storage(namespace)
    runtime = namespace.runtime
    assert runtime is not None

    async def rolled_back() -> None:
        async with storage.transaction():
            await storage.set_alarm(ALARM_MS)
            assert await storage.get_alarm() == ALARM_MS  # the transaction sees its own alarm
            assert runtime.store.next_alarm() is None  # the scheduler does not, yet
            raise Boom

    with pytest.raises(Boom):
        await rolled_back()
    assert await storage.get_alarm() is None
    assert runtime.store.next_alarm() is None

    async with storage.transaction() as txn:
        await txn.put("k", 1)
        await storage.set_alarm(ALARM_MS)
    assert await storage.get_alarm() == ALARM_MS
    assert runtime.store.next_alarm() == ALARM_MS

    async with storage.transaction():
        await storage.delete_alarm()
        assert await storage.get_alarm() is None
        assert runtime.store.next_alarm() == ALARM_MS
    assert await storage.get_alarm() is None
    assert runtime.store.next_alarm() is None
    assert _intents(runtime.store) == []


async def test_delete_all_is_refused_inside_a_transaction(namespace: DurableObjectNamespace) -> None:
    storage = _storage(namespace)
    await storage.put("k", 1)

    async def delete_all_inside() -> None:
        async with storage.transaction():
            await storage.delete_all()

    with pytest.raises(InvalidInput, match="inside a transaction"):
        await delete_all_inside()
    assert await storage.get("k") == 1


def _intents(store: Any) -> list[Any]:
    return list(store._db.execute("SELECT object_id FROM alarm_intents").fetchall())


# --- SIGKILL ------------------------------------------------------------------------------------------


def _run(directory: Path, mode: str, *, fault: str | None = None, expect: str | None = None) -> None:
    """Run the writer process; kill it with SIGKILL once it prints ``expect`` (or let a fault kill it)."""
    env = dict(os.environ)
    env.pop("CAP_EMBEDDED_FAULT", None)
    if fault is not None:
        env["CAP_EMBEDDED_FAULT"] = fault
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.cap_cloudflare_do.txn_crash_proc", str(directory), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip().decode()
        if expect is not None:
            assert line == expect, proc.stderr.read().decode()[-2000:] if proc.stderr else line
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


async def _state(directory: Path) -> tuple[dict[str, Any], list[int], int | None, int | None, list[Any]]:
    async with DurableObjectNamespace.local(directory, Ledger, settings=QUIET) as ns:
        storage = _storage(ns)
        assert ns.runtime is not None
        store = ns.runtime.store
        return (
            await storage.list(),
            _rows(storage),
            await storage.get_alarm(),
            store.next_alarm(),
            _intents(store),
        )


@pytest.mark.parametrize(
    ("mode", "fault", "expect", "landed"),
    [
        ("hang", None, "inside", False),  # killed mid-transaction: nothing of it
        ("commit", "do.commit.after", None, True),  # killed after the commit, before the alarm index
        ("commit", None, "committed", True),  # killed after everything
    ],
)
async def test_a_kill_leaves_the_whole_transaction_or_none_of_it(
    tmp_path: Path, mode: str, fault: str | None, expect: str | None, landed: bool
) -> None:
    _run(tmp_path, mode, fault=fault, expect=expect)
    entries, rows, alarm, next_alarm, intents = await _state(tmp_path)
    if landed:
        assert (entries, rows, alarm, next_alarm) == ({"a": 1, "b": 2}, [1], ALARM_MS, ALARM_MS)
    else:
        assert (entries, rows, alarm, next_alarm) == ({}, [], None, None)
    assert intents == [], "every alarm intent is settled when the store opens"


# --- the earlier layout -------------------------------------------------------------------------------

_OLD_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE entries (
    object_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (object_id, key)
) WITHOUT ROWID;
CREATE TABLE alarms (object_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, retries INTEGER NOT NULL DEFAULT 0)
    WITHOUT ROWID;
CREATE INDEX alarms_by_time ON alarms (at_ms);
"""


def _old_store(directory: Path) -> dict[str, dict[str, Any]]:
    """A namespace directory as the earlier layout wrote it: every object's entries in one table."""
    directory.mkdir(exist_ok=True)
    salt = os.urandom(32)
    wanted: dict[str, dict[str, Any]] = {
        "ledger": {"a": 1, "b": {"nested": [1, 2]}, "ü": b"\x00\xff" * 1000},
        "other": {f"k{i:03}": i for i in range(300)},
    }
    with sqlite3.connect(directory / DB_FILE) as db:
        db.executescript(_OLD_SCHEMA)
        db.execute("INSERT INTO meta (name, value) VALUES ('salt', ?)", (salt,))
        for name, entries in wanted.items():
            oid = local_id_from_name(salt, name)
            db.executemany(
                "INSERT INTO entries (object_id, key, value) VALUES (?, ?, ?)",
                [(oid, k.encode(), encode(v)) for k, v in entries.items()],
            )
        db.execute(
            "INSERT INTO alarms (object_id, at_ms) VALUES (?, ?)",
            (local_id_from_name(salt, "ledger"), ALARM_MS),
        )
    db.close()
    return wanted


async def _read_migrated(directory: Path, wanted: dict[str, dict[str, Any]]) -> None:
    async with DurableObjectNamespace.local(directory, Ledger, settings=QUIET) as ns:
        for name, entries in wanted.items():
            assert await _storage(ns, name).list() == entries
        assert await _storage(ns).get_alarm() == ALARM_MS
        assert ns.runtime is not None
        tables = ns.runtime.store._db.execute(
            "SELECT name FROM sqlite_master WHERE name = 'entries'"
        ).fetchall()
        assert tables == [], "the emptied table is dropped"


async def test_a_store_of_the_earlier_layout_is_migrated_when_it_opens(tmp_path: Path) -> None:
    wanted = _old_store(tmp_path)
    await _read_migrated(tmp_path, wanted)
    await _read_migrated(tmp_path, wanted)  # and opens again as the new layout


@pytest.mark.parametrize("fault", ["do.migrate.copied@1", "do.migrate.copied@2"])
async def test_a_migration_killed_half_way_finishes_at_the_next_open(tmp_path: Path, fault: str) -> None:
    wanted = _old_store(tmp_path)
    _run(tmp_path, "open", fault=fault)
    await _read_migrated(tmp_path, wanted)


# --- the open-file cap --------------------------------------------------------------------------------


async def test_objects_past_the_open_file_cap_keep_their_entries_and_open_transactions(
    namespace: DurableObjectNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key-value entries live in each object's database now, so the least-recently-used cap closes
    and reopens them; a database holding an open transaction is never the one closed."""
    monkeypatch.setattr(local_sql, "MAX_OPEN", 2)
    assert namespace.runtime is not None
    sql = namespace.runtime.store.sql
    held = _storage(namespace, "held")
    async with held.transaction() as txn:
        await txn.put("k", "pending")
        for i in range(6):
            await _storage(namespace, f"o{i}").put("k", i)
        assert sql.peek(namespace.id_from_name("held").hex or "") is not None, "kept open: in a transaction"
        assert await txn.get("k") == "pending"
    for i in range(6):
        assert await _storage(namespace, f"o{i}").get("k") == i
    assert await held.get("k") == "pending"
    assert len(sql._open) <= 3


async def test_a_namespace_closed_with_a_transaction_open_keeps_none_of_it(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path, Ledger, settings=QUIET) as ns:
        storage = _storage(ns)
        await storage.put("kept", 1)

        async def closed_midway() -> None:
            async with storage.transaction() as txn:
                await txn.put("lost", 1)
                storage.sql.exec("INSERT INTO log (n) VALUES (7)")
                await storage.set_alarm(ALARM_MS)
                await ns.aclose()  # SQLite rolls the open transaction back

        with pytest.raises(Closed, match="nothing of it was committed"):
            await closed_midway()
    assert await _state(tmp_path) == ({"kept": 1}, [], None, None, [])
