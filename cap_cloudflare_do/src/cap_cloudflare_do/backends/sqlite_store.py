"""The local runtime's storage: one SQLite database per object, as on Cloudflare, plus a namespace index.

Each object has one database, ``<path>/sql/<object id>.sqlite3`` (WAL; in memory for an in-memory
namespace), holding its SQL tables *and* its key-value entries — in the hidden table ``_cf_KV``, as
a SQLite-backed object keeps them beside the user's tables (the ``_cf_`` prefix is refused to SQL, so
queries cannot read or touch it). One database means one transaction covers both APIs: a
``storage.transaction()`` block or ``transaction_sync(fn)`` commits the key-value writes and the SQL
writes made inside it together, or neither, also across a crash. The connections, the runtime's
limits and the least-recently-used cap on open files are :mod:`.local_sql`'s.

The namespace database ``<path>/objects.sqlite3`` keeps what must be namespace-wide: the id salt and
the **alarm index** (one row per object with an alarm), so the scheduler finds the next alarm of the
whole namespace with one indexed query, also right after a restart. An alarm set or deleted while the
object's transaction is open must commit with that transaction, yet lives in another database; so
it is written as an *intent*: a token in the namespace's ``alarm_intents`` (committed first), and the
alarm with the same token in the object's ``_cf_ALARM`` row, inside the transaction. After the
object commits, the index takes the alarm and the intent goes, in one namespace transaction; a
rollback drops the intent. When a store opens, each intent left by a crash is settled from the
object's database: its token there means the transaction committed (apply the alarm), anything else
that it did not (drop the intent). ``delete_all()`` is refused inside a transaction.

Keys are stored as UTF-8 BLOBs: SQLite compares BLOBs with ``memcmp``, which is exactly Workers'
ordering (by UTF-8 encodings). Values are :func:`cap_cloudflare_do.codec.encode`'d blobs. Every
multi-row write runs in one transaction (a savepoint inside an open one), so batches are atomic.
With WAL and ``durability="process"`` (``synchronous=NORMAL``, the default) a commit is an append to
the log, not an fsync; ``durability="full"`` (``synchronous=FULL``) fsyncs the log at each commit, so
an acknowledged write also survives power loss — the embedded engine's flag
(:mod:`cap_opendal_core.embedded.durability`), the same meaning everywhere.

**Earlier layout.** Stores written by earlier versions kept every object's entries in an ``entries``
table of ``objects.sqlite3``. Opening one migrates it: object by object, the rows are copied into the
object's ``_cf_KV`` in one transaction, then removed from ``entries`` in another (a crash between them
repeats the copy, which writes the same rows again), and the emptied table is dropped.

A file lock (POSIX ``flock``) makes a second runtime on the same path fail at start, instead of two
processes each hosting "the one" instance of an object. A store dropped without :meth:`close` (its
namespace never ``aclose()``d) releases the lock and the database when it is collected, with a
``ResourceWarning`` as an unclosed file gives — otherwise the path could not be opened again in this
process. The directory is checked by :func:`cap_opendal_core.localfs.local_root`: none of the files
here may be a symbolic link (SQLite would follow it out of the directory), and the lock file is
opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.embedded import faults
from cap_opendal_core.embedded.durability import Durability, check_durability
from cap_opendal_core.embedded.store import prefix_where
from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.localfs import local_root

from .. import codec
from ..limits import MAX_BATCH_KEYS, MAX_SQL_PARAMS, MAX_SQL_VALUE_BYTES
from .base import delete_all_in_transaction
from .local_sql import MARK, SqlDatabases

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..validation import Encoded, ListOptions
    from .base import KeyList
    from .local_sql import _Db

__all__ = ["DB_FILE", "KV_TABLE", "SQL_FOLDER", "AlarmList", "SqliteStore"]

AlarmList = list[tuple[str, int]]
"""``(object_id, epoch ms)`` pairs (an alias: ``list`` is also a method name here)."""

DB_FILE: Final = "objects.sqlite3"
_LOCK_FILE: Final = "objects.lock"

KV_TABLE: Final = "_cf_KV"
"""The hidden table of an object's key-value entries, in the object's own database."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    object_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    retries INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_by_time ON alarms (at_ms);
CREATE TABLE IF NOT EXISTS alarm_intents (object_id TEXT PRIMARY KEY, token BLOB NOT NULL) WITHOUT ROWID;
"""

SQL_FOLDER: Final = "sql"
"""Where each object's database lives: ``sql/<object id>.sqlite3`` (:mod:`.local_sql`)."""

MEMBERS: Final = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal", _LOCK_FILE, SQL_FOLDER)
"""The files a namespace keeps in its directory: none may be a symbolic link."""

_ROW_LIMIT: Final = MAX_SQL_VALUE_BYTES + 4096
"""SQLite's length limit while a key-value row is written: an entry may be 2,000,000 bytes of key and
value together, and the row adds its header to that (the SQL API keeps the runtime's 2 MB)."""

_KEY_PARAMS: Final = MAX_BATCH_KEYS + 8
"""Parameters one of the runtime's key-value statements may bind (a batch of keys, and list bounds)."""

# The object database's own statements (marked: a query of the same text never reuses them).
_KV_EXISTS: Final = f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{KV_TABLE}'{MARK}"
_KV_CREATE: Final = (
    f"CREATE TABLE IF NOT EXISTS {KV_TABLE} (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID{MARK}"
)
_KV_GET: Final = f"SELECT value FROM {KV_TABLE} WHERE key = ?{MARK}"
_KV_UPSERT: Final = (
    f"INSERT INTO {KV_TABLE} (key, value) VALUES (?, ?) "
    f"ON CONFLICT (key) DO UPDATE SET value = excluded.value{MARK}"
)
_KV_DELETE: Final = f"DELETE FROM {KV_TABLE} WHERE key = ?{MARK}"
_ALARM_TABLE: Final = "_cf_ALARM"
_ALARM_CREATE: Final = (
    f"CREATE TABLE IF NOT EXISTS {_ALARM_TABLE} "
    f"(id INTEGER PRIMARY KEY CHECK (id = 1), token BLOB NOT NULL, at_ms INTEGER){MARK}"
)
_ALARM_WRITE: Final = f"INSERT OR REPLACE INTO {_ALARM_TABLE} (id, token, at_ms) VALUES (1, ?, ?){MARK}"
_ALARM_EXISTS: Final = f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{_ALARM_TABLE}'{MARK}"
_ALARM_READ: Final = f"SELECT token, at_ms FROM {_ALARM_TABLE} WHERE id = 1{MARK}"


def check_directory(path: str | os.PathLike[str], *, create: bool = False) -> str:
    """The namespace directory ``path``, checked (``Misconfigured`` naming what is wrong) and resolved."""
    return local_root(path, capability="do", operation="local", members=MEMBERS, create=create)


def _collected_unclosed(
    db: sqlite3.Connection, objects: SqlDatabases, lock_fd: int | None, where: str
) -> None:
    """Runs when a store is collected without :meth:`SqliteStore.close`: release what it held."""
    warnings.warn(
        f"unclosed Durable Objects namespace storage {where!r}: call aclose() (or use async with)",
        ResourceWarning,
        stacklevel=2,
    )
    objects.close()
    db.close()
    if lock_fd is not None:
        os.close(lock_fd)


# -- one object's key-value entries ------------------------------------------------------------------------


def _kv_ready(db: _Db) -> bool:
    """Whether the object has its key-value table (reads of an object without one find nothing)."""
    ready = db.kv
    if ready is None:
        ready = db.kv = db.internal_execute(_KV_EXISTS).fetchone() is not None
    return ready


def _kv_create(db: _Db) -> None:
    if db.kv is not True:
        db.internal_execute(_KV_CREATE)
        db.kv = True


def kv_get(db: _Db, key: str) -> Any:
    if not _kv_ready(db):
        return None
    was, db.internal = db.internal, True
    try:
        row = db.conn.execute(_KV_GET, (key.encode("utf-8"),)).fetchone()
    finally:
        db.internal = was
    return None if row is None else codec.decode(row[0])


def _select(db: _Db, sql: str, params: Iterable[Any]) -> list[Any]:
    """A read of several keys: a batch (128) binds more parameters than the SQL API may (100)."""
    was, db.internal = db.internal, True
    conn = db.conn
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, _KEY_PARAMS)
    try:
        return conn.execute(sql + MARK, tuple(params)).fetchall()
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, MAX_SQL_PARAMS)
        db.internal = was


def kv_get_many(db: _Db, keys: list[str]) -> dict[str, Any]:
    if not keys or not _kv_ready(db):
        return {}
    wanted = sorted({k.encode("utf-8") for k in keys})
    marks = ",".join("?" * len(wanted))
    rows = _select(db, f"SELECT key, value FROM {KV_TABLE} WHERE key IN ({marks}) ORDER BY key", wanted)
    return {bytes(k).decode("utf-8"): codec.decode(v) for k, v in rows}


def kv_list(db: _Db, options: ListOptions) -> dict[str, Any]:
    if not _kv_ready(db):
        return {}
    where: list[str] = []
    params: list[Any] = []
    if options.prefix:
        bounds, values = prefix_where(options.prefix.encode("utf-8"), text=False)
        where += bounds
        params += values
    if options.start is not None:
        where.append("key >= ?")
        params.append(options.start.encode("utf-8"))
    if options.start_after is not None:
        where.append("key > ?")
        params.append(options.start_after.encode("utf-8"))
    if options.end is not None:
        where.append("key < ?")
        params.append(options.end.encode("utf-8"))
    order = "DESC" if options.reverse else "ASC"
    sql = f"SELECT key, value FROM {KV_TABLE}"
    if where:
        sql += f" WHERE {' AND '.join(where)}"
    sql += f" ORDER BY key {order}"
    if options.limit is not None:
        sql += " LIMIT ?"
        params.append(options.limit)
    rows = _select(db, sql, params)
    return {bytes(k).decode("utf-8"): codec.decode(v) for k, v in rows}


def kv_write(db: _Db, puts: Mapping[str, Encoded]) -> None:
    """Write ``puts``: one statement, or one transaction (a savepoint inside an open one) for
    several, so a batch is all-or-nothing."""
    rows = [(k.encode("utf-8"), e.blob) for k, e in puts.items()]
    if not rows:
        return
    if not _kv_ready(db):
        _kv_create(db)
    conn = db.conn
    single = len(rows) == 1
    nested = False if single else db.begin()
    was, db.internal = db.internal, True
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _ROW_LIMIT)
    try:
        if single:
            conn.execute(_KV_UPSERT, rows[0])
        else:
            conn.executemany(_KV_UPSERT, rows)
    except BaseException:
        if not single:
            db.finish(nested, commit=False)
        raise
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_SQL_VALUE_BYTES)
        db.internal = was
    if not single:
        db.finish(nested, commit=True)


def kv_delete(db: _Db, keys: KeyList) -> int:
    """Delete ``keys``; how many of them existed (counted in the same transaction)."""
    wanted = sorted({k.encode("utf-8") for k in keys})
    if not wanted or not _kv_ready(db):
        return 0
    nested = db.begin()
    was, db.internal = db.internal, True
    try:
        marks = ",".join("?" * len(wanted))
        found = int(_select(db, f"SELECT count(*) FROM {KV_TABLE} WHERE key IN ({marks})", wanted)[0][0])
        if found:
            db.conn.executemany(_KV_DELETE, [(k,) for k in wanted])
    except BaseException:
        db.internal = was
        db.finish(nested, commit=False)
        raise
    db.internal = was
    db.finish(nested, commit=True)
    return found


class SqliteStore:
    """A namespace's storage: each object's database (:attr:`sql`) and the namespace index. ``path=None``:
    in memory, for tests."""

    def __init__(self, path: str | os.PathLike[str] | None, *, durability: Durability = "process") -> None:
        self.durability: Durability = check_durability(durability, capability="do")
        self.path = None if path is None else Path(check_directory(path, create=True))
        self._lock_fd: int | None = None
        if self.path is None:
            target = ":memory:"
        else:
            self._take_lock()
            target = str(self.path / DB_FILE)
        try:
            self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        except BaseException:
            self._release_lock()
            raise
        db = self._db
        self.sql = SqlDatabases(None if self.path is None else self.path / SQL_FOLDER, self.durability)
        """Each object's database (opened on first use): its SQL tables and its key-value entries."""
        self._finalizer = weakref.finalize(
            self, _collected_unclosed, db, self.sql, self._lock_fd, str(self.path or ":memory:")
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self.durability == 'full' else 'NORMAL'}")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()
        if row is None:
            salt = os.urandom(32)
            db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('salt', ?)", (salt,))
            row = db.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()
        self.salt: bytes = bytes(row[0])
        self._migrate()
        for object_id, token in db.execute("SELECT object_id, token FROM alarm_intents").fetchall():
            self._settle(str(object_id), bytes(token))

    def _take_lock(self) -> None:
        assert self.path is not None
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process guard
            return
        nofollow = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path / _LOCK_FILE, os.O_RDWR | os.O_CREAT | nofollow, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise Misconfigured(
                f"another runtime already hosts the Durable Objects in {str(self.path)!r}; "
                "one process at a time may host a namespace",
                capability="do",
                operation="local",
            ) from exc
        self._lock_fd = fd

    def close(self) -> None:
        self._finalizer.detach()
        self.sql.close()
        self._db.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _atomic(self) -> _Atomic:
        return _Atomic(self._db)

    # -- the earlier layout ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Move the key-value rows of the earlier layout (one ``entries`` table for every object) into
        each object's database; see the module docstring."""
        db = self._db
        if (
            db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").fetchone()
            is None
        ):
            return
        objects = [str(r[0]) for r in db.execute("SELECT DISTINCT object_id FROM entries").fetchall()]
        for object_id in objects:
            target = self.sql.get(object_id)
            rows = db.execute("SELECT key, value FROM entries WHERE object_id = ?", (object_id,))
            nested = target.begin()
            try:
                _kv_create(target)
                target.internal = True
                target.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _ROW_LIMIT)
                try:
                    while chunk := rows.fetchmany(256):
                        target.conn.executemany(_KV_UPSERT, chunk)
                finally:
                    target.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_SQL_VALUE_BYTES)
                    target.internal = False
            except BaseException:
                target.finish(nested, commit=False)
                raise
            target.finish(nested, commit=True)
            faults.reached("do.migrate.copied")
            db.execute("DELETE FROM entries WHERE object_id = ?", (object_id,))
        db.execute("DROP TABLE entries")

    # -- key-value entries, by object id (tests and tooling; the runtime keeps the object's database) ----

    def get(self, object_id: str, key: str) -> Any:
        return kv_get(self.sql.get(object_id), key)

    def get_many(self, object_id: str, keys: list[str]) -> dict[str, Any]:
        return kv_get_many(self.sql.get(object_id), keys)

    def list(self, object_id: str, options: ListOptions) -> dict[str, Any]:
        return kv_list(self.sql.get(object_id), options)

    def put_many(self, object_id: str, entries: Mapping[str, Encoded]) -> None:
        kv_write(self.sql.get(object_id), entries)

    def delete_many(self, object_id: str, keys: KeyList) -> int:
        return kv_delete(self.sql.get(object_id), keys)

    def delete_all(self, object_id: str) -> None:
        """The alarm, then the object's database — every table and key at once, as ``deleteAll()`` on a
        SQLite-backed object (which drops the alarm too from compatibility date 2026-02-24)."""
        open_db = self.sql.peek(object_id)
        if open_db is not None and open_db.conn.in_transaction:
            raise delete_all_in_transaction()
        with self._atomic():
            self._db.execute("DELETE FROM alarms WHERE object_id = ?", (object_id,))
            self._db.execute("DELETE FROM alarm_intents WHERE object_id = ?", (object_id,))
        self.sql.drop(object_id)

    # -- alarms ---------------------------------------------------------------------------------------

    def _in_transaction(self, object_id: str) -> _Db | None:
        db = self.sql.peek(object_id)
        return db if db is not None and db.conn.in_transaction else None

    def get_alarm(self, object_id: str) -> int | None:
        db = self._in_transaction(object_id)
        if db is not None and db.intent is not None:
            pending = _pending_alarm(db, db.intent)
            if pending is not _NONE:
                return pending  # type: ignore[no-any-return]
        row = self._db.execute("SELECT at_ms FROM alarms WHERE object_id = ?", (object_id,)).fetchone()
        return None if row is None else int(row[0])

    def set_alarm(self, object_id: str, at_ms: int | None, retries: int = 0) -> bool:
        """Set (``at_ms``) or delete (None) the object's alarm. Inside the object's open transaction
        it is written as an intent and reaches the index when the transaction commits: returns
        False then (nothing for the scheduler to see yet), True when the index changed."""
        db = self._in_transaction(object_id)
        if db is not None:
            if db.intent is None:
                token = os.urandom(16)
                self._db.execute(
                    "INSERT OR REPLACE INTO alarm_intents (object_id, token) VALUES (?, ?)",
                    (object_id, token),
                )
                db.intent = token
            db.internal_execute(_ALARM_CREATE)
            db.internal_execute(_ALARM_WRITE, (db.intent, at_ms))
            return False
        if at_ms is None:
            self._db.execute("DELETE FROM alarms WHERE object_id = ?", (object_id,))
        else:
            self._db.execute(
                "INSERT INTO alarms (object_id, at_ms, retries) VALUES (?, ?, ?) "
                "ON CONFLICT (object_id) DO UPDATE SET at_ms = excluded.at_ms, retries = excluded.retries",
                (object_id, at_ms, retries),
            )
        return True

    def delete_alarm(self, object_id: str) -> bool:
        return self.set_alarm(object_id, None)

    def transaction_ended(self, object_id: str, db: _Db, *, committed: bool) -> bool:
        """After the object's outermost transaction commits or rolls back: settle its alarm intent.
        True when the alarm index changed."""
        token, db.intent = db.intent, None
        if token is None:
            return False
        if committed:
            faults.reached("do.commit.after")
            return self._settle(object_id, token, db)
        self._db.execute(_DROP_INTENT, (object_id, token))
        return False

    def _settle(self, object_id: str, token: bytes, db: _Db | None = None) -> bool:
        """Apply the alarm of intent ``token`` if the object's database holds it (its transaction
        committed), then drop the intent, in one namespace transaction."""
        if db is None and self.sql.exists(object_id):
            db = self.sql.get(object_id)
        pending = _NONE if db is None else _pending_alarm(db, token)
        with self._atomic():
            if pending is not _NONE:
                self.set_alarm(object_id, pending)
            self._db.execute(
                "DELETE FROM alarm_intents WHERE object_id = ? AND token = ?", (object_id, token)
            )
        return pending is not _NONE

    def take_alarm(self, object_id: str, at_ms: int) -> int | None:
        """Remove the alarm if it is still the one set for ``at_ms``; its retry count, else None."""
        with self._atomic():
            row = self._db.execute(
                "SELECT retries FROM alarms WHERE object_id = ? AND at_ms = ?", (object_id, at_ms)
            ).fetchone()
            if row is None:
                return None
            self._db.execute("DELETE FROM alarms WHERE object_id = ?", (object_id,))
        return int(row[0])

    def next_alarm(self) -> int | None:
        row = self._db.execute("SELECT min(at_ms) FROM alarms").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def due_alarms(self, now_ms: int) -> AlarmList:
        rows = self._db.execute(
            "SELECT object_id, at_ms FROM alarms WHERE at_ms <= ? ORDER BY at_ms", (now_ms,)
        ).fetchall()
        return [(str(oid), int(at)) for oid, at in rows]


_ADD_INTENT: Final = "INSERT OR REPLACE INTO alarm_intents (object_id, token) VALUES (?, ?)"
_DROP_INTENT: Final = "DELETE FROM alarm_intents WHERE object_id = ? AND token = ?"
_NONE: Final[Any] = object()
"""No pending alarm change (distinct from a pending delete, None)."""


def _pending_alarm(db: _Db, token: bytes) -> Any:
    """The alarm change of intent ``token`` in the object's database (epoch ms, or None for a delete),
    or ``_NONE`` when it holds none (its transaction did not commit, or changed no alarm)."""
    if db.internal_execute(_ALARM_EXISTS).fetchone() is None:
        return _NONE
    row = db.internal_execute(_ALARM_READ).fetchone()
    if row is None or bytes(row[0]) != token:
        return _NONE
    return None if row[1] is None else int(row[1])


class _Atomic:
    """``with store._atomic():`` one ``BEGIN IMMEDIATE … COMMIT`` (ROLLBACK on any exception).

    Nested use joins the outer transaction (SQLite has no nested BEGIN)."""

    __slots__ = ("_db", "_outer")

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._outer = False

    def __enter__(self) -> None:
        self._outer = not self._db.in_transaction
        if self._outer:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._outer:
            return
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
