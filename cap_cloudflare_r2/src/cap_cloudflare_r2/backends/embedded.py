"""``R2Bucket.local``: R2 on the embedded storage engine (:mod:`cap_opendal_core.embedded`).

The store's SQLite index holds one row per object (size, etag, upload time, version, HTTP and custom
metadata, checksums, and the list of value files holding its bytes — one for a single upload, one
per part for a multipart upload), one per multipart upload and one per uploaded part. A ``put``
body up to :data:`INLINE_MAX` lives in the index (table ``bodies``); larger bodies and parts live in
immutable value files.

What follows from the engine, and is R2's behaviour:

* a ``put`` with ``only_if``, an overwrite, a ``delete`` and a multipart ``complete`` are each one
  transaction: a create-if-absent on one key is won by exactly one writer across tasks, processes
  and every path or ``file://`` URL naming the directory;
* a ``get`` opens every value file of the range it serves before returning, so an object overwritten
  or deleted while its body streams is read to its end, old bytes throughout; a ``get`` racing a
  ``delete`` returns the old object or None;
* completing a multipart upload moves its parts' files to the object in the same transaction that
  marks the upload completed: no crash can leave an upload open whose parts an object uses;
* replaced and deleted bodies are unlinked right after their transaction, orphans of a crash at the
  next open: nothing leaks.

Listing is an index range scan: the prefix bounds the scan, a delimiter's group is skipped with one
``max(key)`` lookup, the cursor (R2's, the last key covered) continues after it.

A directory written by the earlier layout (``keys/`` records, ``blobs/``, ``uploads/``) is converted
when the store first opens (:class:`FileLayoutMigration`): records and open uploads move into the
index, their value files stay where they are (referenced by their old names).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.embedded import MEMBERS
from cap_opendal_core.embedded.async_group import transact_grouped
from cap_opendal_core.embedded.blobs import read_exactly
from cap_opendal_core.embedded.handle import StoreHandle
from cap_opendal_core.embedded.store import prefix_end
from cap_opendal_core.embedded.threads import shielded, to_thread
from cap_opendal_core.errors import NotFound, Unavailable

from .. import limits
from ..conditions import condition_holds, from_epoch_ms
from ..models import R2Checksums, R2HttpMetadata, R2Object, R2ObjectBody, R2Objects, R2Range, R2UploadedPart
from ..options import STORED_CLASS, encode_cursor, stored_storage_class
from ..ranges import resolve_range
from ..spec import SPEC
from ..transfer import BytesPayload, Digests, StreamPayload, multipart_etag
from .base import NO_PRESIGN as _NO_PRESIGN
from .base import no_presign, refuse_pickling, unknown_part

if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import AsyncIterator, Callable

    from cap_opendal_core.descriptors import Descriptor
    from cap_opendal_core.embedded import Durability, Store, Txn
    from cap_opendal_core.embedded.blobs import BlobWriter
    from cap_opendal_core.layers import LayerSettings

    from ..models import PresignedRequest, R2Conditional
    from ..options import ListOptions, PutOptions
    from ..transfer import TransferSettings

__all__ = ["LOCAL_MEMBERS", "EmbeddedBackend", "FileLayoutMigration"]

LOCAL_MEMBERS: Final = (*MEMBERS, "keys", "uploads", "tmp")
"""Entries under the root that must not be symbolic links (the engine's, and the old layout's)."""
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL,
    http TEXT NOT NULL,
    custom TEXT NOT NULL,
    checksums TEXT NOT NULL,
    blobs TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bodies (
    key TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    http TEXT NOT NULL,
    custom TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parts (
    upload TEXT NOT NULL,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (upload, number)
) WITHOUT ROWID;
"""
_COLUMNS: Final = "key, version, size, etag, uploaded, http, custom, checksums, blobs"
_ROW: Final = f"SELECT {_COLUMNS} FROM objects WHERE key = ?"
_ROW_AND_BODY: Final = (
    f"SELECT {_COLUMNS}, (SELECT data FROM bodies WHERE bodies.key = objects.key) FROM objects WHERE key = ?"
)
INLINE_MAX: Final = 64 * 1024
"""A body up to this many bytes (from ``put``) is kept in the index (table ``bodies``), not a file.

Why: it is then written by the commit itself — under ``durability="full"`` one ``fsync`` (the WAL)
instead of three (value file, its directory, the WAL) — and read back by the ``SELECT`` that finds
the object. 64 KiB, as KV's values (:data:`cap_cloudflare_kv.backends.local.INLINE_MAX`): SQLite's
own measurements put the point where a file beats a blob near 100 KB, and above it a body written
once to its own file costs less than twice (WAL, then checkpoint). Bodies live in their own table so
a listing never scans them. Multipart parts always go to files (completion moves them to the object).
"""
INLINE: Final = "inline"
"""The name the object's ``blobs`` list gives a body kept in ``bodies`` (never a value file's name:
an engine that predates inline bodies refuses it loudly instead of serving an empty body)."""
INLINE_READ: Final = 64 * 1024
"""A body range up to this size, in one file, is read on the calling thread (measured: cheaper than a hop)."""
_BUFFER: Final = 1024 * 1024
_READ_ATTEMPTS: Final = 8
_UPLOAD_ID_HEX: Final = 32

Row = tuple[str, str, int, str, int, str, str, str, str]


def _to_object(row: Row, *, http: bool = True, custom: bool = True) -> R2Object:
    key, version, size, etag, uploaded, http_json, custom_json, checksums, _ = row
    return R2Object(
        key=key,
        version=version,
        size=size,
        etag=etag,
        uploaded=from_epoch_ms(uploaded),
        http_metadata=R2HttpMetadata.from_dict(json.loads(http_json)) if http else R2HttpMetadata(),
        custom_metadata=json.loads(custom_json) if custom else {},
        checksums=R2Checksums.from_dict(json.loads(checksums)),
        # only a non-Standard class is kept in the http document: skip parsing it for the rest
        storage_class=stored_storage_class(json.loads(http_json))
        if STORED_CLASS in http_json
        else "Standard",
    )


def _segments(blobs_json: str, offset: int, length: int) -> list[tuple[str, int, int]]:
    """(file, offset in file, length) covering ``[offset, offset + length)`` of the object."""
    out = []
    position = 0
    end = offset + length
    for name, size in json.loads(blobs_json):
        low, high = max(offset, position), min(end, position + size)
        if low < high:
            out.append((str(name), low - position, high - low))
        position += size
    return out


def _value_files(blobs_json: str) -> builtins.list[str]:
    """The value files an object's ``blobs`` list names (its inline body is not one)."""
    return [str(name) for name, _ in json.loads(blobs_json) if name != INLINE]


def _is_inline(blobs_json: str) -> bool:
    return any(name == INLINE for name, _ in json.loads(blobs_json))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class EmbeddedBackend:
    """R2 on one embedded store (see the module docstring)."""

    name: Final = "local"

    def __init__(
        self,
        root: str,
        transfer: TransferSettings,
        *,
        durability: Durability = "process",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._root = root
        self._transfer = transfer
        self._durability: Durability = durability
        self._clock = clock or time.time
        self._descriptor: Descriptor | None = None
        self._handle = StoreHandle(
            root, kind="r2", schema=SCHEMA, capability="r2", migration=FileLayoutMigration()
        )

    # -- protocol basics -------------------------------------------------------------------------

    @property
    def descriptor(self) -> Descriptor:
        """Built at first use, not in ``.local()``: building it loads the plugin tables (~10 ms)."""
        if self._descriptor is None:
            self._descriptor = SPEC.descriptor_for(
                "local-embedded", durability="durable", extensions=_NO_PRESIGN
            )
        return self._descriptor

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        return settings

    def check_key(self, key: str, operation: str) -> None:
        """Any R2 key fits: keys are index rows."""

    def check_put(self, options: PutOptions, operation: str) -> None:
        """Every R2 field is kept in the index."""

    def _held(self) -> Store:
        return self._handle.held()

    async def _opened(self) -> Store:
        return await self._handle.opened()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- reads -----------------------------------------------------------------------------------

    async def head(self, key: str) -> R2Object | None:
        store = await self._opened()
        with store.reading() as conn:
            row = conn.execute(_ROW, (key,)).fetchone()
        return None if row is None else _to_object(row)

    async def get(
        self, key: str, range: R2Range | None, only_if: R2Conditional | None
    ) -> R2ObjectBody | None:
        store = await self._opened()
        for _ in range_(_READ_ATTEMPTS):
            with store.reading() as conn:
                found = conn.execute(_ROW_AND_BODY, (key,)).fetchone()
            if found is None:
                return None
            row: Row = found[:9]
            inline: bytes | None = found[9]
            if only_if is not None and not condition_holds(only_if, row[3], from_epoch_ms(row[4])):
                return None
            offset, length = resolve_range(range, row[2], key=key)
            segments = _segments(row[8], offset, length)
            served = R2Range(offset=offset, length=length)
            try:
                if segments and segments[0][0] == INLINE:
                    if inline is None:
                        continue  # cannot happen in one SELECT; re-read rather than serve nothing
                    data = inline[offset : offset + length]
                    return R2ObjectBody(_to_object(row), _one(data), range=served)
                if length <= INLINE_READ and len(segments) <= 1:
                    data = store.dirs.read(*segments[0]) if segments else b""
                    return R2ObjectBody(_to_object(row), _one(data), range=served)
                fds = await to_thread(_open_all, store, segments)
            except FileNotFoundError:
                continue  # replaced or deleted after the SELECT: what does the index say now?
            reader = _Reader(fds, segments, self._transfer.read_chunk_size)
            return R2ObjectBody(_to_object(row), reader.chunks(), range=served, closer=reader.aclose)
        raise Unavailable("the object kept changing while it was being read", capability="r2", key=key)

    async def list(self, options: ListOptions) -> R2Objects:
        start_after, limit = options.emulated_page()
        store = await self._opened()
        rows, prefixes, last = await to_thread(
            _page, store, options.prefix, options.delimiter, start_after, limit
        )
        objects = tuple(
            _to_object(r, http=options.include_http_metadata, custom=options.include_custom_metadata)
            for r in rows
        )
        return R2Objects(
            objects=objects,
            truncated=last is not None,
            cursor=encode_cursor(last) if last is not None else None,
            delimited_prefixes=tuple(prefixes),
        )

    # -- writes ----------------------------------------------------------------------------------

    async def _write_body(
        self,
        store: Store,
        payload: BytesPayload | StreamPayload,
        digests: Digests,
        *,
        max_bytes: int | None,
        inline_max: int = -1,
    ) -> BlobWriter | bytes:
        """A finished value file holding the payload (discarded again if anything fails), or the
        payload's bytes when it is a stream of at most ``inline_max`` bytes."""
        durability = self._durability
        if isinstance(payload, BytesPayload):
            data = payload.data
            return await to_thread(_write_file, store, durability, data, digests)
        writer: BlobWriter | None = None
        try:
            buffer: list[bytes] = []
            buffered = 0
            async for chunk in payload.chunks:
                digests.update_part(chunk, max_bytes)
                if chunk:
                    buffer.append(bytes(chunk))
                    buffered += len(chunk)
                if buffered >= _BUFFER or (writer is None and buffered > inline_max):
                    if writer is None:
                        writer = await to_thread(store.new_blob, durability)
                    await to_thread(writer.write, b"".join(buffer))
                    buffer, buffered = [], 0
            if writer is None and buffered <= inline_max:
                return b"".join(buffer)
            if writer is None:
                writer = await to_thread(store.new_blob, durability)
            last = writer

            def flush() -> None:
                if buffer:
                    last.write(b"".join(buffer))
                last.finish()

            await to_thread(flush)
        except BaseException:
            if writer is not None:
                with shielded():
                    await to_thread(writer.discard)
            raise
        return writer

    async def put(
        self, key: str, payload: BytesPayload | StreamPayload, options: PutOptions
    ) -> R2Object | None:
        store = await self._opened()
        digests = Digests(options.checksums)
        durability = self._durability
        body: BlobWriter | bytes | None = None  # None: the bytes payload, written in the one hop
        if isinstance(payload, StreamPayload):
            body = await self._write_body(store, payload, digests, max_bytes=None, inline_max=INLINE_MAX)
        only_if = options.only_if

        def commit(txn: Txn, body: BlobWriter | bytes) -> R2Object | None:
            current = txn.execute(
                "SELECT etag, uploaded, blobs FROM objects WHERE key = ?", (key,)
            ).fetchone()
            if only_if is not None and not condition_holds(
                only_if, current[0] if current else None, from_epoch_ms(current[1]) if current else None
            ):
                return None
            uploaded = self._now_ms()
            if current is not None:
                uploaded = max(uploaded, current[1] + 1)  # upload times increase per key
                txn.release(_value_files(current[2]))
            if isinstance(body, bytes):
                size, blobs = len(body), [[INLINE, len(body)]]
                txn.execute("INSERT OR REPLACE INTO bodies (key, data) VALUES (?, ?)", (key, body))
            else:
                size, blobs = body.size, [[body.name, body.size]]
                txn.adopt(body.name, body.size)
                if current is not None and _is_inline(current[2]):
                    txn.execute("DELETE FROM bodies WHERE key = ?", (key,))
            row: Row = (
                key,
                secrets.token_hex(16),
                size,
                digests.md5,
                uploaded,
                _dumps(options.stored_http()),
                _dumps(dict(options.custom_metadata)),
                _dumps(digests.computed()),
                _dumps(blobs),
            )
            txn.execute(
                f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )
            return _to_object(row)

        if body is None and isinstance(payload, BytesPayload) and len(payload.data) <= INLINE_MAX:
            small = bytes(payload.data)  # no file to write: the commit is all the work, grouped
            digests.update(small)
            digests.verify(operation="put")
            return await transact_grouped(store, lambda txn: commit(txn, small), durability)
        if isinstance(body, bytes):
            streamed = body
            digests.verify(operation="put")
            return await transact_grouped(store, lambda txn: commit(txn, streamed), durability)
        ran: list[bool] = []

        def write_and_commit() -> R2Object | None:
            """One worker-thread hop for the whole put: file, checksum check, commit, clean-up."""
            ran.append(True)
            if body is None:
                data = payload.data if isinstance(payload, BytesPayload) else b""
                written = _write_file(store, durability, data, digests)
            else:
                written = body
            try:
                digests.verify(operation="put")
                stored = store.transact(lambda txn: commit(txn, written), durability)
            except BaseException:
                written.discard()
                raise
            if stored is None:
                written.discard()
            return stored

        try:
            return await to_thread(write_and_commit)
        except BaseException:
            if not ran and body is not None:
                with shielded():  # cancelled before the hop started: the streamed file is ours
                    await to_thread(body.discard)
            raise

    async def delete(self, keys: builtins.list[str]) -> None:
        store = await self._opened()
        unique = list(dict.fromkeys(keys))

        def commit(txn: Txn) -> None:
            for key in unique:
                row = txn.execute("DELETE FROM objects WHERE key = ? RETURNING blobs", (key,)).fetchone()
                if row is not None:
                    txn.release(_value_files(row[0]))
                    if _is_inline(row[0]):
                        txn.execute("DELETE FROM bodies WHERE key = ?", (key,))

        await transact_grouped(store, commit, self._durability)

    # -- multipart -------------------------------------------------------------------------------

    async def create_multipart_upload(self, key: str, options: PutOptions) -> str:
        store = await self._opened()
        upload_id = secrets.token_hex(_UPLOAD_ID_HEX // 2)

        def commit(txn: Txn) -> None:
            txn.execute(
                "INSERT INTO uploads (id, key, state, http, custom) VALUES (?, ?, 'open', ?, ?)",
                (
                    upload_id,
                    key,
                    _dumps(options.stored_http()),
                    _dumps(dict(options.custom_metadata)),
                ),
            )

        await to_thread(store.transact, commit, self._durability)
        return upload_id

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, payload: BytesPayload | StreamPayload
    ) -> R2UploadedPart:
        store = await self._opened()
        with store.reading() as conn:
            _open_upload(conn, key, upload_id, "upload_part")
        digests = Digests()
        writer = await self._write_body(store, payload, digests, max_bytes=limits.PART_MAX_BYTES)
        assert not isinstance(writer, bytes)  # parts are never inline (inline_max=-1)

        def commit(txn: Txn) -> None:
            _open_upload(txn.conn, key, upload_id, "upload_part")  # not completed meanwhile
            old = txn.execute(
                "DELETE FROM parts WHERE upload = ? AND number = ? RETURNING blob", (upload_id, part_number)
            ).fetchone()
            if old is not None:
                txn.release([old[0]])
            txn.adopt(writer.name, writer.size)
            txn.execute(
                "INSERT INTO parts (upload, number, size, md5, blob) VALUES (?, ?, ?, ?, ?)",
                (upload_id, part_number, writer.size, digests.md5, writer.name),
            )

        try:
            await to_thread(store.transact, commit, self._durability)
        except BaseException:
            with shielded():
                await to_thread(writer.discard)
            raise
        return R2UploadedPart(part_number=part_number, etag=digests.md5)

    async def complete_multipart_upload(
        self, key: str, upload_id: str, parts: builtins.list[R2UploadedPart]
    ) -> R2Object:
        from .local import _check_part_sizes

        store = await self._opened()

        def commit(txn: Txn) -> R2Object:
            http, custom = _open_upload(txn.conn, key, upload_id, "complete_multipart_upload")
            stored = {
                number: (size, md5, blob)
                for number, size, md5, blob in txn.execute(
                    "SELECT number, size, md5, blob FROM parts WHERE upload = ?", (upload_id,)
                )
            }
            chosen = []
            for part in parts:
                found = stored.get(part.part_number)
                if found is None or found[1] != part.etag:
                    raise unknown_part(part.part_number, key)
                chosen.append(found)
            _check_part_sizes([size for size, _, _ in chosen], key)
            current = txn.execute("SELECT uploaded, blobs FROM objects WHERE key = ?", (key,)).fetchone()
            uploaded = self._now_ms()
            if current is not None:
                uploaded = max(uploaded, current[0] + 1)
                txn.release(_value_files(current[1]))
                if _is_inline(current[1]):
                    txn.execute("DELETE FROM bodies WHERE key = ?", (key,))
            kept = {blob for _, _, blob in chosen}
            txn.release(blob for _, _, blob in stored.values() if blob not in kept)
            txn.execute("DELETE FROM parts WHERE upload = ?", (upload_id,))
            txn.execute("UPDATE uploads SET state = 'completed' WHERE id = ?", (upload_id,))
            row: Row = (
                key,
                secrets.token_hex(16),
                sum(size for size, _, _ in chosen),
                multipart_etag(md5 for _, md5, _ in chosen),
                uploaded,
                http,
                custom,
                "{}",
                _dumps([[blob, size] for size, _, blob in chosen]),
            )
            txn.execute(
                f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )
            return _to_object(row)

        return await to_thread(store.transact, commit, self._durability)

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        store = await self._opened()

        def commit(txn: Txn) -> None:
            found = txn.execute("SELECT key, state FROM uploads WHERE id = ?", (upload_id,)).fetchone()
            if found is None or found[0] != key:
                raise NotFound(
                    "the specified multipart upload does not exist",
                    capability="r2",
                    operation="abort_multipart_upload",
                    key=key,
                )
            if found[1] != "open":
                return  # already completed or aborted: nothing to give up (as R2 answers)
            blobs = txn.execute("DELETE FROM parts WHERE upload = ? RETURNING blob", (upload_id,)).fetchall()
            txn.release(blob for (blob,) in blobs)
            txn.execute("UPDATE uploads SET state = 'aborted' WHERE id = ?", (upload_id,))

        await to_thread(store.transact, commit, self._durability)

    # -- the rest --------------------------------------------------------------------------------

    async def presign(
        self, key: str, method: str, expires_in: int, content_type: str | None
    ) -> PresignedRequest:
        raise no_presign(
            key,
            "presigned URLs need the S3 backend; a local bucket has no URL to sign",
        )

    async def aclose(self) -> None:
        await self._handle.aclose()

    def __reduce__(self) -> Any:
        return refuse_pickling(self)

    def __repr__(self) -> str:
        return f"EmbeddedBackend(root={self._root!r}, durability={self._durability!r})"


range_ = range  # ``range`` is a parameter name in get()


def _open_upload(conn: sqlite3.Connection, key: str, upload_id: str, operation: str) -> tuple[str, str]:
    """The open upload's (http, custom) metadata JSON, or ``NotFound``."""
    found = conn.execute("SELECT key, state, http, custom FROM uploads WHERE id = ?", (upload_id,)).fetchone()
    if found is None or found[0] != key or found[1] != "open":
        raise NotFound(
            "the specified multipart upload does not exist (never created, completed or aborted)",
            capability="r2",
            operation=operation,
            key=key,
        )
    return found[2], found[3]


def _write_file(store: Store, durability: Durability, data: bytes, digests: Digests) -> BlobWriter:
    """``data`` in a new, finished value file (removed again if writing fails)."""
    digests.update(data)
    writer = store.new_blob(durability)
    try:
        writer.write(data)
        writer.finish()
    except BaseException:
        writer.discard()
        raise
    return writer


def _open_all(store: Store, segments: list[tuple[str, int, int]]) -> list[int]:
    """A descriptor per segment's file — all open before the body is returned (see the module doc)."""
    fds: list[int] = []
    try:
        for name, _, _ in segments:
            fds.append(store.dirs.open(name))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


class _Reader:
    """Streams the segments of a body from descriptors opened before the call returned."""

    def __init__(self, fds: list[int], segments: list[tuple[str, int, int]], chunk: int) -> None:
        self._fds: list[int] | None = fds
        self._segments = segments
        self._chunk = chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            fds = self._fds or []
            for fd, (_, offset, length) in zip(fds, self._segments, strict=True):
                position = 0
                while position < length:
                    size = min(self._chunk, length - position)
                    data = await to_thread(read_exactly, fd, offset + position, size, "r2")
                    position += size
                    yield data
        finally:
            self.close()

    def close(self) -> None:
        fds, self._fds = self._fds, None
        for fd in fds or ():
            with contextlib.suppress(OSError):
                os.close(fd)

    async def aclose(self) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


def _page(
    store: Store, prefix: str, delimiter: str | None, start_after: str | None, limit: int
) -> tuple[builtins.list[Row], builtins.list[str], str | None]:
    """One page: objects, delimited prefixes, and the last key covered when more follows (else None).

    The same page as :func:`cap_cloudflare_r2.listing.page_of` computes, from index range scans: a
    group (keys sharing the prefix up to the delimiter) counts once and is skipped to its greatest key.
    """
    upper = prefix_end(prefix) if prefix else None
    bound = "" if upper is None else " AND key < CAST(? AS TEXT)"
    objects: builtins.list[Row] = []
    groups: builtins.list[str] = []
    count = 0
    position = start_after if start_after is not None and start_after >= prefix else None
    with store.reading() as conn:

        def next_rows(n: int) -> builtins.list[Row]:
            if position is None:
                sql = f"SELECT {_COLUMNS} FROM objects WHERE key >= ?{bound} ORDER BY key LIMIT ?"
                params: builtins.list[Any] = [prefix]
            else:
                sql = f"SELECT {_COLUMNS} FROM objects WHERE key > ?{bound} ORDER BY key LIMIT ?"
                params = [position]
            if upper is not None:
                params.append(upper)
            return conn.execute(sql, [*params, n]).fetchall()

        while count < limit:
            rows = next_rows(limit - count)
            if not rows:
                return objects, groups, None
            for row in rows:
                key = row[0]
                found = key.find(delimiter, len(prefix)) if delimiter else -1
                if found >= 0:
                    group = key[: found + len(delimiter or "")]
                    groups.append(group)
                    count += 1
                    group_end = prefix_end(group)
                    last = conn.execute(
                        "SELECT max(key) FROM objects WHERE key >= ?"
                        + ("" if group_end is None else " AND key < CAST(? AS TEXT)"),
                        [group] if group_end is None else [group, group_end],
                    ).fetchone()[0]
                    position = last
                    break  # the rows fetched after the group may be inside it: scan again after it
                objects.append(row)
                count += 1
                position = key
        more = next_rows(1)
        return objects, groups, position if more else None


# --- the earlier layout --------------------------------------------------------------------------


class FileLayoutMigration:
    """Converts a directory of the earlier layout (``keys/``, ``uploads/``, ``tmp/``, ``blobs/xx/``)."""

    name = "r2-files-1"

    def present(self, root: str) -> bool:
        return any(os.path.lexists(os.path.join(root, name)) for name in ("keys", "uploads", "tmp"))

    def import_into(self, store: Store, txn: Txn) -> None:
        from cap_opendal_core.localfs import check_inside

        root = store.root
        for member in ("keys", "uploads"):
            check_inside(root, member, capability="r2", operation="open")
        for _, data in _files(os.path.join(root, "keys"), ".json"):
            doc = json.loads(data)
            key = str(doc["key"])
            blobs = [[str(name), int(size)] for name, size in doc["blobs"]]
            for name, size in blobs:
                txn.execute("INSERT OR IGNORE INTO blob_refs (name, size) VALUES (?, ?)", (name, size))
            txn.execute(
                f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    str(doc["version"]),
                    int(doc["size"]),
                    str(doc["etag"]),
                    int(doc["uploaded"]),
                    _dumps(doc.get("http", {})),
                    _dumps(doc.get("custom", {})),
                    _dumps(doc.get("checksums", {})),
                    _dumps(blobs),
                ),
            )
        uploads = os.path.join(root, "uploads")
        for upload_id in sorted(os.listdir(uploads)) if os.path.isdir(uploads) else []:
            try:
                with open(os.path.join(uploads, upload_id, "upload.json"), "rb") as file:
                    doc = json.loads(file.read())
            except (FileNotFoundError, NotADirectoryError):
                continue
            if doc.get("state") != "open":
                continue
            txn.execute(
                "INSERT OR IGNORE INTO uploads (id, key, state, http, custom) VALUES (?, ?, 'open', ?, ?)",
                (upload_id, str(doc["key"]), _dumps(doc.get("http", {})), _dumps(doc.get("custom", {}))),
            )
            for _, data in _files(os.path.join(uploads, upload_id, "parts"), ".json"):
                part = json.loads(data)
                txn.execute(
                    "INSERT OR IGNORE INTO blob_refs (name, size) VALUES (?, ?)", (part["blob"], part["size"])
                )
                txn.execute(
                    "INSERT OR REPLACE INTO parts (upload, number, size, md5, blob) VALUES (?, ?, ?, ?, ?)",
                    (upload_id, int(part["part"]), int(part["size"]), str(part["md5"]), str(part["blob"])),
                )

    def remove_old(self, store: Store) -> None:
        root = store.root
        for name in ("keys", "uploads", "tmp"):
            path = os.path.join(root, name)
            if not os.path.islink(path):
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(path)
        with store.reading() as conn:
            referenced = {
                name for (name,) in conn.execute("SELECT name FROM blob_refs WHERE length(name) = 41")
            }  # blobs/xx/<32 hex>: the old layout's names
        blobs = os.path.join(root, "blobs")
        for directory in os.listdir(blobs) if os.path.isdir(blobs) else []:
            path = os.path.join(blobs, directory)
            if len(directory) != 2 or os.path.islink(path):
                continue
            for file in os.listdir(path):
                if f"blobs/{directory}/{file}" not in referenced:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(path, file))
            with contextlib.suppress(OSError):
                os.rmdir(path)


def _files(top: str, suffix: str) -> builtins.list[tuple[str, bytes]]:
    """Every regular file under ``top`` ending in ``suffix`` (links never followed), with its bytes."""
    out = []
    for directory, subdirs, files in os.walk(top, followlinks=False):
        for file in files:
            path = os.path.join(directory, file)
            if file.endswith(suffix) and not os.path.islink(path):
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                with os.fdopen(fd, "rb") as handle:
                    out.append((path, handle.read()))
        subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(directory, d))]
    return out
