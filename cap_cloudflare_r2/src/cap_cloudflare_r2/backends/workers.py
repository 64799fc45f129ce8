"""The ``workers`` backend: a Python Worker's R2 binding, through ``cap_opendal_core.ffi``.

The binding does R2 itself — conditions, ranges, listing, checksums, multipart — so this module only
converts: Python values to plain JS objects and ``Uint8Array`` copies, and results back by reading
their named properties (in workerd an ``R2Object`` is a class instance, whose fields ``to_py()`` does
not copy). Each result is read once: all its fields in one ``JSON.stringify`` on the JS side
(:func:`cap_opendal_core.ffi.read_fields`), never property by property from Python — each read from
Python is a trip through the FFI (under Miniflare a round trip to workerd), and each nested object
(checksums, metadata) would be probed for its type as it became a proxy.

Bodies stream: a ``get`` returns the ``ReadableStream`` read chunk by chunk. A ``put`` of a stream
cannot be handed to the binding as a JS stream — workerd (and Miniflare, which forwards to it)
refuses a ``ReadableStream`` whose length is not known in advance ("Provided readable stream must
have a known length"). So a stream is read up to ``part_size``: if it ends there it is stored with
one ``put`` of those bytes; otherwise it is uploaded as a multipart upload, ``part_size`` bytes per
part, at most ``concurrency`` parts in flight, so memory stays near ``(concurrency + 2) * part_size``.
Such an object's etag is then ``…-N`` (multipart), its checksum is verified here before the upload
completes, and a conditional ``put`` of a stream that large is refused (``Unsupported``: the binding
has no condition for multipart uploads). (In a deployed Worker a stream whose length is known could
go through workerd's ``FixedLengthStream``; Miniflare's Node-side proxy has no such class, so that
path could not be tested here and is not taken.)

A body served whole or in a range no larger than ``TransferSettings.read_chunk_size`` is read in one
call (``new Response(body).arrayBuffer()``) instead of chunk by chunk, as the S3 backend reads it.

Imported only under Pyodide (``R2Bucket.from_env``); it imports nothing from the server side.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core import ffi
from cap_opendal_core.errors import InvalidInput, Unsupported

from .. import limits
from ..conditions import normalize_etag
from ..models import (
    CHECKSUM_ALGORITHMS,
    CRC_CHECKSUM_ALGORITHMS,
    HTTP_METADATA_FIELDS,
    PresignedRequest,
    R2Checksums,
    R2HttpMetadata,
    R2Object,
    R2ObjectBody,
    R2Objects,
    R2Range,
    R2UploadedPart,
)
from ..ranges import resolve_range
from ..spec import SPEC
from ..transfer import BytesPayload, Digests, StreamPayload, read_up_to, split_parts, upload_parts
from .base import NO_PRESIGN as _NO_PRESIGN
from .base import no_presign, refuse_pickling

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncIterator

    from cap_opendal_core.descriptors import Descriptor
    from cap_opendal_core.layers import LayerSettings

    from ..models import R2Conditional
    from ..options import ListOptions, PutOptions
    from ..transfer import TransferSettings

__all__ = ["WorkersBackend"]

_DESCRIPTOR: Final = SPEC.descriptor_for("workers", durability="durable", extensions=_NO_PRESIGN)


_FIELDS: Final = (
    "version",
    "size",
    "etag",
    "uploaded",
    "httpMetadata",
    "customMetadata",
    "checksums",
    "storageClass",
)
"""What an ``R2Object`` is built from besides its key, read in one ``ffi.read_fields``."""


def _prop(obj: Any, name: str) -> Any:
    """A JS property as Python (None for missing, undefined or null)."""
    value = getattr(obj, name, None)
    return None if ffi.is_js_null(value) else value


def _object(obj: Any, key: str | None = None) -> R2Object:
    """An ``R2Object`` from a binding result, its fields read in one go (see the module docstring).

    ``key``: the key the call named, when the result is that object's (``get``, ``head``, ``put``,
    ``complete``), so it is not read back; ``None`` reads it (``list``)."""
    fields = ffi.read_fields(obj, _FIELDS if key is not None else ("key", *_FIELDS))
    http = fields.get("httpMetadata")
    http = dict(http) if isinstance(http, dict) else {}
    if http.get("cacheExpiry") is not None:  # a Date, which JSON wrote as its ISO string
        http["cacheExpiry"] = ffi.parse_js_date(http["cacheExpiry"])
    custom = fields.get("customMetadata")
    checksums = fields.get("checksums")
    version = fields.get("version")
    storage_class = fields.get("storageClass")
    return R2Object(
        key=key if key is not None else str(fields["key"]),
        version=None if version is None else str(version),
        size=int(fields["size"]),
        etag=str(fields["etag"]),
        uploaded=ffi.parse_js_date(fields["uploaded"]),
        http_metadata=R2HttpMetadata.from_dict(http),
        custom_metadata={str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
        checksums=R2Checksums.from_dict(checksums if isinstance(checksums, dict) else {}),
        storage_class="Standard" if storage_class is None else str(storage_class),
    )


def _http_options(http: R2HttpMetadata) -> dict[str, Any]:
    return {js: getattr(http, py) for py, js in HTTP_METADATA_FIELDS if getattr(http, py) is not None}


def _conditional(cond: R2Conditional) -> dict[str, Any]:
    """``onlyIf`` for the binding: workerd takes bare etags (it refuses quoted ones)."""
    out: dict[str, Any] = {
        "etagMatches": None if cond.etag_matches is None else normalize_etag(cond.etag_matches),
        "etagDoesNotMatch": None
        if cond.etag_does_not_match is None
        else normalize_etag(cond.etag_does_not_match),
        "uploadedBefore": cond.uploaded_before,
        "uploadedAfter": cond.uploaded_after,
    }
    if cond.seconds_granularity:
        out["secondsGranularity"] = True
    return out


class WorkersBackend:
    """R2 through a Workers binding (see the module docstring)."""

    name: Final = "workers"

    def __init__(self, binding: Any, transfer: TransferSettings) -> None:
        self._binding = binding
        self._transfer = transfer

    @classmethod
    def from_env(cls, env: Any, name: str, transfer: TransferSettings) -> WorkersBackend:
        return cls(ffi.get_binding(env, name, capability="r2"), transfer)

    # -- protocol basics -------------------------------------------------------------------------

    @property
    def descriptor(self) -> Descriptor:
        return _DESCRIPTOR

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        return settings

    def check_key(self, key: str, operation: str) -> None:
        """The binding takes every R2 key."""

    def check_put(self, options: PutOptions, operation: str) -> None:
        """The binding stores every R2 field, but verifies only R2's own digests: S3's CRCs have no
        field in its ``put`` options, so they are refused before any I/O, not silently dropped."""
        crcs = [name for name in CRC_CHECKSUM_ALGORITHMS if name in options.checksums]
        if crcs:
            raise Unsupported(
                f"{crcs[0]} cannot be verified by the Workers binding (its put takes "
                f"{', '.join(CHECKSUM_ALGORITHMS)}); use one of those, or R2's S3 API for CRC32/CRC32C",
                capability="r2",
                operation=operation,
            )

    # -- reads -----------------------------------------------------------------------------------

    async def head(self, key: str) -> R2Object | None:
        result = await self._binding.head(key)
        return None if ffi.is_js_null(result) else _object(result, key)

    async def get(
        self, key: str, range: R2Range | None, only_if: R2Conditional | None
    ) -> R2ObjectBody | None:
        options: dict[str, Any] = {}
        if range is not None:
            if range.suffix is not None:
                options["range"] = {"suffix": range.suffix}
            else:
                options["range"] = {"offset": range.offset, "length": range.length}
        if only_if is not None:
            options["onlyIf"] = _conditional(only_if)
        try:
            result = await self._binding.get(key, ffi.to_js_options(options) if options else None)
        except Exception:
            if range is not None:
                await self._refuse_unsatisfiable(key, range)
            raise
        body = None if ffi.is_js_null(result) else _prop(result, "body")
        if body is None:
            return None  # missing, or only_if did not hold (the binding returns the object without body)
        obj = _object(result, key)
        offset: Any = 0  # no range asked: the whole object, as R2 serves it
        length: Any = obj.size
        if range is not None:
            served = ffi.js_to_py(_prop(result, "range")) or {}
            offset, length = served.get("offset"), served.get("length")
            if offset is None or length is None:  # the runtime may echo the request: resolve it as R2 does
                if range.suffix is not None:
                    length = min(range.suffix, obj.size)
                    offset = obj.size - length
                else:
                    offset = offset if offset is not None else range.offset or 0
                    length = length if length is not None else obj.size - offset
        chunks = _whole(body) if int(length) <= self._transfer.read_chunk_size else ffi.iter_stream(body)
        return R2ObjectBody(obj, chunks, range=R2Range(offset=int(offset), length=int(length)))

    async def _refuse_unsatisfiable(self, key: str, requested: R2Range) -> None:
        """After a ranged ``get`` failed: ``InvalidInput(field="range")`` if the range leaves nothing
        to read, as every other backend says. The binding reports ``{offset: size, length: n}`` (or
        any length on an empty object) as "Unspecified error (0)", not as its range error 10039."""
        try:
            obj = await self.head(key)
        except Exception:
            return  # the original failure is raised
        if obj is not None:
            resolve_range(requested, obj.size, key=key)  # raises for a range R2 cannot serve

    async def list(self, options: ListOptions) -> R2Objects:
        include = [
            name
            for name, wanted in (
                ("httpMetadata", options.include_http_metadata),
                ("customMetadata", options.include_custom_metadata),
            )
            if wanted
        ]
        js_options = {
            "prefix": options.prefix or None,
            "delimiter": options.delimiter,
            "cursor": options.cursor,
            "startAfter": options.start_after,
            "limit": options.limit,
            "include": include or None,
        }
        result = await self._binding.list(ffi.to_js_options(js_options))
        page = ffi.read_fields(result, ("truncated", "cursor", "delimitedPrefixes"))
        truncated = bool(page.get("truncated"))
        cursor = page.get("cursor")
        prefixes = page.get("delimitedPrefixes") or []
        objects = _prop(result, "objects")  # iterated as is: its truthiness alone costs three reads
        return R2Objects(
            objects=() if objects is None else tuple(_object(o) for o in objects),
            truncated=truncated,
            cursor=str(cursor) if truncated and cursor else None,
            delimited_prefixes=tuple(str(p) for p in prefixes),
        )

    # -- writes ----------------------------------------------------------------------------------

    def _put_options(self, options: PutOptions, *, put: bool = True) -> dict[str, Any]:
        """Options for ``put`` (metadata, storage class, checksum, condition) or, with ``put=False``,
        for ``createMultipartUpload`` (metadata and storage class)."""
        js: dict[str, Any] = {}
        http = _http_options(options.http_metadata)
        if http:
            js["httpMetadata"] = http
        if options.custom_metadata:
            js["customMetadata"] = dict(options.custom_metadata)
        if options.storage_class is not None:
            js["storageClass"] = options.storage_class
        if put:
            js.update(options.checksums)
        if put and options.only_if is not None:
            js["onlyIf"] = _conditional(options.only_if)
        return js

    async def _put_bytes(self, key: str, data: bytes, options: PutOptions) -> R2Object | None:
        result = await self._binding.put(
            key, ffi.to_uint8array(data), ffi.to_js_options(self._put_options(options))
        )
        return None if ffi.is_js_null(result) else _object(result, key)

    async def put(
        self, key: str, payload: BytesPayload | StreamPayload, options: PutOptions
    ) -> R2Object | None:
        if isinstance(payload, BytesPayload):
            return await self._put_bytes(key, payload.data, options)
        part_size = self._transfer.part_size
        carry = bytearray()
        first = await read_up_to(payload.chunks, part_size, carry)
        second = await read_up_to(payload.chunks, part_size, carry) if len(first) == part_size else b""
        if not second:  # it fits one put: the binding verifies checksums and conditions itself
            Digests.of(first, options.checksums).verify(operation="put")
            return await self._put_bytes(key, first, options)
        if options.only_if is not None:
            raise Unsupported(
                f"a conditional put of a stream over part_size ({part_size} bytes) would need a multipart "
                "upload, which the binding cannot make conditional; pass bytes, or raise "
                "TransferSettings.part_size",
                capability="r2",
                operation="put",
                key=key,
            )
        digests = Digests(options.checksums)

        async def parts() -> AsyncIterator[bytes]:
            for block in (first, second):
                digests.update(block)
                yield block
            if len(second) == part_size:
                async for block in split_parts(_prepend(bytes(carry), payload.chunks), part_size):
                    digests.update(block)
                    yield block

        upload = await self._binding.createMultipartUpload(
            key, ffi.to_js_options(self._put_options(options, put=False))
        )
        try:
            uploaded = await upload_parts(
                parts(),
                lambda number, data: self._upload_part(upload, number, data),
                concurrency=self._transfer.concurrency,
            )
            digests.verify(operation="put")  # before complete: a wrong body must never become visible
            result = await upload.complete(
                ffi.to_js_value([{"partNumber": p.part_number, "etag": p.etag} for p in uploaded])
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await upload.abort()
            raise
        return _object(result, key)

    async def _upload_part(self, upload: Any, number: int, data: bytes) -> R2UploadedPart:
        part = await upload.uploadPart(number, ffi.to_uint8array(data))
        return R2UploadedPart(part_number=int(part.partNumber), etag=str(part.etag))

    async def delete(self, keys: builtins.list[str]) -> None:
        await self._binding.delete(keys[0] if len(keys) == 1 else ffi.to_js_value(keys))

    # -- multipart -------------------------------------------------------------------------------

    async def create_multipart_upload(self, key: str, options: PutOptions) -> str:
        upload = await self._binding.createMultipartUpload(
            key, ffi.to_js_options(self._put_options(options, put=False))
        )
        return str(upload.uploadId)

    async def _resume(self, key: str, upload_id: str) -> Any:
        return await ffi.await_js(self._binding.resumeMultipartUpload(key, upload_id))

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, payload: BytesPayload | StreamPayload
    ) -> R2UploadedPart:
        if isinstance(payload, BytesPayload):
            data = payload.data
        else:  # the binding needs a part's length up front: a streamed part is buffered
            data = await read_up_to(payload.chunks, limits.PART_MAX_BYTES + 1, bytearray())
            if len(data) > limits.PART_MAX_BYTES:
                raise InvalidInput(
                    f"a part holds at most {limits.PART_MAX_BYTES} bytes",
                    field="value",
                    capability="r2",
                    operation="upload_part",
                    key=key,
                )
        return await self._upload_part(await self._resume(key, upload_id), part_number, data)

    async def complete_multipart_upload(
        self, key: str, upload_id: str, parts: builtins.list[R2UploadedPart]
    ) -> R2Object:
        upload = await self._resume(key, upload_id)
        result = await upload.complete(
            ffi.to_js_value([{"partNumber": p.part_number, "etag": p.etag} for p in parts])
        )
        return _object(result, key)

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        await (await self._resume(key, upload_id)).abort()

    # -- the rest --------------------------------------------------------------------------------

    async def presign(
        self, key: str, method: str, expires_in: int, content_type: str | None
    ) -> PresignedRequest:
        raise no_presign(
            key,
            "the Workers binding cannot presign URLs; presign on a server with the S3 backend "
            "(R2Bucket.from_config(R2Config(...)))",
        )

    async def aclose(self) -> None:
        """The binding belongs to the Worker: nothing to close."""

    def __reduce__(self) -> Any:
        return refuse_pickling(self)

    def __repr__(self) -> str:
        return "WorkersBackend()"


async def _whole(body: Any) -> AsyncIterator[bytes]:
    """A small body as one chunk, read in one call when first iterated (never if left unread)."""
    data = await ffi.read_stream(body)
    if data:
        yield data


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk
