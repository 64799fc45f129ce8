"""Workers KV semantics on any OpenDAL operator: ``fs`` (the embedded default), ``memory``, ``s3`` …

Each key is one object (:mod:`.layout` names it, :mod:`.record` lays it out): value, metadata and
expiration are written together in one write, so readers never see a torn entry. On ``fs`` each write
is made by :func:`cap_opendal_core.localfs.write_replacing`: the record lands in a fresh file under
``<root>/.tmp`` that is renamed into place — a crash mid-write leaves the previous value whole, a
failed write (a full disk, a file-size limit) leaves nothing, and no symbolic link planted in the
directory is followed. Reads, deletes and listings on ``fs`` refuse such links too (``Misconfigured``).

Expiration follows the capability's clock (injectable, so tests pass time without sleeping).
Expired entries are invisible to reads and listings and are reclaimed: lazily, when a read or a
listing meets one, and all at once by :meth:`OpendalBackend.purge_expired`. A reclaimer deletes an
entry only if it still holds the write it found expired (the record's write id), and never while
this backend is writing that key; another *process* writing the same key in the instant between the
check and the delete can still lose that write — the one race a store without conditional deletes
leaves open.

Listing sorts keys by their UTF-8 bytes (what Cloudflare does). OpenDAL's ``memory`` and ``fs``
services list in no order and cannot start after a given name, so a listing scans the key names
once, sorts them, and keeps that sorted snapshot for the pages that follow: the cursor names the last
key examined (so it keeps working after a restart or any change: the next page starts after it) and
the snapshot it came from. Continuation pages reuse a snapshot younger than
:data:`SNAPSHOT_MAX_AGE` seconds; writes made through this backend update the snapshots, and each
listed key's header is read so deleted or expired keys never appear. A fresh listing (no cursor)
always scans again. How names are found and headers read is :mod:`.listing`'s business (on ``fs``,
straight from the directory).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import os
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import anyio
from opendal import exceptions as odx

from cap_opendal_core.localfs import local_root, write_replacing
from cap_opendal_core.operators.build import defer_to_native_layers
from cap_opendal_core.sync import in_caller_thread

from ..codec import decode_metadata, decode_value
from ..limits import BULK_GET_MAX_KEYS
from ..models import KvKey, KvListResult, KvValueWithMetadata, PreparedWrite, ValueType
from ..streams import KvStream
from .base import chunked, foreign_cursor
from .layout import PREFIX, key_to_path
from .listing import DirectoryListing, Listing, OperatorListing, map_bounded
from .not_found import raise_unless_missing_key
from .record import HEADER_SIZE, Head, encode, parse_head

if TYPE_CHECKING:
    from collections.abc import Callable

    import opendal

    from cap_opendal_core.descriptors import Descriptor
    from cap_opendal_core.layers import LayerSettings
    from cap_opendal_core.operators.config import ServiceConfig

__all__ = ["SNAPSHOT_MAX_AGE", "OpendalBackend", "open_backend"]

SNAPSHOT_MAX_AGE: Final = 30.0
"""Seconds a listing's sorted snapshot of key names serves its continuation pages."""
_MAX_SNAPSHOTS: Final = 4
_CONCURRENCY: Final = 8
"""Reads or writes in flight at once when one call touches many keys (get_many, listings …)."""
_STREAM_CHUNK: Final = 64 * 1024
_CURSOR_VERSION: Final = 1
_TOKEN_BYTES: Final = 4
_NOT_FOUND = odx.NotFound
_LOCAL_SCHEMES: Final = frozenset({"memory", "fs"})
"""Services whose I/O is local: a sync call does it in its caller's thread (see ``in_caller_thread``)."""


@dataclass
class _Snapshot:
    """Key names seen by one scan, sorted, with their object sizes (to size header reads)."""

    names: list[str]
    sizes: dict[str, int]
    token: bytes = field(default_factory=lambda: os.urandom(_TOKEN_BYTES))
    taken: float = field(default_factory=time.monotonic)


class OpendalBackend:
    """KV on one ``opendal.AsyncOperator``; see the module docstring."""

    name = "opendal"
    asyncio_only = True
    """OpenDAL's AsyncOperator runs only under asyncio (the pipeline refuses trio with ``Unsupported``)."""

    def __init__(
        self,
        operator: opendal.AsyncOperator,
        *,
        description: str,
        descriptor: Descriptor,
        clock: Callable[[], float] | None = None,
        listing: Listing | None = None,
        files: str | None = None,
        runs_in_caller: bool = False,
    ) -> None:
        self._op = operator
        self.runs_in_caller = runs_in_caller
        """A local service (memory, fs): sync calls run in their caller's thread, with blocking I/O."""
        self._blocking_op: opendal.Operator | None = None
        self._files = files
        """On ``fs``, the root directory: writes are made there directly (see the module docstring)."""
        self._listing: Listing = OperatorListing(operator) if listing is None else listing
        self._description = description
        self.descriptor = descriptor
        self.clock: Callable[[], float] = time.time if clock is None else clock
        self._writing: dict[str, int] = {}
        self._reclaiming: dict[str, anyio.Event] = {}
        self._snapshots: OrderedDict[bytes, _Snapshot] = OrderedDict()
        self._ids = random.Random()

    # -- capability plumbing ---------------------------------------------------------------------

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        # the operator carries OpenDAL's own retry/concurrency layers (build_operator applied them)
        return defer_to_native_layers(settings)

    def describe(self) -> str:
        return self._description

    async def aclose(self) -> None:
        self._snapshots.clear()

    def _blocking(self) -> opendal.Operator:
        """OpenDAL's blocking ``Operator`` on the same service, layers and data (made once; two
        threads racing here each make an equal one, and one is kept)."""
        op = self._blocking_op
        if op is None:
            op = self._blocking_op = self._op.to_operator()  # needs a running loop: the caller's
        return op

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, key: str, value_type: ValueType, cache_ttl: int | None) -> Any:
        if value_type == "stream":
            opened = await self._open_stream(key)
            return None if opened is None else opened[0]
        found = await self._read_live(key)
        if found is None:
            return None
        blob, head = found
        return decode_value(blob[head.value_offset :], value_type, operation="get", key=key)

    async def get_with_metadata(
        self, key: str, value_type: ValueType, cache_ttl: int | None
    ) -> KvValueWithMetadata:
        if value_type == "stream":
            opened = await self._open_stream(key)
            return KvValueWithMetadata(None, None) if opened is None else KvValueWithMetadata(*opened)
        live = await self._read_live(key, "get_with_metadata")
        if live is None:
            return KvValueWithMetadata(None, None)
        blob, head = live
        value = decode_value(blob[head.value_offset :], value_type, operation="get_with_metadata", key=key)
        return KvValueWithMetadata(value, _metadata_of(blob, head))

    async def get_many(self, keys: list[str], value_type: ValueType) -> dict[str, Any]:
        async def one(key: str) -> Any:
            found = await self._read_live(key, "get_many")
            if found is None:
                return None
            blob, head = found
            return decode_value(blob[head.value_offset :], value_type, operation="get_many", key=key)

        out: dict[str, Any] = {}
        for chunk in chunked(list(dict.fromkeys(keys)), BULK_GET_MAX_KEYS):
            values = await map_bounded(one, chunk, _CONCURRENCY)
            out.update(zip(chunk, values, strict=True))
        return out

    async def _read_live(self, key: str, operation: str = "get") -> tuple[bytes, Head] | None:
        """The whole record of ``key`` if it exists and has not expired (an expired one is reclaimed)."""
        path = key_to_path(key)
        try:
            blob = self._blocking().read(path) if in_caller_thread() else await self._op.read(path)
        except _NOT_FOUND as exc:
            raise_unless_missing_key(exc, operation=operation, key=key)
            return None
        head = parse_head(blob, key)
        if head.meta_end > len(blob):
            raise _truncated(key)
        if head.expires_at is not None and head.expires_at <= self.clock():
            await self._reclaim(key, path, head.write_id)
            return None
        return blob, head

    async def _live_head(self, key: str, raw: bytes) -> tuple[Head, bytes] | None:
        """Parse the first bytes of ``key``'s record; None (and reclaimed) when it has expired."""
        head = parse_head(raw, key)
        if head.meta_end > len(raw):
            raise _truncated(key)
        if head.expires_at is not None and head.expires_at <= self.clock():
            await self._reclaim(key, key_to_path(key), head.write_id)
            return None
        return head, raw

    async def _open_stream(self, key: str) -> tuple[KvStream, Any] | None:
        """The value of ``key`` as a stream, with its metadata (None when missing or expired).

        A first read of the header through the operator tells a missing key from a missing bucket
        (see :mod:`.not_found`); then the object is opened, and the header and metadata read from
        the open object decide: whatever write it holds is streamed, with that write's metadata.
        """
        path = key_to_path(key)
        try:
            await self._op.read(path, size=HEADER_SIZE)
        except _NOT_FOUND as exc:
            raise_unless_missing_key(exc, operation="get", key=key)
            return None
        except odx.RangeNotSatisfied:  # shorter than a header: not a record (parse_head says so)
            parse_head(await self._op.read(path), key)
        file = await self._op.open(path, "rb")
        try:
            try:
                raw = await _read_exact(file, HEADER_SIZE)
            except OSError as exc:  # AsyncFile reports OpenDAL errors as OSError: deleted meanwhile
                if str(exc).startswith("NotFound"):
                    await file.close()
                    return None
                raise
            head = parse_head(raw, key)
            raw += await _read_exact(file, head.meta_end - HEADER_SIZE)
            if len(raw) < head.meta_end:
                raise _truncated(key)
            if head.expires_at is not None and head.expires_at <= self.clock():
                await file.close()
                await self._reclaim(key, path, head.write_id)
                return None
        except BaseException:
            with anyio.CancelScope(shield=True):
                await file.close()
            raise

        async def chunks() -> Any:
            while True:
                data = await file.read(_STREAM_CHUNK)
                if not data:
                    return
                yield bytes(data)

        return KvStream(chunks(), key=key, on_close=file.close), _metadata_of(raw, head)

    # -- writes ----------------------------------------------------------------------------------

    async def put(self, write: PreparedWrite) -> None:
        path = key_to_path(write.key)
        pending = self._reclaiming.get(path)
        if pending is not None:  # let an in-flight reclaim of the old entry finish first
            await pending.wait()
        blob = encode(write.data, write.metadata_json, write.expires_at, self._ids.getrandbits(64))
        writing = self._writing
        writing[path] = writing.get(path, 0) + 1
        try:
            if in_caller_thread():  # a sync call, in its own thread: write here, blocking
                if self._files is None:
                    self._blocking().write(path, blob)
                else:
                    _write_file(self._files, path, blob)
            elif self._files is None:
                await self._op.write(path, blob)
            else:
                await anyio.to_thread.run_sync(_write_file, self._files, path, blob)
        finally:
            left = writing[path] - 1
            if left:
                writing[path] = left
            else:
                del writing[path]
        if self._snapshots:
            self._remember(write.key, len(blob))

    async def put_many(self, writes: list[PreparedWrite]) -> None:
        # the last write of a key wins, as it would if the writes were made one after another
        latest = {write.key: write for write in writes}
        await map_bounded(self.put, list(latest.values()), _CONCURRENCY)

    async def delete(self, key: str) -> None:
        if in_caller_thread():
            self._blocking().delete(key_to_path(key))
        else:
            await self._op.delete(key_to_path(key))
        if self._snapshots:
            self._forget(key)

    async def delete_many(self, keys: list[str]) -> None:
        await map_bounded(self.delete, list(dict.fromkeys(keys)), _CONCURRENCY)

    async def _reclaim(self, key: str, path: str, write_id: int) -> None:
        """Delete ``key``'s expired entry if it is still the write ``write_id`` (see the module doc)."""
        if path in self._writing or path in self._reclaiming:
            return
        done = anyio.Event()
        self._reclaiming[path] = done
        try:
            try:
                raw = await self._op.read(path, size=HEADER_SIZE)
            except (_NOT_FOUND, odx.RangeNotSatisfied):
                return
            if parse_head(raw, key).write_id == write_id and path not in self._writing:
                await self._op.delete(path)
                self._forget(key)
        finally:
            del self._reclaiming[path]
            done.set()

    async def purge_expired(self) -> int:
        """Delete every expired entry now; returns how many were found expired."""
        snapshot = await self._scan()
        now = self.clock()
        expired = 0
        for batch in chunked(snapshot.names, 1000):
            heads = await self._listing.heads(batch, snapshot.sizes)
            for name, raw in zip(batch, heads, strict=True):
                if raw is None:
                    continue
                head = parse_head(raw, name)
                if head.expires_at is not None and head.expires_at <= now:
                    expired += 1
                    await self._reclaim(name, key_to_path(name), head.write_id)
        return expired

    # -- listing ---------------------------------------------------------------------------------

    def check_cursor(self, cursor: str, operation: str) -> None:
        _decode_cursor(cursor, operation)

    async def list(self, prefix: str | None, limit: int, cursor: str | None) -> KvListResult:
        after: str | None = None
        snapshot: _Snapshot | None = None
        if cursor is not None:
            token, after = _decode_cursor(cursor, "list")
            snapshot = self._snapshots.get(token)
            if snapshot is not None and time.monotonic() - snapshot.taken > SNAPSHOT_MAX_AGE:
                snapshot = None
        if snapshot is None:
            snapshot = await self._scan()
        self._snapshots.move_to_end(snapshot.token)

        # Index positions are recomputed from names after every await: writes through this backend
        # insert into and delete from the snapshot while a page is being read.
        names = snapshot.names
        sizes = snapshot.sizes
        keys: list[KvKey] = []
        last = after  # the last name examined
        while len(keys) < limit:
            i = _first_after(names, last, prefix)
            batch: list[str] = []
            while i < len(names) and len(batch) < limit - len(keys):
                name = names[i]
                if prefix is not None and not name.startswith(prefix):
                    break  # sorted: nothing further has the prefix
                batch.append(name)
                i += 1
            if not batch:
                break
            last = batch[-1]
            heads = await self._listing.heads(batch, sizes)
            for name, raw in zip(batch, heads, strict=True):
                found = None if raw is None else await self._live_head(name, raw)
                if found is not None:
                    head, raw = found
                    keys.append(KvKey(name, head.expires_at, _metadata_of(raw, head)))
        i = _first_after(names, last, prefix)
        more = i < len(names) and (prefix is None or names[i].startswith(prefix))
        if not more or last is None:
            return KvListResult(tuple(keys), True, None)
        return KvListResult(tuple(keys), False, _encode_cursor(snapshot.token, last))

    async def _scan(self) -> _Snapshot:
        """Every key name under the layout's prefix, sorted by UTF-8 bytes (= by code point)."""
        names, sizes = await self._listing.scan()
        names.sort()
        snapshot = _Snapshot(names, sizes)
        self._snapshots[snapshot.token] = snapshot
        while len(self._snapshots) > _MAX_SNAPSHOTS:
            self._snapshots.popitem(last=False)
        return snapshot

    def _remember(self, key: str, size: int) -> None:
        for snapshot in self._snapshots.values():
            names = snapshot.names
            i = bisect.bisect_left(names, key)
            if i == len(names) or names[i] != key:
                names.insert(i, key)
            snapshot.sizes[key] = size

    def _forget(self, key: str) -> None:
        for snapshot in self._snapshots.values():
            names = snapshot.names
            i = bisect.bisect_left(names, key)
            if i < len(names) and names[i] == key:
                del names[i]
            snapshot.sizes.pop(key, None)


# --- construction --------------------------------------------------------------------------------

ATOMIC_DIR: Final = ".tmp"
"""On ``fs``, where writes are staged before being renamed into place (inside the root: same disk)."""
FS_MEMBERS: Final = (PREFIX.rstrip("/"), ATOMIC_DIR)
"""The store's own entries under an ``fs`` root: neither may be a symbolic link."""


def _write_file(root: str, path: str, blob: bytes) -> None:
    write_replacing(root, path, blob, staging=ATOMIC_DIR, capability="kv")


def open_backend(
    config: ServiceConfig, settings: LayerSettings, clock: Callable[[], float] | None
) -> OpendalBackend:
    """An :class:`OpendalBackend` on the operator ``config`` describes, with OpenDAL's native layers.

    On ``fs`` the root is checked and resolved once (:func:`~cap_opendal_core.localfs.local_root`)
    and KV writes its records itself, staged in ``<root>/.tmp`` and renamed into place: KV promises
    that a crash mid-write never leaves a torn value, and only a rename into place gives that on a
    disk. An ``atomic_write_dir`` in the configuration is therefore not used.
    """
    from cap_opendal_core.operators.build import build_operator
    from cap_opendal_core.operators.config import FsConfig, describe_config

    from ..info import descriptor_for

    root: str | None = None
    description = describe_config(config)
    if isinstance(config, FsConfig):
        from cap_opendal_core.embedded.layouts import refuse_engine_directory

        root = local_root(config.root, capability="kv", operation="open", members=FS_MEMBERS)
        refuse_engine_directory(root, capability="kv")
        config = FsConfig(root=root)
        description = describe_config(FsConfig(root=root, atomic_write_dir=os.path.join(root, ATOMIC_DIR)))
    operator = build_operator(config, settings, capability="kv")
    return OpendalBackend(
        operator,
        description=description,
        descriptor=descriptor_for(config.scheme),
        clock=clock,
        listing=None if root is None else DirectoryListing(root),
        files=root,
        runs_in_caller=config.scheme in _LOCAL_SCHEMES,
    )


# --- helpers -------------------------------------------------------------------------------------


def _first_after(names: list[str], last: str | None, prefix: str | None) -> int:
    """Index of the first name after ``last`` (or the first at all) that could carry ``prefix``."""
    i = 0 if last is None else bisect.bisect_right(names, last)
    if prefix is not None:
        i = max(i, bisect.bisect_left(names, prefix))
    return i


def _metadata_of(raw: bytes, head: Head) -> Any:
    if head.meta_end == HEADER_SIZE:
        return None
    return decode_metadata(raw[HEADER_SIZE : head.meta_end])


def _truncated(key: str) -> Exception:
    from cap_opendal_core.errors import BackendError

    return BackendError(
        "the stored object for this key is truncated (shorter than its header says)",
        capability="kv",
        key=key,
        retryable=False,
    )


async def _read_exact(file: Any, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        data = await file.read(size - got)
        if not data:
            break
        parts.append(bytes(data))
        got += len(data)
    return b"".join(parts)


def _encode_cursor(token: bytes, after: str) -> str:
    raw = bytes([_CURSOR_VERSION]) + token + after.encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, operation: str) -> tuple[bytes, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) <= 1 + _TOKEN_BYTES or raw[0] != _CURSOR_VERSION:
            raise ValueError("not a cursor")
        return raw[1 : 1 + _TOKEN_BYTES], raw[1 + _TOKEN_BYTES :].decode("utf-8")
    except (binascii.Error, ValueError):
        raise foreign_cursor(operation) from None
