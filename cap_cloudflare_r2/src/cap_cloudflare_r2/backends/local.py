"""The ``local`` backend: R2's behaviour on any OpenDAL operator that cannot give it natively.

OpenDAL's ``fs`` and ``memory`` services keep bytes under paths, and little else: no etags, no
conditional writes, no user metadata (memory) or content type (fs), paths that cannot hold every R2
key (``a`` and ``a/b`` both, ``..``, 1024-byte names). Every one of those gaps is filled here, once,
by storing each object as two things under the operator's root:

* ``keys/<hex of the key, 200 digits per path segment>.json`` — the object's **record**: key, size,
  etag (MD5 hex for one upload; ``md5-of-md5s-N`` for multipart), upload time (ms), version, HTTP
  and custom metadata, checksums, and the blob(s) holding its bytes. Hex makes any key a safe,
  case-insensitive-filesystem-proof file name that cannot escape the root; the segments keep each
  name under 255 bytes.
* ``blobs/<2 hex>/<32 hex>`` — immutable bytes, written once under a fresh random name.

Crash consistency: a write streams its bytes into a new blob first (invisible: nothing points at
it), then replaces the record in one step — on ``fs`` by writing ``tmp/<random>`` and renaming it
over the record (atomic on POSIX), on ``memory`` by a single write (atomic in-process) — and only
then deletes the blobs the old record named. A reader follows the record it read to blobs that are
never rewritten, so it sees the old object or the new one, never a mix; an open blob stays readable
after it is unlinked. A crash can only leave unreferenced blobs or ``tmp/`` files behind (garbage,
never visible). Deletion removes the record, then the blobs. A write that fails (a full disk, a file
size limit) deletes what it had written — the new blob, the ``tmp/`` file — before the error
(``LimitExceeded`` naming the cause) propagates, so the space is free again at once.

On ``fs`` every path is checked before use: a symbolic link below the root (``keys/``, ``blobs/``, a
record's parent, a record) is never followed; the call fails with ``Misconfigured`` (see
:mod:`cap_opendal_core.localfs` and :mod:`cap_opendal_core.operators.confined`).

Conditions (``only_if``) are evaluated and the record replaced under one lock per bucket root, shared
by every ``R2Bucket`` on that directory in this process; two *processes* on one directory each stay
crash-consistent, but their conditional writes are not atomic with respect to each other.

Multipart uploads live under ``uploads/<upload id>/``: ``upload.json`` (key, metadata, state) and
``parts/<n>.json`` per part (size, MD5, its blob). Completing writes the object's record naming the
parts' blobs (no copy), then marks the upload completed and drops the unused parts; aborting never
deletes a blob the key's current record names, so a crash between those steps cannot corrupt an
object. Finished uploads keep a small tombstone, so ``complete`` twice says "no such upload".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.errors import (
    BackendError,
    InvalidInput,
    NotFound,
    Unavailable,
)

from .. import limits
from ..conditions import condition_holds, from_epoch_ms
from ..listing import page_of
from ..models import R2Checksums, R2HttpMetadata, R2Object, R2ObjectBody, R2Objects, R2Range, R2UploadedPart
from ..options import encode_cursor, stored_storage_class
from ..ranges import resolve_range
from ..spec import SPEC
from ..transfer import BytesPayload, Digests, StreamPayload, multipart_etag
from .base import NO_PRESIGN as _NO_PRESIGN
from .base import OperatorBacked, gather_bounded, no_presign, refuse_pickling, unknown_part

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncGenerator, AsyncIterator, Callable

    import opendal

    from cap_opendal_core.operators import OperatorCapabilities, ServiceConfig

    from ..models import PresignedRequest, R2Conditional
    from ..options import ListOptions, PutOptions
    from ..transfer import TransferSettings

__all__ = ["LocalBackend", "key_from_record_path", "record_path"]

LAYOUT_VERSION: Final = 1
RECORDS: Final = "keys/"
BLOBS: Final = "blobs/"
UPLOADS: Final = "uploads/"
TMP: Final = "tmp/"
FS_MEMBERS: Final = tuple(name.rstrip("/") for name in (RECORDS, BLOBS, UPLOADS, TMP))
"""The store's own entries under an ``fs`` root: none may be a symbolic link."""
SEGMENT_HEX: Final = 200
_UPLOAD_ID: Final = re.compile(r"[0-9a-f]{32}")
_BLOB_PATH: Final = re.compile(r"blobs/[0-9a-f]{2}/[0-9a-f]{32}")
_READ_ATTEMPTS: Final = 3
_PAGE_READS: Final = 16

# one commit lock per (event loop, bucket root): R2Buckets on the same directory share it
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def record_path(key: str) -> str:
    """Where the record of ``key`` lives: its UTF-8 bytes in hex, cut into 200-digit segments."""
    digits = key.encode("utf-8").hex()
    segments = [digits[i : i + SEGMENT_HEX] for i in range(0, len(digits), SEGMENT_HEX)]
    return RECORDS + "/".join(segments) + ".json"


def key_from_record_path(path: str) -> str | None:
    """Inverse of :func:`record_path`; None for anything else (directories, stray files)."""
    if not path.startswith(RECORDS) or not path.endswith(".json"):
        return None
    try:
        return bytes.fromhex(path[len(RECORDS) : -len(".json")].replace("/", "")).decode("utf-8")
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Record:
    key: str
    version: str
    size: int
    etag: str
    uploaded_ms: int
    http: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    blobs: tuple[tuple[str, int], ...] = ()

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": LAYOUT_VERSION,
                "key": self.key,
                "version": self.version,
                "size": self.size,
                "etag": self.etag,
                "uploaded": self.uploaded_ms,
                "http": self.http,
                "custom": self.custom,
                "checksums": self.checksums,
                "blobs": [list(b) for b in self.blobs],
            },
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes, key: str) -> _Record:
        try:
            doc = json.loads(data)
            blobs = tuple((str(p), int(n)) for p, n in doc["blobs"])
            record = cls(
                key=doc["key"],
                version=doc["version"],
                size=int(doc["size"]),
                etag=doc["etag"],
                uploaded_ms=int(doc["uploaded"]),
                http=dict(doc["http"]),
                custom={str(k): str(v) for k, v in doc["custom"].items()},
                checksums={str(k): str(v) for k, v in doc["checksums"].items()},
                blobs=blobs,
            )
            valid = (
                doc.get("v") == LAYOUT_VERSION
                and record.key == key
                and all(_BLOB_PATH.fullmatch(p) for p, _ in blobs)
                and sum(n for _, n in blobs) == record.size
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            valid = False
        if not valid:
            raise BackendError(
                f"the local record of this object is unreadable (layout v{LAYOUT_VERSION} expected)",
                capability="r2",
                key=key,
            )
        return record

    def to_object(self, *, http: bool = True, custom: bool = True) -> R2Object:
        return R2Object(
            key=self.key,
            version=self.version,
            size=self.size,
            etag=self.etag,
            uploaded=from_epoch_ms(self.uploaded_ms),
            http_metadata=R2HttpMetadata.from_dict(self.http) if http else R2HttpMetadata(),
            custom_metadata=dict(self.custom) if custom else {},
            checksums=R2Checksums.from_dict(self.checksums),
            storage_class=stored_storage_class(self.http),
        )


class LocalBackend(OperatorBacked):
    """R2 on an OpenDAL operator without native object metadata (see the module docstring)."""

    name: Final = "local"

    def __init__(
        self,
        config: ServiceConfig,
        operator: opendal.AsyncOperator,
        capabilities: OperatorCapabilities,
        transfer: TransferSettings,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._op = operator
        self._transfer = transfer
        self._rename = capabilities.rename
        self._clock = clock or time.time
        root = getattr(config, "root", "/")
        self._lock_name = f"fs:{root}" if config.scheme == "fs" else f"{config.scheme}:{id(self)}"
        durable = "ephemeral" if config.scheme == "memory" else "durable"
        self._descriptor = SPEC.descriptor_for(
            f"local-{config.scheme}", durability=durable, extensions=_NO_PRESIGN
        )
        self._scheme = config.scheme

    # -- protocol basics -------------------------------------------------------------------------

    def check_key(self, key: str, operation: str) -> None:
        """Any R2 key fits: keys are hex-encoded into paths."""

    def check_put(self, options: PutOptions, operation: str) -> None:
        """Every R2 field is kept in the record."""

    def _lock(self) -> asyncio.Lock:
        locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
        lock = locks.get(self._lock_name)
        if lock is None:
            lock = locks[self._lock_name] = asyncio.Lock()
        return lock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- records and blobs -----------------------------------------------------------------------

    async def _read_json(self, path: str) -> bytes | None:
        from opendal.exceptions import NotFound as OpenDalNotFound

        try:
            return bytes(await self._op.read(path))
        except OpenDalNotFound:
            return None

    async def _read_record(self, key: str) -> _Record | None:
        data = await self._read_json(record_path(key))
        return None if data is None else _Record.decode(data, key)

    async def _write_atomically(self, path: str, data: bytes) -> None:
        if self._rename:
            temporary = f"{TMP}{secrets.token_hex(16)}"
            try:
                await self._op.write(temporary, data)
                await self._op.rename(temporary, path)
            except BaseException:
                await self._delete_quietly([temporary])  # a failed write (a full disk) leaves nothing
                raise
        else:  # memory: one write replaces the value whole
            await self._op.write(path, data)

    async def _delete_quietly(self, paths: builtins.list[str]) -> None:
        for path in paths:
            # garbage left behind is invisible: never fail a call for it
            with contextlib.suppress(Exception):
                await self._op.delete(path)

    @staticmethod
    def _new_blob() -> str:
        name = secrets.token_hex(16)
        return f"{BLOBS}{name[:2]}/{name}"

    async def _write_blob(
        self, path: str, payload: BytesPayload | StreamPayload, digests: Digests, *, max_bytes: int | None
    ) -> int:
        if isinstance(payload, BytesPayload):
            digests.update(payload.data)
            try:
                await self._op.write(path, payload.data)
            except BaseException:
                await self._delete_quietly([path])  # what a full disk let through is garbage: free it
                raise
            return len(payload.data)
        writer = await self._op.open(path, "wb")
        try:
            async for chunk in payload.chunks:
                digests.update_part(chunk, max_bytes)
                if chunk:
                    await writer.write(chunk)
        except BaseException:
            try:
                await writer.close()
            finally:
                await self._delete_quietly([path])
            raise
        try:
            await writer.close()  # flushes what was buffered: a full disk may fail only here
        except BaseException:
            await self._delete_quietly([path])
            raise
        return digests.size

    def _segments(self, record: _Record, offset: int, length: int) -> builtins.list[tuple[str, int, int]]:
        """(blob, offset in blob, length) covering ``[offset, offset + length)`` of the object."""
        out = []
        position = 0
        end = offset + length
        for path, size in record.blobs:
            low, high = max(offset, position), min(end, position + size)
            if low < high:
                out.append((path, low - position, high - low))
            position += size
        return out

    async def _stream(self, segments: builtins.list[tuple[str, int, int]]) -> AsyncGenerator[bytes]:
        chunk_size = self._transfer.read_chunk_size
        for path, offset, length in segments:
            reader = await self._op.open(path, "rb", offset=offset, size=length)
            try:
                remaining = length
                while remaining > 0:
                    data = await reader.read(min(chunk_size, remaining))
                    if not data:
                        raise BackendError(
                            "a blob of this object is shorter than its record says", capability="r2"
                        )
                    remaining -= len(data)
                    yield bytes(data)
            finally:
                await reader.close()

    # -- reads -----------------------------------------------------------------------------------

    async def head(self, key: str) -> R2Object | None:
        record = await self._read_record(key)
        return None if record is None else record.to_object()

    async def get(
        self, key: str, range: R2Range | None, only_if: R2Conditional | None
    ) -> R2ObjectBody | None:
        for _ in _attempts():
            record = await self._read_record(key)
            if record is None:
                return None
            if only_if is not None and not condition_holds(
                only_if, record.etag, from_epoch_ms(record.uploaded_ms)
            ):
                return None
            offset, length = resolve_range(range, record.size, key=key)
            stream = self._stream(self._segments(record, offset, length))
            try:
                first = await anext(stream, b"")  # open the first blob now: it may just have been replaced
            except Exception:
                await stream.aclose()
                current = await self._read_record(key)
                if current is not None and current.version != record.version:
                    continue  # overwritten while we looked: read the new object
                raise
            return R2ObjectBody(
                record.to_object(), _prepend(first, stream), range=R2Range(offset=offset, length=length)
            )
        raise Unavailable("the object kept changing while it was being read", capability="r2", key=key)

    async def list(self, options: ListOptions) -> R2Objects:
        start_after, limit = options.emulated_page()
        keys = await self._all_keys()
        page = await page_of(
            _aiter(keys),
            str,
            prefix=options.prefix,
            delimiter=options.delimiter,
            start_after=start_after,
            limit=limit,
        )
        records = await gather_bounded([self._read_record(k) for k in page.objects], _PAGE_READS)
        objects = tuple(
            r.to_object(http=options.include_http_metadata, custom=options.include_custom_metadata)
            for r in records
            if r is not None  # deleted since the listing: R2 would not have listed it either
        )
        return R2Objects(
            objects=objects,
            truncated=page.truncated,
            cursor=encode_cursor(page.last_key) if page.truncated and page.last_key is not None else None,
            delimited_prefixes=tuple(page.delimited_prefixes),
        )

    async def _all_keys(self) -> builtins.list[str]:
        from opendal.exceptions import NotFound as OpenDalNotFound

        keys = []
        try:
            entries = await self._op.list(RECORDS, recursive=True)
            async for entry in entries:
                key = key_from_record_path(entry.path)
                if key is not None:
                    keys.append(key)
        except OpenDalNotFound:
            return []
        keys.sort()
        return keys

    # -- writes ----------------------------------------------------------------------------------

    async def put(
        self, key: str, payload: BytesPayload | StreamPayload, options: PutOptions
    ) -> R2Object | None:
        blob = self._new_blob()
        digests = Digests(options.checksums)
        size = await self._write_blob(blob, payload, digests, max_bytes=None)
        try:
            digests.verify(operation="put")
            record = await self._commit(
                key,
                options.only_if,
                lambda uploaded_ms: _Record(
                    key=key,
                    version=secrets.token_hex(16),
                    size=size,
                    etag=digests.md5,
                    uploaded_ms=uploaded_ms,
                    http=options.stored_http(),
                    custom=dict(options.custom_metadata),
                    checksums=digests.computed(),
                    blobs=((blob, size),),
                ),
            )
        except BaseException:
            await self._delete_quietly([blob])
            raise
        if record is None:
            await self._delete_quietly([blob])
            return None
        return record.to_object()

    async def _commit(
        self,
        key: str,
        only_if: R2Conditional | None,
        build: Callable[[int], _Record],
    ) -> _Record | None:
        """Replace the record of ``key`` if ``only_if`` holds; then drop the old record's blobs."""
        async with self._lock():
            current = await self._read_record(key)
            if only_if is not None:
                etag = current.etag if current else None
                uploaded = from_epoch_ms(current.uploaded_ms) if current else None
                if not condition_holds(only_if, etag, uploaded):
                    return None
            uploaded_ms = self._now_ms()
            if current is not None and uploaded_ms <= current.uploaded_ms:
                uploaded_ms = current.uploaded_ms + 1  # keep upload times increasing per key
            record = build(uploaded_ms)
            await self._write_atomically(record_path(key), record.encode())
        if current is not None:
            kept = {path for path, _ in record.blobs}
            await self._delete_quietly([p for p, _ in current.blobs if p not in kept])
        return record

    async def delete(self, keys: builtins.list[str]) -> None:
        from opendal.exceptions import NotFound as OpenDalNotFound

        garbage: list[str] = []
        async with self._lock():
            for key in dict.fromkeys(keys):
                current = await self._read_record(key)
                if current is None:
                    continue
                try:
                    await self._op.delete(record_path(key))
                except OpenDalNotFound:
                    continue
                garbage.extend(p for p, _ in current.blobs)
        await self._delete_quietly(garbage)

    # -- multipart -------------------------------------------------------------------------------

    @staticmethod
    def _upload_dir(upload_id: str) -> str:
        return f"{UPLOADS}{upload_id}/"

    async def _read_upload(self, key: str, upload_id: str) -> dict[str, Any] | None:
        if not _UPLOAD_ID.fullmatch(upload_id):
            return None  # not one of ours: never let it name a path
        data = await self._read_json(self._upload_dir(upload_id) + "upload.json")
        if data is None:
            return None
        doc: dict[str, Any] = json.loads(data)
        return doc if doc.get("key") == key else None

    async def _open_upload(self, key: str, upload_id: str, operation: str) -> dict[str, Any]:
        upload = await self._read_upload(key, upload_id)
        if upload is None or upload.get("state") != "open":
            raise NotFound(
                "the specified multipart upload does not exist (never created, completed or aborted)",
                capability="r2",
                operation=operation,
                key=key,
            )
        return upload

    async def create_multipart_upload(self, key: str, options: PutOptions) -> str:
        upload_id = secrets.token_hex(16)
        document = {
            "v": LAYOUT_VERSION,
            "key": key,
            "state": "open",
            "http": options.stored_http(),
            "custom": dict(options.custom_metadata),
        }
        await self._write_atomically(
            self._upload_dir(upload_id) + "upload.json", json.dumps(document).encode()
        )
        return upload_id

    def _part_path(self, upload_id: str, part_number: int) -> str:
        return f"{self._upload_dir(upload_id)}parts/{part_number:05d}.json"

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, payload: BytesPayload | StreamPayload
    ) -> R2UploadedPart:
        await self._open_upload(key, upload_id, "upload_part")
        blob = self._new_blob()
        digests = Digests()
        size = await self._write_blob(blob, payload, digests, max_bytes=limits.PART_MAX_BYTES)
        part = {"part": part_number, "size": size, "md5": digests.md5, "blob": blob}
        previous: dict[str, Any] | None = None
        try:
            async with self._lock():
                await self._open_upload(key, upload_id, "upload_part")  # not completed meanwhile
                path = self._part_path(upload_id, part_number)
                old = await self._read_json(path)
                previous = json.loads(old) if old is not None else None
                await self._write_atomically(path, json.dumps(part).encode())
        except BaseException:
            await self._delete_quietly([blob])
            raise
        if previous is not None and previous.get("blob") != blob:
            await self._delete_quietly([str(previous["blob"])])
        return R2UploadedPart(part_number=part_number, etag=digests.md5)

    async def _part_records(self, upload_id: str) -> builtins.list[tuple[str, dict[str, Any]]]:
        from opendal.exceptions import NotFound as OpenDalNotFound

        out = []
        try:
            entries = await self._op.list(self._upload_dir(upload_id) + "parts/", recursive=True)
            async for entry in entries:
                if entry.path.endswith(".json"):
                    data = await self._read_json(entry.path)
                    if data is not None:
                        out.append((entry.path, json.loads(data)))
        except OpenDalNotFound:
            pass
        return out

    async def complete_multipart_upload(
        self, key: str, upload_id: str, parts: builtins.list[R2UploadedPart]
    ) -> R2Object:
        garbage: list[str] = []
        async with self._lock():
            upload = await self._open_upload(key, upload_id, "complete_multipart_upload")
            stored = {int(doc["part"]): (path, doc) for path, doc in await self._part_records(upload_id)}
            chosen = []
            for part in parts:
                found = stored.get(part.part_number)
                if found is None or found[1]["md5"] != part.etag:
                    raise unknown_part(part.part_number, key)
                chosen.append(found[1])
            _check_part_sizes([int(doc["size"]) for doc in chosen], key)
            current = await self._read_record(key)
            uploaded_ms = self._now_ms()
            if current is not None and uploaded_ms <= current.uploaded_ms:
                uploaded_ms = current.uploaded_ms + 1
            record = _Record(
                key=key,
                version=secrets.token_hex(16),
                size=sum(int(doc["size"]) for doc in chosen),
                etag=multipart_etag(str(doc["md5"]) for doc in chosen),
                uploaded_ms=uploaded_ms,
                http=dict(upload.get("http", {})),
                custom=dict(upload.get("custom", {})),
                blobs=tuple((str(doc["blob"]), int(doc["size"])) for doc in chosen),
            )
            await self._write_atomically(record_path(key), record.encode())  # the commit point
            upload["state"] = "completed"
            await self._write_atomically(
                self._upload_dir(upload_id) + "upload.json", json.dumps(upload).encode()
            )
            kept = {path for path, _ in record.blobs}
            if current is not None:
                garbage.extend(p for p, _ in current.blobs if p not in kept)
            for path, doc in stored.values():
                garbage.append(path)
                if doc["blob"] not in kept:
                    garbage.append(str(doc["blob"]))
        await self._delete_quietly(garbage)
        return record.to_object()

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        garbage: list[str] = []
        async with self._lock():
            upload = await self._read_upload(key, upload_id)
            if upload is None:
                raise NotFound(
                    "the specified multipart upload does not exist",
                    capability="r2",
                    operation="abort_multipart_upload",
                    key=key,
                )
            if upload.get("state") != "open":
                return  # already completed or aborted: nothing to give up (as R2 answers)
            upload["state"] = "aborted"
            await self._write_atomically(
                self._upload_dir(upload_id) + "upload.json", json.dumps(upload).encode()
            )
            current = await self._read_record(key)
            protected = {p for p, _ in current.blobs} if current is not None else set()
            for path, doc in await self._part_records(upload_id):
                garbage.append(path)
                if doc["blob"] not in protected:
                    garbage.append(str(doc["blob"]))
        await self._delete_quietly(garbage)

    # -- the rest --------------------------------------------------------------------------------

    async def presign(
        self, key: str, method: str, expires_in: int, content_type: str | None
    ) -> PresignedRequest:
        raise no_presign(
            key,
            f"presigned URLs need the S3 backend; this bucket is kept by OpenDAL's {self._scheme} service, "
            "which has no URL to sign",
        )

    async def aclose(self) -> None:
        """Nothing to close: the operator holds no connections."""

    def __reduce__(self) -> Any:
        return refuse_pickling(self)

    def __repr__(self) -> str:
        return f"LocalBackend(scheme={self._scheme!r})"


def _check_part_sizes(sizes: list[int], key: str) -> None:
    """R2's rules for the parts of one object: all but the last at least 5 MiB and the same size;
    the last no larger than the others."""

    def bad(message: str) -> InvalidInput:
        return InvalidInput(
            message, field="parts", capability="r2", operation="complete_multipart_upload", key=key
        )

    if len(sizes) < 2:
        return
    part_size = sizes[0]
    for number, size in enumerate(sizes[:-1], start=1):
        if size < limits.PART_MIN_BYTES:
            raise bad(f"part #{number} is {size} bytes; every part but the last must be at least 5 MiB")
        if size != part_size:
            raise bad("all parts but the last must have the same size")
    if sizes[-1] > part_size:
        raise bad("the last part must not be larger than the others")


def _attempts() -> range:
    return range(_READ_ATTEMPTS)


async def _aiter(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def _prepend(first: bytes, rest: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()
