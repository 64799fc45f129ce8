"""The local runtime's per-object databases: one real SQLite database per object, held to the runtime's rules.

Each object's storage lives in its own file, ``<namespace path>/sql/<object id>.sqlite3`` (in memory
for an in-memory namespace), opened on first use — so one object's tables never meet another's. The
file holds the object's SQL tables and, in the hidden ``_cf_KV`` table (:mod:`.sqlite_store`), its
key-value entries, as a SQLite-backed object on Cloudflare keeps them: one transaction
(:meth:`_Db.begin`/:meth:`_Db.finish`) covers both APIs. At most :data:`MAX_OPEN` files stay open; the
least recently used one is closed past that and reopened when needed.

Each connection enforces what the runtime enforces, before or while SQLite works: the documented
limits as SQLite limits (statement length, bound parameters, string/blob/row size, columns, function
arguments, ``LIKE`` pattern length, and a page cap for the 10 GB database size); and an authorizer
that refuses what the runtime refuses — names with the reserved ``_cf_`` prefix, SQL transaction
statements (``BEGIN``/``SAVEPOINT``/…: use ``transaction_sync``), ``ATTACH``/``DETACH``, temporary
tables, and any ``PRAGMA`` outside the reporting ones. Foreign keys are enforced, as on Cloudflare.

Several statements in one ``exec`` run one after another, each committed as it completes, as the
runtime does: a failing later statement leaves the earlier ones' writes in place.

Counters: ``rows_written`` is the number of rows the last statement inserted, updated or deleted
(SQLite's ``changes``); ``rows_read`` the rows it returned. Cloudflare bills rows scanned and index
entries written as well, so the binding can report more for the same statement (see the docs).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, TypeVar

from cap_opendal_core.errors import BackendError, CapabilityError, InvalidInput, Misconfigured

from ..limits import (
    MAX_OBJECT_BYTES,
    MAX_SQL_COLUMNS,
    MAX_SQL_FUNCTION_ARGS,
    MAX_SQL_LIKE_PATTERN_BYTES,
    MAX_SQL_PARAMS,
    MAX_SQL_STATEMENT_BYTES,
    MAX_SQL_VALUE_BYTES,
)
from ..sql import READ_PRAGMAS, RESERVED_PREFIX, SqlCursor, SqlValue, runtime_value, sql_error

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from cap_opendal_core.embedded.durability import Durability

__all__ = ["MARK", "MAX_OPEN", "LocalSql", "SqlDatabases"]

T = TypeVar("T")


def _max_open() -> int:
    """An eighth of the process's file-handle limit (each open database holds up to three: the file,
    its log and its shared index), at least 64 and at most 1024."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # not POSIX
        return 64
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(64, min(1024, soft // 8))


MAX_OPEN: Final = _max_open()
"""Object databases kept open at once. Every object's key-value entries live in its database, so a
request to an object whose database was closed reopens it (and closing folds the log into the file):
the cap is set high enough, from the file-handle limit, that a working set of objects stays open."""

MARK: Final = f"/* cap-internal {os.urandom(8).hex()} */"
"""Appended to the runtime's own statements: a cached statement it prepared (which passed the
authorizer) is never the one a query of the same text reuses."""

_TX_MESSAGE: Final = (
    "To execute a transaction, please use storage.transaction_sync() (or storage.transaction()) instead "
    "of the SQL BEGIN TRANSACTION or SAVEPOINT statements"
)

_NAMED_ACTIONS: Final = frozenset(
    getattr(sqlite3, name)
    for name in (
        "SQLITE_CREATE_INDEX",
        "SQLITE_CREATE_TABLE",
        "SQLITE_CREATE_TRIGGER",
        "SQLITE_CREATE_VIEW",
        "SQLITE_DELETE",
        "SQLITE_DROP_INDEX",
        "SQLITE_DROP_TABLE",
        "SQLITE_DROP_TRIGGER",
        "SQLITE_DROP_VIEW",
        "SQLITE_INSERT",
        "SQLITE_READ",
        "SQLITE_UPDATE",
        "SQLITE_REINDEX",
        "SQLITE_ANALYZE",
        "SQLITE_CREATE_VTABLE",
        "SQLITE_DROP_VTABLE",
        "SQLITE_ALTER_TABLE",
    )
)
_SECOND_IS_NAME: Final = frozenset(
    (
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_ALTER_TABLE,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_DROP_TRIGGER,
    )
)
_TEMP_ACTIONS: Final = frozenset(
    getattr(sqlite3, f"SQLITE_{verb}_TEMP_{what}")
    for verb in ("CREATE", "DROP")
    for what in ("INDEX", "TABLE", "TRIGGER", "VIEW")
)
_ALLOWED_PRAGMAS: Final = READ_PRAGMAS | {"data_version"}
"""The pragmas the authorizer lets a query run: the ones ``sql.READ_PRAGMAS`` lists (one list for the
classifier and the authorizer), and ``data_version``."""


class _Db:
    """One object's connection, and why its authorizer last refused (for the error message)."""

    __slots__ = ("closed", "conn", "depth", "intent", "internal", "kv", "refused")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.closed = False
        self.internal = False  # our own BEGIN/SAVEPOINT/PRAGMA and key-value statements pass the authorizer
        self.refused: str | None = None
        self.kv: bool | None = None
        """Whether the hidden key-value table exists (None: not looked yet). It is created by the first
        key-value write, as the runtime creates its own, so an object that only uses SQL shows none."""
        self.intent: bytes | None = None
        """The token of the alarm change pending in the open transaction (see ``sqlite_store``)."""
        self.depth = 0
        """Transactions open (:meth:`begin` without :meth:`finish`)."""

    def close(self, *, flush: bool = True) -> None:
        """Close the connection; SQLite then folds the log into the database file. ``flush=False``
        (``durability="process"``) skips that fold's fsync: the pages are in the OS cache, which a
        killed process does not lose — only the power-loss promise needs the fsync."""
        self.closed = True
        if not flush and not self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.internal_execute("PRAGMA synchronous=OFF")
        self.conn.close()

    def internal_execute(self, statement: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """Run one of the runtime's own statements (past the authorizer that refuses ``_cf_`` names).
        Callers read a cursor's rows at once: a statement re-prepared later would meet the authorizer."""
        was, self.internal = self.internal, True
        try:
            return self.conn.execute(statement + MARK, params)
        finally:
            self.internal = was

    def check_open(self) -> None:
        """Refuse to go on once SQLite ended an open transaction by itself (a full disk, an I/O
        error): what follows would commit statement by statement, outside it."""
        if self.depth and not self.conn.in_transaction:
            raise BackendError(
                "the object's transaction was rolled back by SQLite after an earlier error; nothing of it "
                "was committed. Let the transaction end (raise) and run it again",
                retryable=False,
            )

    def begin(self) -> bool:
        """Open a transaction (a savepoint inside one already open); True when nested."""
        self.check_open()
        nested = self.conn.in_transaction
        self.internal_execute("SAVEPOINT cf_txn" if nested else "BEGIN IMMEDIATE")
        self.depth += 1
        return nested

    def finish(self, nested: bool, *, commit: bool) -> None:
        """Commit (release) or roll back what :meth:`begin` opened. A rollback forgets whether the
        key-value table exists: the transaction may have been the one that created it."""
        self.depth -= 1
        if commit:
            if not self.conn.in_transaction:
                raise BackendError(
                    "the object's transaction was rolled back by SQLite after an error inside it; nothing "
                    "of it was committed",
                    retryable=False,
                )
            try:
                self.internal_execute("RELEASE cf_txn" if nested else "COMMIT")
            except BaseException:
                if not nested and self.conn.in_transaction:
                    self.internal_execute("ROLLBACK")
                self.kv = None
                raise
            return
        self.kv = None
        if not self.conn.in_transaction:  # SQLite ended it already (a full disk, an I/O error)
            return
        if nested:
            self.internal_execute("ROLLBACK TO cf_txn")
            self.internal_execute("RELEASE cf_txn")
        else:
            self.internal_execute("ROLLBACK")

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        if self.internal:
            return sqlite3.SQLITE_OK
        if action in _NAMED_ACTIONS:
            if (arg1 is not None and arg1.startswith(RESERVED_PREFIX)) or (
                action in _SECOND_IS_NAME and arg2 is not None and arg2.startswith(RESERVED_PREFIX)
            ):
                self.refused = f"names starting with {RESERVED_PREFIX!r} are reserved by the runtime"
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            if (arg1 or "").lower() in _ALLOWED_PRAGMAS:
                return sqlite3.SQLITE_OK
            self.refused = f"PRAGMA {arg1} is not available to Durable Objects"
            return sqlite3.SQLITE_DENY
        if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            self.refused = _TX_MESSAGE
            return sqlite3.SQLITE_DENY
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH) or action in _TEMP_ACTIONS:
            self.refused = "ATTACH, DETACH and temporary tables are not available to Durable Objects"
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


def _open(target: str, durability: Durability) -> _Db:
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, cached_statements=256)
    db = _Db(conn)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys=ON")
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count={MAX_OBJECT_BYTES // page_size}")
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_SQL_VALUE_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_STATEMENT_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, MAX_SQL_PARAMS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_SQL_COLUMNS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_FUNCTION_ARG, MAX_SQL_FUNCTION_ARGS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_SQL_LIKE_PATTERN_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.set_authorizer(db.authorize)
    except BaseException:
        conn.close()
        raise
    return db


class SqlDatabases:
    """The per-object databases of one namespace (``folder=None``: each in memory)."""

    def __init__(self, folder: Path | None, durability: Durability) -> None:
        self.folder = folder
        self.durability: Durability = durability
        self._open: OrderedDict[str, _Db] = OrderedDict()
        self._memory: dict[str, _Db] = {}  # in-memory databases are never closed early: they'd be lost

    def _file(self, object_id: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{object_id}.sqlite3"

    def get(self, object_id: str) -> _Db:
        if self.folder is None:
            db = self._memory.get(object_id)
            if db is None:
                db = self._memory[object_id] = _open(":memory:", self.durability)
            return db
        db = self._open.get(object_id)
        if db is not None:
            self._open.move_to_end(object_id)
            return db
        if not self.folder.exists():
            self.folder.mkdir(mode=0o700)
        if self.folder.is_symlink() or self._file(object_id).is_symlink():
            raise Misconfigured(
                f"{str(self.folder)!r} or a database in it is a symbolic link; the local runtime refuses it",
                capability="do",
                operation="storage.sql",
            )
        db = self._open[object_id] = _open(str(self._file(object_id)), self.durability)
        if len(self._open) > MAX_OPEN:
            self._evict(db)
        return db

    def _evict(self, keep: _Db) -> None:
        """Close the least recently used databases past :data:`MAX_OPEN`, passing over any that an
        open transaction holds (closing would roll it back) — they go once it ends."""
        for object_id, old in list(self._open.items()):  # oldest first
            if len(self._open) <= MAX_OPEN:
                return
            if old is keep or old.conn.in_transaction or old.depth:
                continue
            del self._open[object_id]
            old.close(flush=self.durability == "full")

    def peek(self, object_id: str) -> _Db | None:
        """The object's database if it is open now (never opens one)."""
        return self._memory.get(object_id) if self.folder is None else self._open.get(object_id)

    def exists(self, object_id: str) -> bool:
        """Whether the object has a database (open, or a file on disk)."""
        if self.peek(object_id) is not None:
            return True
        return self.folder is not None and self._file(object_id).exists()

    def drop(self, object_id: str) -> None:
        """Delete the object's database: its tables and key-value entries (``delete_all``).

        The log is folded into the database file and closed first, then the files go log first: a
        crash part-way leaves the object whole or gone, never a stale log beside a new database
        (SQLite would replay it into that database)."""
        db = self._memory.pop(object_id, None) or self._open.pop(object_id, None)
        if db is not None:
            if self.folder is not None and not db.conn.in_transaction:
                db.internal_execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.close()
        if self.folder is not None:
            for suffix in ("-wal", "-journal", "-shm", ""):
                path = self.folder / f"{object_id}.sqlite3{suffix}"
                if path.exists() and not path.is_symlink():
                    os.unlink(path)

    def close(self) -> None:
        for db in (*self._open.values(), *self._memory.values()):
            db.close(flush=self.durability == "full")
        self._open.clear()
        self._memory.clear()


class LocalSql:
    """One object's SQL database in the local runtime."""

    __slots__ = ("_cached", "_databases", "_object_id")
    kind = "local"

    def __init__(self, databases: Callable[[], SqlDatabases], object_id: str) -> None:
        self._databases = databases
        self._object_id = object_id
        self._cached: _Db | None = None

    def _db(self) -> _Db:
        db = self._cached
        if db is None or db.closed:  # closed: evicted from the open set, dropped, or the namespace closed
            db = self._cached = self._databases().get(self._object_id)
        elif db.depth:
            db.check_open()
        return db

    def exec(self, query: str, statements: tuple[str, ...], bindings: tuple[SqlValue, ...]) -> SqlCursor:
        db = self._db()
        conn = db.conn
        try:
            if len(statements) > 1:
                for earlier in statements[:-1]:
                    self._check_statement(earlier, query)
                    conn.execute(earlier)
            last = statements[-1]
            if last[0] in "Vv":
                self._check_statement(last, query)
            before = conn.total_changes
            cursor = conn.execute(last, bindings)
            rows = cursor.fetchall()
            description = cursor.description
            written = conn.total_changes - before
        except sqlite3.Error as exc:
            raise self._error(db, exc, statements[-1] if len(statements) == 1 else query) from exc
        names = [d[0] for d in description] if description else []
        out = [[v if type(v) is str or v is None else runtime_value(v) for v in row] for row in rows]
        return SqlCursor(names, out, len(out), written)

    @staticmethod
    def _check_statement(statement: str, query: str) -> None:
        if statement[:6].upper() == "VACUUM":
            raise InvalidInput(f"cannot VACUUM from within a transaction (in {query!r})", field="query")

    @staticmethod
    def _error(db: _Db, exc: sqlite3.Error, query: str) -> CapabilityError:
        message = str(exc)
        refused, db.refused = db.refused, None
        if refused is not None and ("not authorized" in message or "is prohibited" in message):
            message = f"not authorized: {refused}"
        if isinstance(exc, sqlite3.ProgrammingError) and "bindings" in message:
            message = f"Wrong number of parameter bindings for SQL query ({message})"
        return sql_error(message, query, cause=exc)

    def database_size(self) -> int:
        db = self._db()
        db.internal = True
        try:
            pages = int(db.conn.execute("PRAGMA page_count" + MARK).fetchone()[0])
            size = int(db.conn.execute("PRAGMA page_size" + MARK).fetchone()[0])
        finally:
            db.internal = False
        return pages * size

    def transaction_sync(self, fn: Callable[[], T]) -> T:
        db = self._db()
        nested = db.begin()
        try:
            result = fn()
        except BaseException:
            db.finish(nested, commit=False)
            raise
        db.finish(nested, commit=True)
        return result
