"""A store: one directory, one transactional SQLite index, immutable value files, one per process.

Layout of a store's directory (its *root*)::

    index.sqlite3 (+ -wal, -shm)   the index: every key, its metadata, where its bytes are
    blobs/<session>/<n>            value files, immutable (:mod:`.blobs`)
    sessions/<session>             lock files of the processes that have the store open (:mod:`.sessions`)

**Transactions.** Every change is one ``BEGIN IMMEDIATE … COMMIT`` on the index (:meth:`Store.transact`):
conditional writes, overwrites, deletes, multipart completion. SQLite's write lock makes each one
atomic against every other task, thread and process using the same file — and the root is resolved
to its real path before anything else, so every path, alias or URL naming the directory names the
same index. Within a process, all handles on one directory share one :class:`Store` (one writer
connection, a small pool of reader connections, one session). Transactions that queue on the writer
while another commits are committed together, each in its own savepoint, with one ``fsync``
(:mod:`.grouping`).

**Reads** take a pooled reader connection (WAL: readers never wait for the writer) and may run on
the calling thread when they are small (a single-row ``SELECT`` costs less than a hop to a worker
thread); anything that may block on a disk or a lock runs in a worker thread, one hop per operation.

**Values** are written to a value file *before* the transaction that references it, and the files a
transaction releases (an overwritten or deleted value) are unlinked only *after* it commits; readers
hold descriptors, so they finish reading the bytes they started with (:mod:`.blobs`). The service
decides what lives inline in the index (KV's small values) and what in files.

**Recovery** runs when the store opens (:mod:`.recovery`); SQLite rolls back any transaction a crash
interrupted. **Durability** is one flag (:mod:`.durability`). **Faults** can be injected at every
step boundary for the crash tests (:mod:`.faults`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from ..errors import Misconfigured
from ..localfs import check_inside
from . import faults
from .blobs import BLOBS, BlobDirs, BlobWriter
from .grouping import BATCH_MAX, Pending, run_batch
from .recovery import sweep
from .sessions import SESSIONS, Session

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from .durability import Durability

__all__ = ["INDEX", "MEMBERS", "Migration", "Store", "Txn", "acquire", "prefix_end", "prefix_where"]

T = TypeVar("T")

INDEX: Final = "index.sqlite3"
MEMBERS: Final = (INDEX, f"{INDEX}-wal", f"{INDEX}-shm", f"{INDEX}-journal", BLOBS, SESSIONS)
"""The store's own entries under its root: none may be a symbolic link."""
LAYOUT: Final = "1"
BUSY_TIMEOUT_MS: Final = 60_000
_READERS_KEPT: Final = 4
_DIR_FLAGS: Final = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)

_ENGINE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_refs (name TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;
"""


class Migration(Protocol):
    """How a service converts a directory written by an earlier layout (see :meth:`Store.open`)."""

    name: str

    def present(self, root: str) -> bool:
        """Whether old-layout files are in ``root`` (a cheap check, run at every open)."""
        ...

    def import_into(self, store: Store, txn: Txn) -> None:
        """Copy every old entry into the index, in ``txn`` (referencing old files where it can)."""
        ...

    def remove_old(self, store: Store) -> None:
        """Delete the old layout's files that the index does not reference (idempotent)."""
        ...


class Txn:
    """One open index transaction: SQL, plus which value files it references and releases."""

    __slots__ = ("conn", "released")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.released: list[str] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def adopt(self, name: str, size: int) -> None:
        """From this commit on, value file ``name`` is referenced and must be kept."""
        self.conn.execute("INSERT INTO blob_refs (name, size) VALUES (?, ?)", (name, size))

    def release(self, names: Iterable[str]) -> None:
        """From this commit on, these value files are referenced by nothing: unlink them after it."""
        for name in names:
            self.conn.execute("DELETE FROM blob_refs WHERE name = ?", (name,))
            self.released.append(name)


class _Resources:
    """Everything a store holds open; closed by :meth:`Store.close` or when the store is collected."""

    def __init__(self) -> None:
        self.root_fd: int | None = None
        self.sessions_fd: int | None = None
        self.dirs: BlobDirs | None = None
        self.writer: sqlite3.Connection | None = None
        self.readers: list[sqlite3.Connection] = []
        self.session: Session | None = None

    def close(self) -> None:
        conns = ([self.writer] if self.writer is not None else []) + self.readers
        self.writer, self.readers = None, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        if self.session is not None:
            self.session.end(self.sessions_fd)
            self.session = None
        if self.dirs is not None:
            self.dirs.close()
            self.dirs = None
        for fd in (self.sessions_fd, self.root_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.sessions_fd = self.root_fd = None


class Store:
    """One store directory (see the module docstring). Get one with :func:`acquire`."""

    def __init__(
        self, root: str, *, kind: str, schema: str, capability: str, migration: Migration | None = None
    ) -> None:
        self.root = root
        self.kind = kind
        self.capability = capability
        self._schema = schema
        self._migration = migration
        self._res = _Resources()
        self._open_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[Pending] = []
        self.loop_queues: dict[Any, Any] = {}
        """Per event loop: the tasks waiting to commit (:mod:`.async_group`)."""
        self._sync: str | None = None
        self._holders = 0
        self._closed = False
        self.is_open = False
        self._opening: int | None = None
        self._finalizer = weakref.finalize(self, self._res.close)

    # -- opening ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Create or open the store: directories, index, session, then recovery and migration."""
        if self.is_open:
            return
        if self._opening == threading.get_ident():
            return  # a migration, run by open() itself, is using the store
        with self._open_lock:
            if self.is_open:
                return
            if self._closed:
                raise Misconfigured(f"the local store {self.root!r} is closed", capability=self.capability)
            self._opening = threading.get_ident()
            try:
                self._open()
            except BaseException:
                self._res.close()
                raise
            finally:
                self._opening = None
            self.is_open = True

    def _open(self) -> None:
        res = self._res
        root = self.root
        for member in MEMBERS:  # again: the tree may have changed since the store was built
            check_inside(root, member, capability=self.capability, operation="open")
        os.makedirs(root, exist_ok=True)
        res.root_fd = os.open(root, _DIR_FLAGS | _CLOEXEC)
        with contextlib.suppress(FileExistsError):
            os.mkdir(SESSIONS, 0o777, dir_fd=res.root_fd)
        res.sessions_fd = os.open(SESSIONS, _DIR_FLAGS | _CLOEXEC, dir_fd=res.root_fd)
        res.dirs = BlobDirs(root, res.root_fd, self.capability)
        writer = res.writer = self._connect()
        writer.execute("PRAGMA journal_mode = WAL")
        writer.executescript(_ENGINE_SCHEMA + self._schema)
        self._check_kind(writer)
        res.session = Session(res.sessions_fd)
        if self._migration is not None and self._migration.present(root):
            self._migrate(self._migration)
        sweep(writer, res.sessions_fd, res.dirs, res.session.id)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            os.path.join(self.root, INDEX),
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return conn

    def _check_kind(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('kind', ?)", (self.kind,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('layout', ?)", (LAYOUT,))
            found = dict(conn.execute("SELECT name, value FROM meta WHERE name IN ('kind', 'layout')"))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        if found["kind"] != self.kind or found["layout"] != LAYOUT:
            raise Misconfigured(
                f"the local store {self.root!r} holds a {found['kind']} store (layout {found['layout']}), "
                f"not a {self.kind} store (layout {LAYOUT}); give each store its own directory",
                capability=self.capability,
                operation="open",
            )

    def _migrate(self, migration: Migration) -> None:
        done = f"migrated:{migration.name}"

        def run(txn: Txn) -> None:
            if txn.execute("SELECT 1 FROM meta WHERE name = ?", (done,)).fetchone() is None:
                migration.import_into(self, txn)
                txn.execute("INSERT INTO meta VALUES (?, 'yes')", (done,))

        self._transact(run, "full")
        faults.reached("migrate.copied")
        migration.remove_old(self)

    # -- using -----------------------------------------------------------------------------------

    @property
    def dirs(self) -> BlobDirs:
        dirs = self._res.dirs
        if dirs is None:
            self.open()
            dirs = self._res.dirs
            assert dirs is not None
        return dirs

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A reader connection (autocommit: each statement sees the latest commit)."""
        if not self.is_open:
            self.open()
        readers = self._res.readers
        try:
            conn = readers.pop()
        except IndexError:
            conn = self._connect()
        try:
            yield conn
        finally:
            if len(readers) < _READERS_KEPT and not self._closed:
                readers.append(conn)
            else:
                conn.close()

    def transact(self, fn: Callable[[Txn], T], durability: Durability) -> T:
        """Run ``fn`` in one write transaction; commit; then unlink the value files it released."""
        if not self.is_open:
            self.open()
        return self._transact(fn, durability)

    def _transact(self, fn: Callable[[Txn], T], durability: Durability) -> T:
        entry = Pending(fn, durability)
        with self._queue_lock:
            self._queue.append(entry)
        while not entry.done:
            with self._write_lock:
                if not entry.done:  # no earlier lock holder ran it: run the queue (:mod:`.grouping`)
                    self._run_queue()
        if entry.error is not None:
            raise entry.error
        faults.reached("commit.after")
        dirs = self._res.dirs
        if entry.released and dirs is not None:
            dirs.unlink(entry.released)
        result: T = entry.result
        return result

    def transact_all(self, calls: list[tuple[Callable[[Txn], Any], Durability]]) -> list[Pending]:
        """Run many transactions, grouped as :meth:`transact` groups queued callers; never raises:
        each returned entry holds its own result or error (used by :mod:`.async_group`)."""
        entries = [Pending(fn, durability) for fn, durability in calls]
        try:
            if not self.is_open:
                self.open()
        except BaseException as exc:
            for entry in entries:
                entry.error, entry.done = exc, True
            return entries
        with self._queue_lock:
            self._queue.extend(entries)
        while not all(entry.done for entry in entries):
            with self._write_lock:
                if not all(entry.done for entry in entries):
                    self._run_queue()
        dirs = self._res.dirs
        for entry in entries:
            if entry.error is None:
                faults.reached("commit.after")
                if entry.released and dirs is not None:
                    try:
                        dirs.unlink(entry.released)
                    except BaseException as exc:  # committed: report, as transact() would
                        entry.error = exc
        return entries

    def _run_queue(self) -> None:
        """With the write lock held: run the queued transactions as one commit (group commit)."""
        with self._queue_lock:
            batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
        conn = self._res.writer
        try:
            if conn is None:
                raise Misconfigured(f"the local store {self.root!r} is closed", capability=self.capability)
            sync = "FULL" if any(e.durability == "full" for e in batch) else "NORMAL"
            if sync != self._sync:
                conn.execute(f"PRAGMA synchronous = {sync}")
                self._sync = sync
            conn.execute("BEGIN IMMEDIATE")
            again = run_batch(conn, batch, lambda: Txn(conn))
        except BaseException as exc:
            if conn is not None:
                _rollback(conn)
            for entry in batch:
                if not entry.done:
                    entry.result, entry.error, entry.released, entry.done = None, exc, [], True
            return
        if again:
            with self._queue_lock:
                self._queue[:0] = again

    def new_blob(self, durability: Durability) -> BlobWriter:
        """A new value file of this process's session (see :class:`~.blobs.BlobWriter`)."""
        if not self.is_open:
            self.open()
        session = self._res.session
        if session is None:
            raise Misconfigured(f"the local store {self.root!r} is closed", capability=self.capability)
        return BlobWriter(self.dirs, session.id, session.next_name(), durable=durability == "full")

    def collect_garbage(self) -> int:
        """Remove the value files of dead sessions that nothing references (also done at open)."""
        if not self.is_open:
            self.open()
        res = self._res
        assert res.sessions_fd is not None
        assert res.dirs is not None
        assert res.session is not None
        with self._write_lock:
            conn = res.writer
            assert conn is not None
            return sweep(conn, res.sessions_fd, res.dirs, res.session.id)

    # -- lifetime --------------------------------------------------------------------------------

    def hold(self) -> None:
        self._holders += 1

    def let_go(self) -> None:
        """One holder is done; the last one closes the store (a clean end of the session)."""
        self._holders -= 1
        if self._holders <= 0:
            self.close()

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent's connections, session and descriptors are the parent's.
        Keep them unclosed (closing a SQLite connection here could checkpoint or unlink the parent's
        WAL) and start afresh: the next operation opens the store again, with a session of its own."""
        self._finalizer.detach()
        _ABANDONED.append(self._res)
        self._res = _Resources()
        self._open_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue = []
        self.loop_queues = {}
        self.is_open = False
        self._opening = None
        self._finalizer = weakref.finalize(self, self._res.close)

    def close(self) -> None:
        with self._open_lock, self._write_lock:
            self._closed = True
            self.is_open = False
            self._res.close()
        with _REGISTRY_LOCK:
            if _REGISTRY.get(self.root) is self:
                del _REGISTRY[self.root]


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


_REGISTRY: weakref.WeakValueDictionary[str, Store] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()
_ABANDONED: list[_Resources] = []
"""A forked child's copies of its parent's open resources: kept, never closed (see above)."""


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for store in list(_REGISTRY.values()):
        store._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def acquire(
    root: str, *, kind: str, schema: str, capability: str, migration: Migration | None = None
) -> Store:
    """The store of directory ``root`` (already resolved by ``local_root``), shared in this process.

    Nothing is opened yet: the first operation opens it (:meth:`Store.open`). Call
    :meth:`Store.hold` / :meth:`Store.let_go` around use; a store nobody holds is closed when
    collected.
    """
    with _REGISTRY_LOCK:
        store = _REGISTRY.get(root)
        if store is None or store._closed:
            store = Store(root, kind=kind, schema=schema, capability=capability, migration=migration)
            _REGISTRY[root] = store
        elif store.kind != kind:
            raise Misconfigured(
                f"the local store {root!r} is open in this process as a {store.kind} store, not a "
                f"{kind} store; give each store its own directory",
                capability=capability,
                operation="open",
            )
        return store


def prefix_end(prefix: str | bytes) -> bytes | None:
    """The smallest (UTF-8) byte string above every string starting with ``prefix``; None when no
    string is (``prefix`` is all ``0xff`` bytes). SQLite compares keys bytewise, so keys starting
    with ``prefix`` are the range ``[prefix, prefix_end(prefix))``: one index range scan."""
    raw = (prefix.encode("utf-8") if isinstance(prefix, str) else prefix).rstrip(b"\xff")
    return None if not raw else raw[:-1] + bytes([raw[-1] + 1])


def prefix_where(prefix: str | bytes, *, text: bool) -> tuple[list[str], list[Any]]:
    """The conditions (on column ``key``) and their parameters that select the keys starting with
    ``prefix`` (see :func:`prefix_end`); ``text``: the column holds TEXT, so the bound is cast."""
    where, params = ["key >= ?"], [prefix]
    upper = prefix_end(prefix)
    if upper is not None:
        where.append("key < CAST(? AS TEXT)" if text else "key < ?")
        params.append(upper)
    return where, params
