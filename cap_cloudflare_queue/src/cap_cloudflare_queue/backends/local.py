"""The embedded default: a durable queue in one SQLite file, with Cloudflare Queues' semantics.

Every queue under a directory lives in ``<directory>/queues.sqlite3`` (one ``messages`` table with a
``queue`` column), so moving a message to its dead-letter queue is one transaction, and producers and
consumers in several processes on one machine share it safely:

* **leases** — a pull sets each message's ``visible_at`` to *now + visibility timeout* and gives it a
  fresh ``lease_id`` inside ``BEGIN IMMEDIATE`` (SQLite's write lock), so two consumers never hold a
  lease on the same message. A consumer that dies (even by SIGKILL) loses nothing: when its lease runs
  out the message is visible again and the next pull delivers it with ``attempts + 1``.
* **attempts** count deliveries; a message delivered ``max_retries + 1`` times that is retried again, or
  whose last lease runs out, goes to the dead-letter queue (as a fresh message) or, without one, is
  dropped — Cloudflare's rule (``max_retries = 3`` means up to four deliveries).
* **delays** — sending or retrying with ``delay_seconds`` sets ``visible_at`` in the future.
* **acks** are permissive, as Cloudflare's pull API is: an ack after the lease ran out is still accepted.
  A retry is ignored (with a warning) when the message has meanwhile been leased to another consumer.

Durability is the embedded engine's flag (:mod:`cap_opendal_core.embedded.durability`):
``durability="process"`` (the default; WAL with ``synchronous=NORMAL``) survives any process crash (a
committed send or ack is in the OS before the call returns); ``"full"`` (``synchronous=FULL``) also
survives power loss, at some cost in speed. ``synchronous="normal" | "full"``, the earlier name, is
accepted with a ``DeprecationWarning``.
The directory is checked by :func:`cap_opendal_core.localfs.local_root` when a queue is built and
again when the database is opened: a symbolic link in place of the database or its WAL is refused
(``Misconfigured``), never followed. SQLite calls block, so each runs in a worker thread
(``anyio.to_thread``), one at a time per connection.
Times come from an injectable ``clock`` (epoch seconds), so tests move time instead of sleeping.
"""

from __future__ import annotations

import atexit
import contextlib
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from cap_opendal_core import forks
from cap_opendal_core.embedded.durability import Durability, check_durability
from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.localfs import local_root

from ..encoding import decode_body
from ..models import Lease, PreparedMessage, ReceivedMessage, RetryRequest, SettleResult
from ..spec import SPEC

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Sequence

    from ..limits import ContentType

__all__ = ["DB_FILE", "LocalConsumer", "LocalProducer", "LocalStore", "memory_directory"]

T = TypeVar("T")

DB_FILE: Final = "queues.sqlite3"
BUSY_TIMEOUT_MS: Final = 30_000
"""How long a writer waits for another process's transaction before giving up (``Unavailable``)."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    content_type TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_id TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at_ms, seq);
"""


MEMBERS: Final = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal")
"""The files the queue keeps in its directory: none may be a symbolic link (SQLite would follow it)."""


def check_directory(path: str | os.PathLike[str], *, create: bool = False) -> str:
    """The queue directory ``path``, checked (``Misconfigured`` naming what is wrong) and resolved."""
    return local_root(path, capability="queue", operation="local", members=MEMBERS, create=create)


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """What Cloudflare configures per consumer; the local queue applies it at pull and settle time."""

    max_retries: int
    dead_letter_queue: str | None
    retry_delay: int


def resolve_durability(durability: object, synchronous: object, *, stacklevel: int = 4) -> Durability:
    """The durability asked for, by its name or by the deprecated ``synchronous`` alias."""
    if synchronous is not None:
        if synchronous not in ("normal", "full"):
            raise Misconfigured(
                f"synchronous must be 'normal' or 'full', got {synchronous!r}"[:300], capability="queue"
            )
        alias: Durability = "full" if synchronous == "full" else "process"
        warnings.warn(
            f"synchronous={synchronous!r} is deprecated: use durability={alias!r} (the same promise, "
            "the name every local store uses)",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        if durability is not None and durability != alias:
            raise Misconfigured(
                f"durability={durability!r} and synchronous={synchronous!r} disagree; give durability only",
                capability="queue",
            )
        return alias
    return "process" if durability is None else check_durability(durability, capability="queue")


class LocalStore:
    """One connection to ``<directory>/queues.sqlite3``, used from one worker thread at a time."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        clock: Callable[[], float] | None = None,
        durability: Durability | None = None,
        synchronous: Literal["normal", "full"] | None = None,
    ) -> None:
        self.durability: Durability = resolve_durability(durability, synchronous)
        self.directory = Path(check_directory(directory))
        self.path = self.directory / DB_FILE
        self.clock: Callable[[], float] = clock if clock is not None else time.time
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._one_at_a_time = threading.Lock()
        """Held by the worker thread that uses the connection: a thread lock, not an anyio limiter,
        so the store is not tied to the event loop (or the async library) that first used it."""
        self._open_lock = threading.Lock()
        self._generation = forks.generation()
        self.dead_lettered = 0
        """Messages this store moved to a dead-letter queue (for tests and diagnostics)."""
        self.dropped = 0
        """Messages this store deleted after ``max_retries`` with no dead-letter queue."""

    @property
    def synchronous(self) -> Literal["normal", "full"]:
        """SQLite's name for :attr:`durability` (the earlier keyword)."""
        return "full" if self.durability == "full" else "normal"

    # -- plumbing ----------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise Misconfigured(f"the local queue store {str(self.path)!r} is closed", capability="queue")
        if self._generation != forks.generation():
            self._forget_after_fork()
        conn = self._conn
        if conn is None:
            with self._open_lock:
                if self._conn is None:
                    check_directory(self.directory, create=True)  # again: the tree may have changed
                    conn = sqlite3.connect(
                        self.path,
                        timeout=BUSY_TIMEOUT_MS / 1000,
                        isolation_level=None,
                        check_same_thread=False,
                    )
                    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
                    conn.executescript(_SCHEMA)
                    self._conn = conn
                conn = self._conn
        return conn

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent's connection is the parent's; keep it unclosed (closing
        could checkpoint the parent's WAL) and open one of this process's own."""
        if self._conn is not None:
            _ABANDONED.append(self._conn)
        self._conn = None
        self._one_at_a_time = threading.Lock()
        self._open_lock = threading.Lock()
        self._generation = forks.generation()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking ``fn(connection, *args)`` in a worker thread, one call at a time."""
        import anyio

        if self._generation != forks.generation():
            self._forget_after_fork()
        return await anyio.to_thread.run_sync(partial(self._call, fn, *args))

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        with self._one_at_a_time:
            return fn(self._connection(), *args)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            import anyio

            await anyio.to_thread.run_sync(self._close_connection, conn)

    def _close_connection(self, conn: sqlite3.Connection) -> None:
        with self._one_at_a_time:
            conn.close()

    # -- operations (run in the worker thread) ------------------------------------------------------

    def enqueue(self, conn: sqlite3.Connection, queue: str, messages: Sequence[PreparedMessage]) -> None:
        now = self._now_ms()
        rows = []
        for m in messages:
            assert m.data is not None, "v8 bodies are refused before they reach the local queue"
            visible = now + (m.delay_seconds or 0) * 1000
            rows.append((queue, uuid.uuid4().hex, m.data, m.content_type, now, visible))
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO messages (queue, id, body, content_type, timestamp_ms, visible_at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def claim(
        self,
        conn: sqlite3.Connection,
        queue: str,
        batch_size: int,
        visibility_timeout: float,
        settings: ConsumerSettings,
    ) -> list[ReceivedMessage]:
        now = self._now_ms()
        leased_until = now + max(1, int(visibility_timeout * 1000))
        max_attempts = settings.max_retries + 1
        claimed: list[tuple[str, int, int, bytes, str, str]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            while len(claimed) < batch_size:
                rows = conn.execute(
                    "SELECT seq, id, body, content_type, timestamp_ms, attempts FROM messages "
                    "WHERE queue = ? AND visible_at_ms <= ? ORDER BY visible_at_ms, seq LIMIT ?",
                    (queue, now, batch_size - len(claimed)),
                ).fetchall()
                if not rows:
                    break
                leases = []
                for seq, message_id, body, content_type, timestamp_ms, attempts in rows:
                    if attempts >= max_attempts:  # its last allowed delivery's lease ran out
                        self._dead_letter(conn, seq, settings, now)
                        continue
                    lease_id = f"{message_id}.{secrets.token_hex(8)}"
                    leases.append((lease_id, leased_until, seq))
                    claimed.append((message_id, timestamp_ms, attempts + 1, body, content_type, lease_id))
                conn.executemany(
                    "UPDATE messages SET attempts = attempts + 1, lease_id = ?, visible_at_ms = ? "
                    "WHERE seq = ?",
                    leases,
                )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return [
            ReceivedMessage(
                id=message_id,
                timestamp_ms=timestamp_ms,
                attempts=attempts,
                body=decode_body(body, content_type, message_id=message_id),
                content_type=content_type,  # type: ignore[arg-type]  # written by enqueue from ContentType
                lease_id=lease_id,
            )
            for message_id, timestamp_ms, attempts, body, content_type, lease_id in claimed
        ]

    def _dead_letter(self, conn: sqlite3.Connection, seq: int, settings: ConsumerSettings, now: int) -> None:
        if settings.dead_letter_queue is None:
            conn.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            self.dropped += 1
        else:
            conn.execute(
                "UPDATE messages SET queue = ?, attempts = 0, lease_id = NULL, visible_at_ms = ? "
                "WHERE seq = ?",
                (settings.dead_letter_queue, now, seq),
            )
            self.dead_lettered += 1

    def settle(
        self,
        conn: sqlite3.Connection,
        queue: str,
        acks: Sequence[Lease],
        retries: Sequence[RetryRequest],
        settings: ConsumerSettings,
    ) -> SettleResult:
        now = self._now_ms()
        max_attempts = settings.max_retries + 1
        acked = retried = dead = 0
        warnings: list[str] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for ack in acks:
                deleted = conn.execute(
                    "DELETE FROM messages WHERE id = ? AND queue = ?", (ack.message_id, queue)
                ).rowcount
                if deleted:
                    acked += 1
                else:
                    warnings.append(f"ack {ack.lease_id}: message {ack.message_id} is no longer in the queue")
            for retry in retries:
                row = conn.execute(
                    "SELECT seq, attempts, lease_id, visible_at_ms FROM messages WHERE id = ? AND queue = ?",
                    (retry.message_id, queue),
                ).fetchone()
                if row is None:
                    warnings.append(
                        f"retry {retry.lease_id}: message {retry.message_id} is no longer in the queue"
                    )
                    continue
                seq, attempts, lease_id, visible_at = row
                if lease_id is not None and lease_id != retry.lease_id and visible_at > now:
                    warnings.append(
                        f"retry {retry.lease_id}: the lease ran out and message {retry.message_id} is "
                        "leased to "
                        "another consumer; retry ignored"
                    )
                    continue
                if attempts >= max_attempts:
                    self._dead_letter(conn, seq, settings, now)
                    dead += 1
                    continue
                delay = settings.retry_delay if retry.delay_seconds is None else retry.delay_seconds
                conn.execute(
                    "UPDATE messages SET lease_id = NULL, visible_at_ms = ? WHERE seq = ?",
                    (now + delay * 1000, seq),
                )
                retried += 1
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return SettleResult(acked, retried, dead, tuple(warnings))


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction; SQLite may already have rolled it back (a failed COMMIT, say)."""
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


class LocalProducer:
    """:class:`~cap_cloudflare_queue.backends.base.ProducerBackend` over a :class:`LocalStore`."""

    name = "local"
    content_types: tuple[ContentType, ...] = ("json", "text", "bytes")

    def __init__(self, store: LocalStore, queue: str, *, ephemeral: bool = False) -> None:
        self.store = store
        self.queue = queue
        self.descriptor = SPEC.descriptor_for("local", durability="ephemeral" if ephemeral else "durable")

    async def send(self, message: PreparedMessage) -> None:
        await self.store.run(self.store.enqueue, self.queue, (message,))

    async def send_batch(self, messages: Sequence[PreparedMessage]) -> None:
        await self.store.run(self.store.enqueue, self.queue, messages)

    async def aclose(self) -> None:
        await self.store.aclose()


class LocalConsumer:
    """:class:`~cap_cloudflare_queue.backends.base.ConsumerBackend` over a :class:`LocalStore`."""

    name = "local"

    def __init__(
        self, store: LocalStore, queue: str, settings: ConsumerSettings, *, ephemeral: bool = False
    ) -> None:
        self.store = store
        self.queue = queue
        self.settings = settings
        self.descriptor = SPEC.descriptor_for("local", durability="ephemeral" if ephemeral else "durable")

    async def pull(self, batch_size: int, visibility_timeout: float) -> list[ReceivedMessage]:
        return await self.store.run(
            self.store.claim, self.queue, batch_size, visibility_timeout, self.settings
        )

    async def settle(self, acks: Sequence[Lease], retries: Sequence[RetryRequest]) -> SettleResult:
        return await self.store.run(self.store.settle, self.queue, acks, retries, self.settings)

    async def aclose(self) -> None:
        await self.store.aclose()


# --- memory:// ----------------------------------------------------------------------------------------

_memory_dir: Path | None = None
_memory_lock = threading.Lock()
_ABANDONED: list[sqlite3.Connection] = []
"""A forked child's copies of its parent's connections: kept, never closed."""


def memory_directory() -> Path:
    """The process's directory for ``memory://`` queues: shared by every queue object in this process,
    removed when it exits."""
    global _memory_dir
    with _memory_lock:
        if _memory_dir is None:
            _memory_dir = Path(tempfile.mkdtemp(prefix="cap-queue-memory-"))
            atexit.register(shutil.rmtree, _memory_dir, True)
        return _memory_dir
