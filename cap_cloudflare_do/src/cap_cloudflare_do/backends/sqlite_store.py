"""The local runtime's storage: one SQLite database per namespace, in WAL mode.

One database (``<path>/objects.sqlite3``) holds every object of a namespace — rows keyed by
``(object_id, key)`` — rather than one file per object as Cloudflare does. Why: a single connection
serves any number of objects (no file handle per object, nothing to open when an evicted object comes
back), the alarm scheduler finds the next alarm of the whole namespace with one indexed query (also
right after a restart), and with WAL and ``durability="process"`` (``synchronous=NORMAL``, the
default) each write is an append to the log, not an fsync; ``durability="full"`` (``synchronous=FULL``)
fsyncs the log at each commit, so an acknowledged write also survives power loss — the embedded
engine's flag (:mod:`cap_opendal_core.embedded.durability`), the same meaning everywhere. SQLite
serialises writers anyway, and every call here is short and made on the event loop's thread, so
per-object files would buy no parallelism.

Keys are stored as UTF-8 BLOBs: SQLite compares BLOBs with ``memcmp``, which is exactly Workers'
ordering (by UTF-8 encodings). Values are :func:`cap_cloudflare_do.codec.encode`'d blobs. Every
multi-row write runs in one ``BEGIN IMMEDIATE … COMMIT``, so batches and transactions are atomic.

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

from cap_opendal_core.embedded.durability import Durability, check_durability
from cap_opendal_core.embedded.store import prefix_where
from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.localfs import local_root

from .. import codec
from .local_sql import SqlDatabases

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..validation import Encoded, ListOptions
    from .base import KeyList

__all__ = ["DB_FILE", "SQL_FOLDER", "AlarmList", "SqliteStore"]

AlarmList = list[tuple[str, int]]
"""``(object_id, epoch ms)`` pairs (an alias: ``list`` is also a method name here)."""

DB_FILE: Final = "objects.sqlite3"
_LOCK_FILE: Final = "objects.lock"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    object_id TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (object_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    object_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    retries INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_by_time ON alarms (at_ms);
"""


SQL_FOLDER: Final = "sql"
"""Where each object's own SQL database lives: ``sql/<object id>.sqlite3`` (:mod:`.local_sql`)."""

MEMBERS: Final = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal", _LOCK_FILE, SQL_FOLDER)
"""The files a namespace keeps in its directory: none may be a symbolic link."""


def check_directory(path: str | os.PathLike[str], *, create: bool = False) -> str:
    """The namespace directory ``path``, checked (``Misconfigured`` naming what is wrong) and resolved."""
    return local_root(path, capability="do", operation="local", members=MEMBERS, create=create)


def _collected_unclosed(db: sqlite3.Connection, lock_fd: int | None, where: str) -> None:
    """Runs when a store is collected without :meth:`SqliteStore.close`: release what it held."""
    warnings.warn(
        f"unclosed Durable Objects namespace storage {where!r}: call aclose() (or use async with)",
        ResourceWarning,
        stacklevel=2,
    )
    db.close()
    if lock_fd is not None:
        os.close(lock_fd)


class SqliteStore:
    """Storage rows of every object in one namespace. ``path=None``: in memory, for tests."""

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
        self._finalizer = weakref.finalize(
            self, _collected_unclosed, db, self._lock_fd, str(self.path or ":memory:")
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
        self.sql = SqlDatabases(None if self.path is None else self.path / SQL_FOLDER, self.durability)
        """Each object's SQL database (opened on first use)."""

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

    # -- transactions -------------------------------------------------------------------------------

    def _atomic(self) -> _Atomic:
        return _Atomic(self._db)

    # -- reads --------------------------------------------------------------------------------------

    def get(self, object_id: str, key: str) -> Any:
        row = self._db.execute(
            "SELECT value FROM entries WHERE object_id = ? AND key = ?", (object_id, key.encode("utf-8"))
        ).fetchone()
        return None if row is None else codec.decode(row[0])

    def get_many(self, object_id: str, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        wanted = sorted({k.encode("utf-8") for k in keys})
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT key, value FROM entries WHERE object_id = ? AND key IN ({marks}) ORDER BY key",
            (object_id, *wanted),
        ).fetchall()
        return {bytes(k).decode("utf-8"): codec.decode(v) for k, v in rows}

    def contains(self, object_id: str, keys: Iterable[bytes]) -> int:
        wanted = list(keys)
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        row = self._db.execute(
            f"SELECT count(*) FROM entries WHERE object_id = ? AND key IN ({marks})", (object_id, *wanted)
        ).fetchone()
        return int(row[0])

    def list(self, object_id: str, options: ListOptions) -> dict[str, Any]:
        where = ["object_id = ?"]
        params: list[Any] = [object_id]
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
        sql = f"SELECT key, value FROM entries WHERE {' AND '.join(where)} ORDER BY key {order}"
        if options.limit is not None:
            sql += " LIMIT ?"
            params.append(options.limit)
        rows = self._db.execute(sql, params).fetchall()
        return {bytes(k).decode("utf-8"): codec.decode(v) for k, v in rows}

    # -- writes -------------------------------------------------------------------------------------

    def put_many(self, object_id: str, entries: Mapping[str, Encoded]) -> None:
        rows = [(object_id, k.encode("utf-8"), e.blob) for k, e in entries.items()]
        with self._atomic():
            self._db.executemany(_UPSERT, rows)

    def delete_many(self, object_id: str, keys: KeyList) -> int:
        wanted = sorted({k.encode("utf-8") for k in keys})
        if not wanted:
            return 0
        with self._atomic():
            found = self.contains(object_id, wanted)
            self._db.executemany(
                "DELETE FROM entries WHERE object_id = ? AND key = ?", [(object_id, k) for k in wanted]
            )
        return found

    def delete_all(self, object_id: str) -> None:
        """Every key and the alarm, in one transaction, then the object's SQL database: Workers'
        ``deleteAll()`` drops the alarm too (compatibility date 2026-02-24 and later), and on a
        SQLite-backed object every table."""
        with self._atomic():
            self._db.execute("DELETE FROM entries WHERE object_id = ?", (object_id,))
            self._db.execute("DELETE FROM alarms WHERE object_id = ?", (object_id,))
        self.sql.drop(object_id)

    def commit(self, object_id: str, puts: Mapping[str, Encoded], deletes: KeyList) -> None:
        with self._atomic():
            if deletes:
                self._db.executemany(
                    "DELETE FROM entries WHERE object_id = ? AND key = ?",
                    [(object_id, k.encode("utf-8")) for k in deletes],
                )
            if puts:
                self._db.executemany(
                    _UPSERT, [(object_id, k.encode("utf-8"), e.blob) for k, e in puts.items()]
                )

    # -- alarms -------------------------------------------------------------------------------------

    def get_alarm(self, object_id: str) -> int | None:
        row = self._db.execute("SELECT at_ms FROM alarms WHERE object_id = ?", (object_id,)).fetchone()
        return None if row is None else int(row[0])

    def set_alarm(self, object_id: str, at_ms: int, retries: int = 0) -> None:
        self._db.execute(
            "INSERT INTO alarms (object_id, at_ms, retries) VALUES (?, ?, ?) "
            "ON CONFLICT (object_id) DO UPDATE SET at_ms = excluded.at_ms, retries = excluded.retries",
            (object_id, at_ms, retries),
        )

    def delete_alarm(self, object_id: str) -> None:
        self._db.execute("DELETE FROM alarms WHERE object_id = ?", (object_id,))

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


_UPSERT: Final = (
    "INSERT INTO entries (object_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (object_id, key) DO UPDATE SET value = excluded.value"
)


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
