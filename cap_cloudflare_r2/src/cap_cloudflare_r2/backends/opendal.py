"""The ``opendal`` backend: R2 through OpenDAL's ``s3`` service (R2's S3 API or any S3-compatible store).

Objects are the service's own: content type, disposition, encoding and cache control travel as the
object's headers, custom metadata as ``x-amz-meta-*``, etags are the service's, so boto3 (or the
Workers binding, on R2) reads what this backend wrote and the other way round. What OpenDAL maps
natively is used natively; the rest is filled here, driven by the operator's capabilities:

* **conditions** — S3 writes can only say ``If-Match: <etag>`` or "if absent". R2's ``only_if``
  (etag lists, weak etags, upload times) is evaluated on a fresh ``stat`` (:mod:`..conditions`) and
  the write is then pinned to what was evaluated (``if_match`` that etag, or ``if_not_exists``), so
  it still lands only on the object the condition held for; a concurrent change is re-evaluated.
  Conditional writes go through an operator built **without** OpenDAL's retry layer: a retried
  write whose first attempt landed would fail its own condition. So do streamed puts: OpenDAL's
  retry layer repeats a writer's ``close``, which for a multipart upload re-sends
  CompleteMultipartUpload after an answer was lost — a blind repeat of a non-idempotent request
  (found by issue 9's soak; a stream's put is ``PUT_ONCE`` for the same reason). The price: a part
  that fails fails the streamed put.
* **get** — one signed GetObject (:mod:`.s3_get`): OpenDAL's Python API returns metadata and body
  from separate calls, which made every ``get`` two requests; S3's answer carries both. Where that
  one request cannot settle the answer exactly (an unsatisfiable range; keys only OpenDAL can load,
  a proxy, a ``concurrency`` limit) the two-request path answers: ``stat``, then a read pinned to
  its etag (``if_match``), so a body always belongs to the metadata returned with it.
* **listing** — ``/`` as delimiter is S3's own; any other delimiter is rolled up from a recursive
  listing (:mod:`..listing`), reading through each group's keys. ``include`` costs one ``stat``
  per object (S3's listing carries no metadata), so such pages stop at 100.
* **multipart** — OpenDAL's Python API has none with an upload id, so :mod:`.s3_multipart` sends
  S3's multipart calls itself. A ``put`` of a stream uses OpenDAL's chunked writer (S3 multipart
  underneath, ``part_size`` parts, ``concurrency`` in flight).
* **append** — R2 has none; the operator is built reporting ``write_can_append=False`` and nothing
  here appends.

Limits of the mapping, checked before any I/O: OpenDAL normalises paths, so keys with a leading or
trailing ``/``, ``//`` or ``.``/``..`` segments would silently name another object — they are
refused; ``x-amz-meta-*`` names are lower-cased by S3 and values must be printable ASCII, so other
names and values are refused rather than changed; OpenDAL's s3 service has no option for
``content_language`` or ``cache_expiry`` (``Unsupported``) and its ``stat`` does not report
``cache_control`` (written, but read back as None). ``version`` is None: S3 does not expose R2's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import re
from typing import TYPE_CHECKING, Any, Final

import anyio
from opendal.exceptions import ConditionNotMatch
from opendal.exceptions import NotFound as OpenDalNotFound

from cap_opendal_core.errors import InvalidInput, PreconditionFailed, Unavailable, Unsupported

from .. import limits
from ..conditions import condition_holds
from ..listing import page_of
from ..models import (
    CRC_CHECKSUM_ALGORITHMS,
    PresignedRequest,
    R2Checksums,
    R2HttpMetadata,
    R2Object,
    R2ObjectBody,
    R2Objects,
    R2Range,
    R2UploadedPart,
)
from ..options import encode_cursor
from ..ranges import resolve_range
from ..spec import SPEC
from ..transfer import (
    BytesPayload,
    Digests,
    StreamPayload,
    hash_off_loop,
    read_up_to,
    upload_parts,
    verify_off_loop,
)
from .base import PRESIGN_EXTENSION, OperatorBacked, gather_bounded, refuse_pickling
from .s3_get import FALLBACK

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncIterator, Mapping

    import opendal

    from cap_opendal_core.layers import LayerSettings
    from cap_opendal_core.operators import OperatorCapabilities, ServiceConfig

    from ..models import R2Conditional
    from ..options import ListOptions, PutOptions
    from ..transfer import TransferSettings
    from .s3_get import S3Get
    from .s3_multipart import S3Multipart

__all__ = ["OpenDalBackend", "opendal_path_problem"]

_CONDITION_ATTEMPTS: Final = 5
_SENT_CHECKSUMS: Final = frozenset({"sha1", "sha256", *CRC_CHECKSUM_ALGORITHMS})
"""Checksums only this package's signed PutObject sends (OpenDAL's write has no option for them)."""
_PARALLEL_REQUESTS: Final = 16
_MD5_HEX: Final = re.compile(r"[0-9a-f]{32}")
_META_NAME: Final = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_META_VALUE: Final = re.compile(r"[\x20-\x7e]*")
_GROUP_END: Final = "\U0010ffff"  # sorts after every key that continues a delimited prefix
_UNSUPPORTED_HTTP: Final = ("content_language", "cache_expiry")


def opendal_path_problem(key: str) -> str | None:
    """Why OpenDAL would store ``key`` under another name (it normalises paths), or None."""
    if key.startswith("/"):
        return "starts with '/'"
    if key.endswith("/"):
        return "ends with '/' (OpenDAL reads such a path as a directory)"
    if "//" in key:
        return "holds '//'"
    if any(segment in (".", "..") for segment in key.split("/")):
        return "has a '.' or '..' segment"
    return None


def _etag(raw: str | None) -> str:
    text = (raw or "").strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


def _object(
    key: str, meta: Any, *, http: bool = True, custom: bool = True, fallback_time: _dt.datetime | None = None
) -> R2Object:
    etag = _etag(meta.etag)
    uploaded = meta.last_modified or fallback_time or _dt.datetime.now(_dt.UTC)
    return R2Object(
        key=key,
        version=None,
        size=int(meta.content_length),
        etag=etag,
        uploaded=uploaded if uploaded.tzinfo is not None else uploaded.replace(tzinfo=_dt.UTC),
        http_metadata=R2HttpMetadata(
            content_type=meta.content_type,
            content_disposition=meta.content_disposition,
            content_encoding=meta.content_encoding,
        )
        if http
        else R2HttpMetadata(),
        custom_metadata=dict(meta.user_metadata or {}) if custom else {},
        checksums=R2Checksums(md5=etag if _MD5_HEX.fullmatch(etag) else None),
        storage_class=None,  # neither OpenDAL's stat nor its listing reports it
    )


class OpenDalBackend(OperatorBacked):
    """R2 on an OpenDAL operator that stores objects natively (see the module docstring)."""

    name: Final = "opendal"

    def __init__(
        self,
        config: ServiceConfig,
        operator: opendal.AsyncOperator,
        capabilities: OperatorCapabilities,
        settings: LayerSettings,
        transfer: TransferSettings,
    ) -> None:
        from cap_opendal_core.operators import S3Config, build_operator

        self._op = operator
        # conditional writes must not be retried by OpenDAL (see the module docstring)
        self._op_once = build_operator(config, dataclasses.replace(settings, retry=None), capability="r2")
        self._capabilities = capabilities
        self._transfer = transfer
        self._multipart: S3Multipart | None = None
        self._s3_config = config if isinstance(config, S3Config) else None
        self._direct: S3Get | None = None
        if self._s3_config is not None:
            from .s3_get import direct_get_for

            self._direct = direct_get_for(self._s3_config, settings, transfer.read_chunk_size)
        self._timeout = settings.deadline
        self._scheme = config.scheme
        self._descriptor = SPEC.descriptor_for(
            f"opendal-{config.scheme}",
            durability="durable",
            extensions={PRESIGN_EXTENSION: capabilities.presign_read and capabilities.presign_write},
        )

    # -- protocol basics -------------------------------------------------------------------------

    def check_key(self, key: str, operation: str) -> None:
        problem = opendal_path_problem(key)
        if problem is not None:
            raise InvalidInput(
                f"the key {problem}: OpenDAL's {self._scheme} service normalises paths, so it would read "
                "or write a different object; use keys without empty, '.' or '..' segments",
                field="key",
                capability="r2",
                operation=operation,
                key=key,
            )

    def check_put(self, options: PutOptions, operation: str) -> None:
        if options.storage_class is not None and self._direct is None and self._s3_config is None:
            raise Unsupported(
                f"storage_class cannot be stored through OpenDAL's {self._scheme} service",
                capability="r2",
                operation=operation,
            )
        unsupported = [name for name in _UNSUPPORTED_HTTP if getattr(options.http_metadata, name) is not None]
        if unsupported:
            raise Unsupported(
                f"http_metadata.{unsupported[0]} cannot be stored through OpenDAL's {self._scheme} service "
                "(it has no option for it); use the Workers binding or leave it out",
                capability="r2",
                operation=operation,
            )
        for name, value in options.custom_metadata.items():
            if not _META_NAME.fullmatch(name):
                raise InvalidInput(
                    f"custom_metadata name {name!r} cannot round-trip through S3 (x-amz-meta-* names are "
                    "lower-cased HTTP tokens): use lower-case letters, digits and '-', '_', '.'",
                    field="custom_metadata",
                    capability="r2",
                    operation=operation,
                )
            if not _META_VALUE.fullmatch(value) or value != value.strip():
                raise InvalidInput(
                    f"custom_metadata[{name!r}] cannot round-trip through S3 (x-amz-meta-* values are HTTP "
                    "headers): use printable ASCII without leading or trailing spaces",
                    field="custom_metadata",
                    capability="r2",
                    operation=operation,
                )

    # -- reads -----------------------------------------------------------------------------------

    async def _stat(self, key: str) -> Any | None:
        try:
            return await self._op.stat(key)
        except OpenDalNotFound:
            return None

    async def head(self, key: str) -> R2Object | None:
        if self._direct is not None:  # HeadObject itself: OpenDAL's stat drops checksums and class
            return await self._direct.head(key)
        meta = await self._stat(key)
        return None if meta is None else _object(key, meta)

    async def get(
        self, key: str, range: R2Range | None, only_if: R2Conditional | None
    ) -> R2ObjectBody | None:
        if self._direct is not None:
            got = await self._direct.get(key, range, only_if)
            if got is not FALLBACK:
                return got
        for _ in _attempts():
            obj = await self.head(key)
            if obj is None:
                return None
            if only_if is not None and not condition_holds(only_if, obj.etag, obj.uploaded):
                return None
            offset, length = resolve_range(range, obj.size, key=key)
            if length == 0:
                return R2ObjectBody(obj, _empty(), range=R2Range(offset=offset, length=0))
            if length <= self._transfer.read_chunk_size:  # one chunk: one read, no reader to manage
                try:
                    data = bytes(await self._op.read(key, offset=offset, size=length, if_match=obj.http_etag))
                except (ConditionNotMatch, OpenDalNotFound):
                    continue  # replaced or deleted since the stat: look again
                return R2ObjectBody(obj, _one(data), range=R2Range(offset=offset, length=length))
            reader = await self._op.open(key, "rb", offset=offset, size=length, if_match=obj.http_etag)
            try:
                first = bytes(await reader.read(min(self._transfer.read_chunk_size, length)))
            except (ConditionNotMatch, OpenDalNotFound):
                await reader.close()
                continue  # replaced or deleted since the stat: look again
            except BaseException:
                await reader.close()
                raise
            return R2ObjectBody(
                obj,
                self._stream(reader, first, length),
                range=R2Range(offset=offset, length=length),
            )
        raise Unavailable("the object kept changing while it was being read", capability="r2", key=key)

    async def _stream(self, reader: Any, first: bytes, length: int) -> AsyncIterator[bytes]:
        try:
            remaining = length - len(first)
            if first:
                yield first
            while remaining > 0:
                data = bytes(await reader.read(min(self._transfer.read_chunk_size, remaining)))
                if not data:
                    break
                remaining -= len(data)
                yield data
        finally:
            await reader.close()

    async def list(self, options: ListOptions) -> R2Objects:
        start_after, limit = options.emulated_page()
        native = options.delimiter == "/" and (not options.prefix or options.prefix.endswith("/"))
        if native:
            # S3 rolls up '/' itself; one request of limit + 1 entries holds the page, but OpenDAL
            # hands its prefixes before its keys, so the page is sorted here
            lister = await self._op.list(
                options.prefix, recursive=False, start_after=start_after, limit=min(limit + 1, 1000)
            )
            window: list[Any] = []
            async for entry in lister:
                if entry.path != options.prefix:
                    window.append(entry)
                    if len(window) > limit:
                        break
            window.sort(key=lambda e: e.path)
            entries: AsyncIterator[Any] = _aiter(window)
        else:
            entries = await self._recursive(options.prefix, start_after, limit)
        page = await page_of(
            entries,
            lambda e: e.path,
            prefix=options.prefix,
            delimiter=options.delimiter,
            start_after=start_after,
            limit=limit,
        )
        last_key = page.last_key
        if native and last_key is not None and last_key.endswith("/") and last_key in page.delimited_prefixes:
            last_key += _GROUP_END  # a native group only shows its prefix: resume after all its keys
        if options.includes_metadata:
            # a key OpenDAL cannot address (another client wrote "a//b" …) is listed without metadata
            addressable = [e for e in page.objects if opendal_path_problem(e.path) is None]
            metas = await gather_bounded([self._stat(e.path) for e in addressable], _PARALLEL_REQUESTS)
            found = {e.path: m for e, m in zip(addressable, metas, strict=True)}
            objects = tuple(
                _object(e.path, e.metadata, http=False, custom=False)
                if e.path not in found
                else _object(
                    e.path,
                    found[e.path],
                    http=options.include_http_metadata,
                    custom=options.include_custom_metadata,
                )
                for e in page.objects
                if found.get(e.path, True) is not None  # None: deleted since the listing
            )
        else:
            objects = tuple(_object(e.path, e.metadata, http=False, custom=False) for e in page.objects)
        return R2Objects(
            objects=objects,
            truncated=page.truncated,
            cursor=encode_cursor(last_key) if page.truncated and last_key is not None else None,
            delimited_prefixes=tuple(page.delimited_prefixes),
        )

    async def _recursive(self, prefix: str, start_after: str | None, limit: int) -> AsyncIterator[Any]:
        lister = await self._op.list(
            prefix, recursive=True, start_after=start_after, limit=min(limit + 1, 1000)
        )
        return lister.__aiter__()

    # -- writes ----------------------------------------------------------------------------------

    @staticmethod
    def _write_options(options: PutOptions) -> dict[str, Any]:
        http = options.http_metadata
        out: dict[str, Any] = {
            name: getattr(http, name)
            for name in ("content_type", "content_disposition", "content_encoding", "cache_control")
            if getattr(http, name) is not None
        }
        if options.custom_metadata:
            out["user_metadata"] = dict(options.custom_metadata)
        return out

    async def put(
        self, key: str, payload: BytesPayload | StreamPayload, options: PutOptions
    ) -> R2Object | None:
        if self._direct is not None:
            if isinstance(payload, BytesPayload):
                return await self._put_direct(key, payload.data, options)
            if options.only_if is None:
                return await self._put_stream_direct(key, payload, options)
        elif options.storage_class is not None or options.checksums.keys() & _SENT_CHECKSUMS:
            raise Unsupported(
                "storage_class and sha1/sha256/crc32/crc32c checksums are sent by this package's own "
                "signed requests, which need explicit keys, no proxy and no concurrency limit",
                capability="r2",
                operation="put",
                key=key,
            )
        _refuse_crc_in_parts(key, options)  # a conditional stream goes through OpenDAL's writer
        write_options = self._write_options(options)
        if isinstance(payload, BytesPayload):
            if options.only_if is None:
                await self._op.write(key, payload.data, **write_options)
                return self._written(key, payload.data, options)
            for _ in range(_CONDITION_ATTEMPTS):
                pin = await self._pin(key, options.only_if)
                if pin is None:
                    return None
                try:
                    await self._op_once.write(key, payload.data, **write_options, **pin)
                except ConditionNotMatch:
                    continue  # changed between the stat and the write: evaluate again
                return self._written(key, payload.data, options)
            raise PreconditionFailed(
                "the object kept changing while the conditional put was evaluated; try again",
                retryable=True,
                capability="r2",
                key=key,
            )
        return await self._put_stream(key, payload, options, write_options)

    def _put_headers(self, options: PutOptions) -> dict[str, str]:
        """PutObject / CreateMultipartUpload headers: content headers, ``x-amz-meta-*``, class."""
        from .s3_get import s3_storage_class

        headers = {
            name.replace("_", "-"): value
            for name, value in self._write_options(options).items()
            if name != "user_metadata"
        }
        for name, value in options.custom_metadata.items():
            headers[f"x-amz-meta-{name}"] = value
        if options.storage_class is not None:
            headers["x-amz-storage-class"] = s3_storage_class(options.storage_class)
        return headers

    async def _put_direct(self, key: str, data: bytes, options: PutOptions) -> R2Object | None:
        """One signed PutObject carrying the checksum (verified by the server too) and the storage
        class; the stored object is made from the answer, with no HEAD (see :meth:`_sent`)."""
        from .s3_get import checksum_headers

        assert self._direct is not None
        headers = self._put_headers(options) | checksum_headers(options.checksums)
        if options.only_if is None:
            answer = await self._direct.put(key, data, headers, retry=True)
            assert answer is not None  # no condition was sent
            return self._sent(key, len(data), answer, options)
        for _ in range(_CONDITION_ATTEMPTS):
            pin = await self._pin_headers(key, options.only_if)
            if pin is None:
                return None
            answer = await self._direct.put(key, data, headers | pin, retry=False)
            if answer is None:
                continue  # changed between the head and the write: evaluate again
            return self._sent(key, len(data), answer, options)
        raise PreconditionFailed(
            "the object kept changing while the conditional put was evaluated; try again",
            retryable=True,
            capability="r2",
            key=key,
        )

    async def _pin_headers(self, key: str, only_if: R2Conditional) -> dict[str, str] | None:
        """:meth:`_pin` as PutObject's condition headers."""
        assert self._direct is not None
        current = await self._direct.head(key)
        if current is None:
            return {"if-none-match": "*"} if condition_holds(only_if, None, None) else None
        if not condition_holds(only_if, current.etag, current.uploaded):
            return None
        return {"if-match": current.http_etag}

    @staticmethod
    def _sent(key: str, size: int, answer: Mapping[str, str], options: PutOptions) -> R2Object:
        """The object a write stored, from what was sent and the server's answer — no HEAD.

        The answer carries the etag (a single PUT's is the body's MD5, S3's and R2's alike: the
        server's proof of what it received, so nothing is hashed here) and, where the server sends
        them, the checksums and storage class. Two fields would need a HEAD, and are not worth one:
        ``uploaded`` is this machine's clock when the write was answered (S3's ``Last-Modified`` is
        second-truncated anyway), and ``storage_class`` is None when it was not given and the
        answer does not name it (the bucket's default applies; ``head`` reports it)."""
        from .s3_get import checksums_from_headers, r2_storage_class

        etag = _etag(answer.get("etag"))
        checksums = checksums_from_headers(answer, etag)
        given = {**options.checksums, **checksums.to_dict()}
        named = answer.get("x-amz-storage-class")
        return R2Object(
            key=key,
            size=size,
            etag=etag,
            uploaded=_dt.datetime.now(_dt.UTC),
            http_metadata=options.http_metadata,
            custom_metadata=dict(options.custom_metadata),
            checksums=R2Checksums.from_dict(given),
            storage_class=r2_storage_class(named) if named else options.storage_class,
        )

    async def _put_stream_direct(self, key: str, payload: StreamPayload, options: PutOptions) -> R2Object:
        """A stream: one PutObject when it fits a part (no multipart, no HEAD), else S3's multipart
        calls with ``concurrency`` parts in flight. A checksum is computed part by part as the
        stream is sent, in a worker thread (each part in order), and checked before the upload
        completes, so a wrong one stores nothing."""
        from .s3_get import checksum_headers

        part_size = self._transfer.part_size
        if payload.size is not None and payload.size > part_size:
            _refuse_crc_in_parts(key, options)
        carry = bytearray()
        first = await read_up_to(payload.chunks, part_size, carry)
        if len(first) == part_size:
            carry[:0] = await read_up_to(payload.chunks, 1, carry)  # only to learn whether more follows
        if carry:
            _refuse_crc_in_parts(key, options)  # before CreateMultipartUpload: nothing was sent
        else:
            await verify_off_loop(first, options.checksums, operation="put")
            assert self._direct is not None
            headers = self._put_headers(options) | checksum_headers(options.checksums)
            answer = await self._direct.put(key, first, headers, retry=False)
            assert answer is not None
            return self._sent(key, len(first), answer, options)
        client = self._s3("put")
        digests = Digests(options.checksums, md5=False) if options.checksums else None
        pending = [first]  # handed over, not kept here: a part's memory goes once it is sent
        del first

        async def parts() -> AsyncIterator[bytes | bytearray]:
            part: bytes | bytearray = pending.pop()
            while part:
                if digests is not None:
                    await hash_off_loop(digests, part)
                yield part
                if len(part) < part_size:
                    return
                part = b""  # not held while the next one is read
                part = await _fill_part(payload.chunks, part_size, carry)

        upload_id = await client.create(key, self._put_headers(options))
        try:
            sizes: list[int] = []

            async def upload(number: int, data: bytes | bytearray) -> tuple[int, str]:
                sizes.append(len(data))
                assert self._direct is not None
                return number, await self._direct.upload_part(key, upload_id, number, data)

            uploaded = await upload_parts(parts(), upload, concurrency=self._transfer.concurrency)
            if digests is not None:
                digests.verify(operation="put")  # before completing: a wrong checksum stores nothing
            etag = await client.complete(key, upload_id, uploaded)
        except BaseException:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(Exception):
                    await client.abort(key, upload_id)
            raise
        return R2Object(
            key=key,
            size=sum(sizes),
            etag=etag,
            uploaded=_dt.datetime.now(_dt.UTC),
            http_metadata=options.http_metadata,
            custom_metadata=dict(options.custom_metadata),
            checksums=R2Checksums.from_dict(options.checksums),
            storage_class=options.storage_class,
        )

    async def _pin(self, key: str, only_if: R2Conditional) -> dict[str, Any] | None:
        """Evaluate ``only_if`` on the object as it is; the write options that keep the write to
        that very object, or None when the condition does not hold."""
        meta = await self._stat(key)
        if meta is None:
            return {"if_not_exists": True} if condition_holds(only_if, None, None) else None
        obj = _object(key, meta)
        if not condition_holds(only_if, obj.etag, obj.uploaded):
            return None
        return {"if_match": meta.etag}

    @staticmethod
    def _written(key: str, data: bytes, options: PutOptions) -> R2Object:
        """The object just stored, from what was sent: S3's answer to a single PUT carries only the
        etag, which is the body's MD5 (R2's too), and no upload time — so ``uploaded`` is this
        machine's clock when the write completed, and reading the object back (one more request
        per put) would only add S3's second-truncated ``Last-Modified``."""
        digests = Digests.of(data, options.checksums)
        return R2Object(
            key=key,
            size=len(data),
            etag=digests.md5,
            uploaded=_dt.datetime.now(_dt.UTC),
            http_metadata=options.http_metadata,
            custom_metadata=dict(options.custom_metadata),
            checksums=R2Checksums.from_dict(digests.computed()),
        )

    async def _put_stream(
        self, key: str, payload: StreamPayload, options: PutOptions, write_options: dict[str, Any]
    ) -> R2Object | None:
        # never OpenDAL's retrying operator: it would repeat CompleteMultipartUpload (see the module
        # docstring), and a stream cannot be sent twice anyway
        operator = self._op_once
        if options.only_if is not None:
            pin = await self._pin(key, options.only_if)
            if pin is None:
                return None
            write_options = {**write_options, **pin}
        digests = Digests(options.checksums)
        writer = await operator.open(
            key,
            "wb",
            chunk=self._transfer.part_size,
            concurrent=self._transfer.concurrency,
            **write_options,
        )
        closed = False
        try:
            carry = bytearray()
            while True:
                block = await read_up_to(payload.chunks, self._transfer.read_chunk_size, carry)
                if not block:
                    break
                digests.update(block)
                await writer.write(block)
            # the upload completes on close: a wrong checksum must never get that far
            digests.verify(operation="put")
            closed = True
            await writer.close()
        except ConditionNotMatch:
            if options.only_if is not None and await self._pin(key, options.only_if) is None:
                return None
            raise PreconditionFailed(
                "the object changed while the stream was uploading; nothing was stored, try again",
                retryable=True,
                capability="r2",
                key=key,
            ) from None
        finally:
            if not closed:
                del writer  # never closed: OpenDAL leaves the upload incomplete, so nothing is visible
        meta = await self._op.stat(key)
        stored = _object(key, meta)
        return dataclasses.replace(
            stored, http_metadata=_merge_http(stored.http_metadata, options.http_metadata)
        )

    async def delete(self, keys: builtins.list[str]) -> None:
        await gather_bounded([self._op.delete(key) for key in dict.fromkeys(keys)], _PARALLEL_REQUESTS)

    # -- multipart -------------------------------------------------------------------------------

    def _s3(self, operation: str) -> S3Multipart:
        if self._multipart is None:
            if self._s3_config is None:
                raise Unsupported(
                    f"multipart uploads need S3's API; OpenDAL's {self._scheme} service has none here",
                    capability="r2",
                    operation=operation,
                )
            from .s3_multipart import S3Multipart

            self._multipart = S3Multipart(self._s3_config, timeout=self._timeout)
        return self._multipart

    async def create_multipart_upload(self, key: str, options: PutOptions) -> str:
        client = self._s3("create_multipart_upload")
        return await client.create(key, self._put_headers(options))

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, payload: BytesPayload | StreamPayload
    ) -> R2UploadedPart:
        client = self._s3("upload_part")
        content: bytes | AsyncIterator[bytes]
        if isinstance(payload, BytesPayload):
            content, length = payload.data, len(payload.data)
        elif payload.size is not None:
            content, length = payload.chunks, payload.size
        else:  # S3 needs a part's length before its body: a stream of unknown length is buffered
            content = await read_up_to(payload.chunks, limits.PART_MAX_BYTES + 1, bytearray())
            if len(content) > limits.PART_MAX_BYTES:
                raise InvalidInput(
                    f"a part holds at most {limits.PART_MAX_BYTES} bytes",
                    field="value",
                    capability="r2",
                    operation="upload_part",
                    key=key,
                )
            length = len(content)
        etag = await client.upload_part(key, upload_id, part_number, content, length)
        return R2UploadedPart(part_number=part_number, etag=etag)

    async def complete_multipart_upload(
        self, key: str, upload_id: str, parts: builtins.list[R2UploadedPart]
    ) -> R2Object:
        client = self._s3("complete_multipart_upload")
        etag = await client.complete(key, upload_id, [(p.part_number, p.etag) for p in parts])
        # S3's answer names only the etag: size and metadata (set by whoever created the upload)
        # need a HEAD, pinned to that etag so another writer's object is never returned as this one
        replaced = PreconditionFailed(
            "the upload completed, but another write replaced the object before it could be read back",
            capability="r2",
            operation="complete_multipart_upload",
            key=key,
        )
        if self._direct is not None:
            obj = await self._direct.head(key, if_match=etag or None)
            if obj is None:
                raise replaced
            return obj
        try:
            meta = await self._op.stat(key, if_match=f'"{etag}"') if etag else await self._op.stat(key)
        except (ConditionNotMatch, OpenDalNotFound):
            raise replaced from None
        return _object(key, meta)

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        await self._s3("abort_multipart_upload").abort(key, upload_id)

    # -- presign ---------------------------------------------------------------------------------

    async def presign(
        self, key: str, method: str, expires_in: int, content_type: str | None
    ) -> PresignedRequest:
        able = self._capabilities.presign_read if method == "GET" else self._capabilities.presign_write
        if not able:
            raise Unsupported(
                f"OpenDAL's {self._scheme} service cannot presign {method} requests",
                capability="r2",
                operation="presign",
                key=key,
            )
        if method == "GET":
            request = await self._op.presign_read(key, expires_in)
        else:
            request = await self._op.presign_write(key, expires_in, content_type=content_type)
        return PresignedRequest(
            method="GET" if method == "GET" else "PUT",
            url=request.url,
            headers=dict(request.headers),
            expires_in=expires_in,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        multipart, self._multipart = self._multipart, None
        if multipart is not None:
            await multipart.aclose()
        if self._direct is not None:
            await self._direct.aclose()

    def __reduce__(self) -> Any:
        return refuse_pickling(self)

    def __repr__(self) -> str:
        return f"OpenDalBackend(scheme={self._scheme!r})"


def _merge_http(stored: R2HttpMetadata, sent: R2HttpMetadata) -> R2HttpMetadata:
    """``stat`` does not report ``cache_control``: keep the value this write sent."""
    if stored.cache_control is None and sent.cache_control is not None:
        return dataclasses.replace(stored, cache_control=sent.cache_control)
    return stored


async def _fill_part(chunks: AsyncIterator[bytes], size: int, carry: bytearray) -> bytearray:
    """Up to ``size`` bytes from ``carry`` then ``chunks``, into one buffer of that size that is
    handed over as it is (``read_up_to`` copies its result once more; a part in flight is 8 MiB)."""
    part = bytearray(size)
    filled = min(len(carry), size)
    part[:filled] = carry[:filled]
    del carry[:filled]
    while filled < size:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        take = min(len(chunk), size - filled)
        part[filled : filled + take] = chunk if take == len(chunk) else chunk[:take]
        filled += take
        if take < len(chunk):
            carry += chunk[take:]
    if filled < size:
        del part[filled:]  # the last part: shrunk in place
    return part


def _attempts() -> range:
    return range(_CONDITION_ATTEMPTS)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _refuse_crc_in_parts(key: str, options: PutOptions) -> None:
    """``Unsupported`` for a CRC that would have to travel with a multipart upload (or OpenDAL's
    writer), before anything is sent. R2's S3 API checks a multipart object's CRC32/CRC32C only as
    a composite of per-part CRCs (a value that is not the body's CRC; AWS also has a full-object
    CRC declared at CreateMultipartUpload), which is not sent here; a CRC checked only on this
    machine and never stored would read back as None, so it is refused rather than weakened."""
    crcs = [name for name in CRC_CHECKSUM_ALGORITHMS if name in options.checksums]
    if crcs:
        raise Unsupported(
            f"{crcs[0]} is sent only with a single PutObject: this put needs a multipart upload (a "
            "stream over TransferSettings.part_size) or a conditional stream, which cannot carry it; "
            "pass bytes, raise part_size, or use md5/sha1/sha256 (verified before the upload completes)",
            capability="r2",
            operation="put",
            key=key,
        )
