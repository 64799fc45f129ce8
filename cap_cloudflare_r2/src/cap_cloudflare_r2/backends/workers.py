"""The ``workers`` backend: a Python Worker's R2 binding, through ``cap_opendal_core.ffi``.

The binding does R2 itself — conditions, ranges, listing, checksums, multipart — so this module only
converts: Python values to plain JS objects and ``Uint8Array`` copies, and results back by reading
their named properties (in workerd an ``R2Object`` is a class instance, whose fields ``to_py()`` does
not copy, and whose fields are getters). The ``R2Object`` of a ``get``, ``head``, ``put`` or
``complete`` holds the binding's result and reads a group of fields when one of them is first used
(:func:`~cap_cloudflare_r2.models.deferred`), as a JS caller pays for the getters it calls: ``size``
(which the backend itself needs only to iterate a whole body, or to resolve a range the runtime did
not), the other scalars, and each of ``httpMetadata``, ``customMetadata`` and ``checksums`` — the
checksums are the costly one, a remote object with its own ``toJSON`` (under Miniflare about ten
times a plain read). A group is read in one ``JSON.stringify`` on the JS side
(:func:`cap_opendal_core.ffi.read_fields`), never property by property from Python — each read from
Python is a trip through the FFI (under Miniflare a round trip to workerd), and each nested object
would be probed for its type as it became a proxy. A listing's objects are read whole, each in one
``read_fields``: a page is walked for its keys and sizes, and a deferred object per entry would cost
a crossing per field read.

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

``read()`` takes a body in one call (``new Response(body).arrayBuffer()``: it collects the body
anyway), and so does ``async for`` for a body served whole or in a range no larger than
``TransferSettings.read_chunk_size``, instead of chunk by chunk, as the S3 backend reads it.

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
    deferred,
)
from ..ranges import resolve_range
from ..spec import SPEC
from ..transfer import BytesPayload, Digests, StreamPayload, read_up_to, split_parts, upload_parts
from .base import NO_PRESIGN as _NO_PRESIGN
from .base import no_presign, refuse_pickling

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncIterator, Callable

    from cap_opendal_core.descriptors import Descriptor
    from cap_opendal_core.layers import LayerSettings

    from ..models import R2Conditional
    from ..options import ListOptions, PutOptions
    from ..transfer import TransferSettings

__all__ = ["WorkersBackend"]

_DESCRIPTOR: Final = SPEC.descriptor_for("workers", durability="durable", extensions=_NO_PRESIGN)


def _http_metadata(value: Any) -> R2HttpMetadata:
    http = dict(value) if isinstance(value, dict) else {}
    if http.get("cacheExpiry") is not None:  # a Date, which JSON wrote as its ISO string
        http["cacheExpiry"] = ffi.parse_js_date(http["cacheExpiry"])
    return R2HttpMetadata.from_dict(http)


_CONVERT: Final[dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "version": ("version", lambda v: None if v is None else str(v)),
    "size": ("size", int),
    "etag": ("etag", str),
    "uploaded": ("uploaded", ffi.parse_js_date),
    "httpMetadata": ("http_metadata", _http_metadata),
    "customMetadata": (
        "custom_metadata",
        lambda v: {str(k): str(w) for k, w in v.items()} if isinstance(v, dict) else {},
    ),
    "checksums": ("checksums", lambda v: R2Checksums.from_dict(v if isinstance(v, dict) else {})),
    "storageClass": ("storage_class", lambda v: "Standard" if v is None else str(v)),
}
"""Each field of a binding's ``R2Object`` besides its key (its JS name, as ``ffi.read_fields`` returns
it): the ``R2Object`` field it fills, and how its JSON value becomes that field's value."""

_FIELDS: Final = tuple(_CONVERT)
"""What a listed ``R2Object`` is built from besides its key, read in one ``ffi.read_fields``."""

_GROUPS: Final = (
    ("size",),
    ("etag", "version", "uploaded", "storageClass"),
    ("httpMetadata",),
    ("customMetadata",),
    ("checksums",),
)
"""The fields of a result read together, on first use of one of them (see the module docstring):
``size`` alone (the backend itself may need it), the other scalars, then each nested object — the
checksums cost most (under Miniflare a remote object whose ``toJSON`` is called)."""

_GROUP_OF: Final = {_CONVERT[js][0]: group for group in _GROUPS for js in group}


def _prop(obj: Any, name: str) -> Any:
    """A JS property as Python (None for missing, undefined or null)."""
    value = getattr(obj, name, None)
    return None if ffi.is_js_null(value) else value


def _converted(fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The ``R2Object`` field values of the JS fields ``names``, as ``ffi.read_fields`` returned them."""
    converted: dict[str, Any] = {}
    for name in names:
        field, convert = _CONVERT[name]
        converted[field] = convert(fields.get(name))
    return converted


def _object(obj: Any) -> R2Object:
    """A listed ``R2Object``, its key and fields read in one go (a listing's objects are read whole:
    a page is used to walk keys and sizes, and each field read would be a crossing per object)."""
    fields = ffi.read_fields(obj, ("key", *_FIELDS))
    return R2Object(key=str(fields["key"]), **_converted(fields, _FIELDS))


def _lazy(result: Any, key: str, operation: str) -> R2Object:
    """The ``R2Object`` of a binding result about ``key``, its fields read on first use (see the
    module docstring): one ``ffi.read_fields`` per group of :data:`_GROUPS`, then cached."""

    def load(obj: R2Object, name: str) -> None:
        group = _GROUP_OF.get(name)
        if group is None:
            return  # not a field: the caller raises AttributeError
        try:
            fields = ffi.read_fields(result, group)
        except ffi.JsException as exc:
            from cap_opendal_core.translate.js import from_js  # the error path only: kept off cold start

            raise from_js(exc, capability="r2", operation=operation, key=key) from exc
        for field_name, value in _converted(fields, group).items():
            object.__setattr__(obj, field_name, value)

    return deferred(key, load)


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
        return None if ffi.is_js_null(result) else _lazy(result, key, "head")

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
        obj = _lazy(result, key, "get")
        if range is None:  # the whole object, as R2 serves it: its size is read only if asked for
            return R2ObjectBody(obj, _Body(body, lambda: obj.size, self._transfer.read_chunk_size))
        served = ffi.js_to_py(_prop(result, "range")) or {}
        offset, length = served.get("offset"), served.get("length")
        if offset is None or length is None:  # the runtime may echo the request: resolve it as R2 does
            if range.suffix is not None:
                length = min(range.suffix, obj.size)
                offset = obj.size - length
            else:
                offset = offset if offset is not None else range.offset or 0
                length = length if length is not None else obj.size - offset
        served_range = R2Range(offset=int(offset), length=int(length))
        return R2ObjectBody(
            obj,
            _Body(body, lambda: int(length), self._transfer.read_chunk_size),
            range=served_range,
        )

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
        js_options = self._put_options(options)  # none: no options object is built and handed over
        result = await self._binding.put(
            key, ffi.to_uint8array(data), ffi.to_js_options(js_options) if js_options else None
        )
        return None if ffi.is_js_null(result) else _lazy(result, key, "put")

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
        return _lazy(result, key, "put")

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
        return _lazy(result, key, "complete_multipart_upload")

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


class _Body:
    """A ``get`` result's body, read the cheapest way for how it is used: ``read()`` takes it in one
    call whatever its size (it is collected anyway); iterated, a body no larger than
    ``read_chunk_size`` is read in one call too, a larger one streams chunk by chunk. The length is
    asked for only when iterating (for a whole object it is the object's size, read on first use)."""

    __slots__ = ("_chunk_size", "_chunks", "_length", "_stream")

    def __init__(self, stream: Any, length: Callable[[], int], chunk_size: int) -> None:
        self._stream = stream
        self._length = length
        self._chunk_size = chunk_size
        self._chunks: AsyncIterator[bytes] | None = None

    async def read_all(self) -> bytes:
        return await ffi.read_stream(self._stream)

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        if self._chunks is None:
            small = self._length() <= self._chunk_size
            self._chunks = _whole(self._stream) if small else ffi.iter_stream(self._stream)
        return await anext(self._chunks)

    async def aclose(self) -> None:
        chunks = self._chunks
        if chunks is not None:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()


async def _whole(body: Any) -> AsyncIterator[bytes]:
    """A small body as one chunk, read in one call."""
    data = await ffi.read_stream(body)
    if data:
        yield data


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk
