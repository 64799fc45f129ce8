"""``KvNamespace.local``: Workers KV on the embedded storage engine (:mod:`cap_opendal_core.embedded`).

One row per key in the store's SQLite index — expiration, metadata, and the value itself up to
:data:`INLINE_MAX` bytes; a larger value lives in an immutable value file the row references.

Why :data:`INLINE_MAX` is 64 KiB: a value up to it comes back with the ``SELECT`` that finds the key
(no second open and read) and is written by the index commit itself (under ``durability="full"`` one
``fsync`` of the WAL instead of three: file, directory, WAL); SQLite's own measurements put the
point where reading a blob from a file beats reading it from the database near 100 KB. Above it a
value is written once to its own file instead of twice (the WAL, then the checkpoint), and never
bloats the pages a listing scans.

What follows from the engine: every write (``put``, ``put_many``, ``delete``, ``delete_many``, a
reclaim) is one transaction — a ``put_many`` is all-or-nothing, a ``delete`` of a key another task or
process removes at the same moment simply succeeds, an expired entry is reclaimed with a conditional
``DELETE`` that can never remove a write made meanwhile. Reads see the last commit; a read of a key
that expires or is reclaimed concurrently returns None. Listing is one index range scan in UTF-8
byte order with the expiration filtered in the query; the cursor names the last key returned, so it
stays valid across writes and restarts.

A directory written by the earlier layout (one record file per key under ``k/``) is converted when
the store first opens (:class:`FileLayoutMigration`): every live entry is copied into the index, then
the old files are removed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import shutil
import time
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.embedded import MEMBERS
from cap_opendal_core.embedded.async_group import transact_grouped
from cap_opendal_core.embedded.handle import StoreHandle
from cap_opendal_core.embedded.store import prefix_where
from cap_opendal_core.embedded.threads import to_thread

from ..codec import decode_metadata, decode_value
from ..limits import BULK_GET_MAX_KEYS
from ..models import KvKey, KvListResult, KvValueWithMetadata, PreparedWrite, ValueType
from ..streams import KvStream
from .base import chunked, foreign_cursor

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from cap_opendal_core.descriptors import Descriptor
    from cap_opendal_core.embedded import Durability, Store, Txn
    from cap_opendal_core.layers import LayerSettings

__all__ = ["INLINE_MAX", "LOCAL_MEMBERS", "FileLayoutMigration", "LocalBackend"]

INLINE_MAX: Final = 64 * 1024
"""Values up to this many bytes are kept in the index row; larger ones in a value file."""
LOCAL_MEMBERS: Final = (*MEMBERS, "k", ".tmp")
"""Entries under the root that must not be symbolic links (the engine's, and the old layout's)."""
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    expires INTEGER,
    metadata TEXT,
    size INTEGER NOT NULL,
    blob TEXT,
    value BLOB
) WITHOUT ROWID;
"""
_STREAM_CHUNK: Final = 256 * 1024
_CURSOR_VERSION: Final = 2
_READ_ATTEMPTS: Final = 8
_ROW: Final = "SELECT expires, metadata, blob, size, value FROM kv WHERE key = ?"
_LIVE: Final = "(expires IS NULL OR expires > ?)"
_INSERT: Final = "INSERT INTO kv (key, expires, metadata, size, blob, value) VALUES (?, ?, ?, ?, ?, ?)"


class LocalBackend:
    """KV on one embedded store (see the module docstring)."""

    name = "local"

    def __init__(
        self, root: str, *, durability: Durability = "process", clock: Callable[[], float] | None = None
    ) -> None:
        self._root = root
        self._durability: Durability = durability
        self.clock: Callable[[], float] = time.time if clock is None else clock
        self._handle = StoreHandle(
            root, kind="kv", schema=SCHEMA, capability="kv", migration=FileLayoutMigration()
        )
        self._descriptor: Descriptor | None = None

    @property
    def descriptor(self) -> Descriptor:
        """Built at first use, not in ``.local()``: building it loads the plugin tables (~10 ms)."""
        if self._descriptor is None:
            from ..info import descriptor_for

            self._descriptor = descriptor_for("local")
        return self._descriptor

    # -- capability plumbing ---------------------------------------------------------------------

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        return settings

    def describe(self) -> str:
        return f"local directory {self._root!r} (embedded engine, durability={self._durability!r})"

    def _held(self) -> Store:
        return self._handle.held()

    async def _opened(self) -> Store:
        return await self._handle.opened()

    async def aclose(self) -> None:
        await self._handle.aclose()

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, key: str, value_type: ValueType, cache_ttl: int | None) -> Any:
        found = await self._read(key, value_type == "stream")
        if found is None:
            return None
        value, _ = found
        if value_type == "stream":
            return value
        return decode_value(value, value_type, operation="get", key=key)

    async def get_with_metadata(
        self, key: str, value_type: ValueType, cache_ttl: int | None
    ) -> KvValueWithMetadata:
        found = await self._read(key, value_type == "stream")
        if found is None:
            return KvValueWithMetadata(None, None)
        value, metadata = found
        if value_type != "stream":
            value = decode_value(value, value_type, operation="get_with_metadata", key=key)
        return KvValueWithMetadata(value, decode_metadata(metadata))

    async def _read(self, key: str, stream: bool) -> tuple[Any, str | None] | None:
        """``(bytes or KvStream, metadata JSON)`` of the live entry, or None."""
        store = await self._opened()
        for _ in range(_READ_ATTEMPTS):
            with store.reading() as conn:  # one indexed row: cheaper inline than a thread hop
                row = conn.execute(_ROW, (key,)).fetchone()
            if row is None:
                return None
            expires, metadata, blob, size, value = row
            now = self.clock()
            if expires is not None and expires <= now:
                await self._reclaim(key, now)
                return None
            if blob is None:
                data = bytes(value)
                if stream:
                    return KvStream(_one(data), key=key), metadata
                return data, metadata
            try:
                if stream:
                    fd = await to_thread(store.dirs.open, blob)
                    return _file_stream(fd, size, key), metadata
                return await to_thread(store.dirs.read, blob, 0, size), metadata
            except FileNotFoundError:
                continue  # replaced or deleted after the SELECT: read what the index says now
        from cap_opendal_core.errors import Unavailable

        raise Unavailable("the value kept changing while it was being read", capability="kv", key=key)

    async def get_many(self, keys: list[str], value_type: ValueType) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for chunk in chunked(list(dict.fromkeys(keys)), BULK_GET_MAX_KEYS):
            for key in chunk:
                found = await self._read(key, False)
                out[key] = (
                    None
                    if found is None
                    else decode_value(found[0], value_type, operation="get_many", key=key)
                )
        return out

    # -- writes ----------------------------------------------------------------------------------

    async def put(self, write: PreparedWrite) -> None:
        await self.put_many([write])

    async def put_many(self, writes: list[PreparedWrite]) -> None:
        # the last write of a key wins, as it would if the writes were made one after another
        latest = list({write.key: write for write in writes}.values())
        store = await self._opened()
        if all(len(write.data) <= INLINE_MAX for write in latest):  # no file: the commit is all the work
            await transact_grouped(store, _commit_writes(latest, {}), self._durability)
        else:
            await to_thread(self._put_many_sync, store, latest)

    def _put_many_sync(self, store: Store, writes: list[PreparedWrite]) -> None:
        files: dict[str, tuple[str, int]] = {}
        writers = []
        try:
            for write in writes:
                if len(write.data) > INLINE_MAX:
                    writer = store.new_blob(self._durability)
                    writers.append(writer)
                    writer.write(write.data)
                    writer.finish()
                    files[write.key] = (writer.name, writer.size)

            store.transact(_commit_writes(writes, files), self._durability)
        except BaseException:
            for writer in writers:  # a failed write (a full disk) leaves nothing behind
                writer.discard()
            raise

    async def delete(self, key: str) -> None:
        await self.delete_many([key])

    async def delete_many(self, keys: list[str]) -> None:
        store = await self._opened()
        unique = list(dict.fromkeys(keys))

        def commit(txn: Txn) -> None:
            for key in unique:
                _release_current(txn, key)

        await transact_grouped(store, commit, self._durability)

    async def _reclaim(self, key: str, now: float) -> None:
        """Delete ``key``'s entry if it is (still) expired: a write made meanwhile is never lost."""
        store = await self._opened()

        def commit(txn: Txn) -> None:
            row = txn.execute(
                "DELETE FROM kv WHERE key = ? AND expires IS NOT NULL AND expires <= ? RETURNING blob",
                (key, now),
            ).fetchone()
            if row is not None and row[0] is not None:
                txn.release([row[0]])

        await to_thread(store.transact, commit, self._durability)

    async def purge_expired(self) -> int:
        """Delete every expired entry now; returns how many there were."""
        store = await self._opened()
        now = self.clock()

        def commit(txn: Txn) -> int:
            rows = txn.execute(
                "DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ? RETURNING blob", (now,)
            ).fetchall()
            txn.release(blob for (blob,) in rows if blob is not None)
            return len(rows)

        return await to_thread(store.transact, commit, self._durability)

    # -- listing ---------------------------------------------------------------------------------

    def check_cursor(self, cursor: str, operation: str) -> None:
        _decode_cursor(cursor, operation)

    async def list(self, prefix: str | None, limit: int, cursor: str | None) -> KvListResult:
        store = await self._opened()
        after = None if cursor is None else _decode_cursor(cursor, "list")
        rows = await to_thread(_page, store, prefix, after, limit, self.clock())
        more = len(rows) > limit
        rows = rows[:limit]
        keys = tuple(
            KvKey(name, expires, None if metadata is None else decode_metadata(metadata))
            for name, expires, metadata in rows
        )
        if not more:
            return KvListResult(keys, True, None)
        return KvListResult(keys, False, _encode_cursor(rows[-1][0]))


def _commit_writes(writes: list[PreparedWrite], files: dict[str, tuple[str, int]]) -> Callable[[Txn], None]:
    """The transaction storing ``writes`` (a key in ``files`` references that value file)."""

    def commit(txn: Txn) -> None:
        for write in writes:
            _release_current(txn, write.key)
            file = files.get(write.key)
            if file is not None:
                txn.adopt(*file)
            txn.execute(
                _INSERT,
                (
                    write.key,
                    write.expires_at,
                    write.metadata_json,
                    len(write.data),
                    None if file is None else file[0],
                    None if file is not None else write.data,
                ),
            )

    return commit


def _release_current(txn: Txn, key: str) -> None:
    """Delete ``key``'s row (if any) in ``txn`` and release its value file."""
    row = txn.execute("DELETE FROM kv WHERE key = ? RETURNING blob", (key,)).fetchone()
    if row is not None and row[0] is not None:
        txn.release([row[0]])


def _page(
    store: Store, prefix: str | None, after: str | None, limit: int, now: float
) -> list[tuple[str, int | None, str | None]]:
    """Up to ``limit + 1`` live keys after ``after`` with ``prefix``, from one index range scan."""
    where = [_LIVE]
    params: list[Any] = [now]
    if after is not None:
        where.append("key > ?")
        params.append(after)
    if prefix:
        bounds, values = prefix_where(prefix, text=True)
        where += bounds
        params += values
    sql = f"SELECT key, expires, metadata FROM kv WHERE {' AND '.join(where)} ORDER BY key LIMIT ?"
    params.append(limit + 1)
    with store.reading() as conn:
        return conn.execute(sql, params).fetchall()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


def _file_stream(fd: int, size: int, key: str) -> KvStream:
    from cap_opendal_core.embedded.blobs import read_exactly

    position = 0
    closed = False

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal position
        while position < size:
            length = min(_STREAM_CHUNK, size - position)
            data = await to_thread(read_exactly, fd, position, length, "kv")
            position += length
            yield data
        await close()

    async def close() -> None:
        nonlocal closed
        if not closed:
            closed = True
            os.close(fd)

    return KvStream(chunks(), key=key, on_close=close)


def _encode_cursor(after: str) -> str:
    raw = bytes([_CURSOR_VERSION]) + after.encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, operation: str) -> str:
    """The key a cursor continues after. Cursors of the earlier layout (version 1) still work."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) > 1 and raw[0] == _CURSOR_VERSION:
            return raw[1:].decode("utf-8")
        if len(raw) > 5 and raw[0] == 1:  # version 1: a 4-byte snapshot token, then the key
            return raw[5:].decode("utf-8")
        raise ValueError("not a cursor")
    except (binascii.Error, ValueError):
        raise foreign_cursor(operation) from None


# --- the earlier layout --------------------------------------------------------------------------


class FileLayoutMigration:
    """Converts a directory of the earlier layout (``k/`` record files, ``.tmp/``) into the index."""

    name = "kv-files-1"

    def present(self, root: str) -> bool:
        return os.path.lexists(os.path.join(root, "k")) or os.path.lexists(os.path.join(root, ".tmp"))

    def import_into(self, store: Store, txn: Txn) -> None:
        from cap_opendal_core.localfs import check_inside

        from .layout import PREFIX, path_to_key
        from .record import HEADER_SIZE, parse_head

        root = store.root
        check_inside(root, "k", capability="kv", operation="open")
        now = time.time()
        pending = [(os.path.join(root, "k"), PREFIX)]
        while pending:
            directory, relative = pending.pop()
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.is_symlink():
                    check_inside(root, relative + entry.name, capability="kv", operation="open")
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, f"{relative}{entry.name}/"))
                    continue
                key = path_to_key(relative + entry.name)
                if key is None:
                    continue  # not a record this layout wrote: left out, and removed with k/
                fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                with os.fdopen(fd, "rb") as file:
                    blob = file.read()
                head = parse_head(blob, key)
                if head.expires_at is not None and head.expires_at <= now:
                    continue
                value = blob[head.value_offset :]
                metadata = blob[HEADER_SIZE : head.meta_end]
                meta_json = metadata.decode("utf-8") if metadata else None
                file_ref: tuple[str, int] | None = None
                if len(value) > INLINE_MAX:
                    writer = store.new_blob("full")
                    writer.write(value)
                    writer.finish()
                    txn.adopt(writer.name, writer.size)
                    file_ref = (writer.name, writer.size)
                _release_current(txn, key)
                txn.execute(
                    _INSERT,
                    (
                        key,
                        head.expires_at,
                        meta_json,
                        len(value),
                        None if file_ref is None else file_ref[0],
                        None if file_ref is not None else value,
                    ),
                )

    def remove_old(self, store: Store) -> None:
        for name in ("k", ".tmp"):
            path = os.path.join(store.root, name)
            if os.path.islink(path):
                continue  # refused at open already; never followed
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(path)
