"""``R2Bucket``: one async interface to an R2 bucket, whatever reaches it.

The class is thin and the same for every backend: it checks each argument against R2's documented
limits (:mod:`~cap_cloudflare_r2.validation`) before any I/O, then sends the call through its layer
pipeline (hints, logging, metrics, deadline, retry) to a backend:

* ``from_env`` — the Workers binding (inside a Python Worker);
* ``from_config`` / ``from_url`` — OpenDAL: R2's S3 API or any S3-compatible store, or a memory/fs store;
* ``local`` — an OpenDAL ``fs`` directory on this machine, the embedded default.

Backends and OpenDAL are imported only by the constructor that needs them, so importing this module
stays cheap and works under Pyodide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from cap_opendal_core.capability import (
    Capability,
    check_binding,
    check_options,
    refuse_pickling,
    workers_only,
)
from cap_opendal_core.errors import Misconfigured

from . import limits
from . import operations as ops
from .options import PutOptions
from .spec import SPEC
from .transfer import (
    BytesPayload,
    StreamPayload,
    TransferSettings,
    prepare_value,
    verify_off_loop,
    with_progress,
)
from .validation import (
    check_checksums,
    check_conditional,
    check_custom_metadata,
    check_delete_keys,
    check_http_metadata,
    check_key,
    check_list_options,
    check_part_number,
    check_parts,
    check_presign,
    check_progress,
    check_range,
    check_storage_class,
    check_upload_id,
)

if TYPE_CHECKING:
    import os
    from collections.abc import AsyncIterator, Iterable, Mapping

    from cap_opendal_core.capability import CapabilityOptions
    from cap_opendal_core.embedded import Durability
    from cap_opendal_core.operators import ServiceConfig

    from . import models
    from .backends.base import R2Backend  # noqa: F401 (the Capability base's argument)
    from .config import R2Config
    from .transfer import Progress

__all__ = ["R2Bucket", "R2MultipartUpload"]


class R2Bucket(Capability["R2Backend"]):
    """An R2 bucket (``R2Bucket`` in the Workers API), on Workers, on a server or locally.

    Methods mirror the binding's, in Python spelling: :meth:`head`, :meth:`get`, :meth:`put`,
    :meth:`delete`, :meth:`list`, :meth:`create_multipart_upload`, :meth:`resume_multipart_upload`,
    plus :meth:`presign` on the S3 backend. ``async with bucket:`` closes what the backend opened; after
    ``aclose()`` every call raises ``Closed``.
    """

    spec = SPEC

    __slots__ = ()

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        env: Any,
        binding: str | None = None,
        *,
        transfer: TransferSettings | None = None,
        name: str | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> R2Bucket:
        """The R2 binding ``binding`` of a Python Worker's ``env`` (raw or wrapped by the ``workers`` SDK).

        ``name=`` is the deprecated spelling of ``binding`` (a ``DeprecationWarning``)."""
        binding = _binding_argument(binding, name)
        checked = check_options(cls, "from_env", options)
        check_binding(env, binding, capability=ops.CAPABILITY)
        with workers_only("R2Bucket", ops.CAPABILITY):
            from .backends.workers import WorkersBackend
        backend = WorkersBackend.from_env(env, binding, transfer or TransferSettings())
        return cls(backend, **checked)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        transfer: TransferSettings | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> R2Bucket:
        """``r2://bucket[/root]?account_id=…`` (R2's S3 API, see :meth:`R2Config.from_url`) or any
        OpenDAL operator URL: ``s3://bucket?endpoint=…``, ``memory://``, ``fs:///absolute/path`` (see
        ``cap_opendal_core.operators.from_url``); ``file:///absolute/path`` is the embedded engine, the
        same bucket as ``local(path)``."""
        from cap_opendal_core.embedded.url import file_url_path, is_file_url

        if is_file_url(url):
            return cls.local(file_url_path(url, capability="r2"), transfer=transfer, **options)
        if isinstance(url, str) and url[:5].lower() == "r2://":
            from .config import R2Config

            return cls.from_config(R2Config.from_url(url), transfer=transfer, **options)
        from cap_opendal_core.operators import from_url

        return cls.from_config(from_url(url, capability="r2"), transfer=transfer, **options)

    @classmethod
    def from_config(
        cls,
        config: R2Config | ServiceConfig,
        *,
        transfer: TransferSettings | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> R2Bucket:
        """An :class:`~cap_cloudflare_r2.R2Config` (R2's S3 API for one account and bucket) or any
        ``cap_opendal_core`` operator config (``S3Config``, ``FsConfig``, ``MemoryConfig`` …)."""
        from cap_opendal_core.operators.config import _ServiceConfig

        from .backends import operator_backend
        from .config import R2Config

        if isinstance(config, R2Config):
            config = config.to_s3_config()
        elif not isinstance(config, _ServiceConfig):
            raise Misconfigured(
                f"from_config() takes an R2Config or an operator config, got {type(config).__name__}",
                capability=ops.CAPABILITY,
                operation="from_config",
            )
        checked = check_options(cls, "from_config", options)
        backend = operator_backend(config, checked["settings"], transfer or TransferSettings())
        return cls(backend, **checked)

    @classmethod
    def local(
        cls,
        path: str | os.PathLike[str],
        *,
        transfer: TransferSettings | None = None,
        durability: Durability = "process",
        **options: Unpack[CapabilityOptions],
    ) -> R2Bucket:
        """A bucket kept in directory ``path`` on this machine (relative to the working directory
        when not absolute): the embedded default for development and tests. It persists: an
        acknowledged write survives the process being killed, and with ``durability="full"`` power
        loss too (see ``docs/local-storage.md``). ``file:///dir`` URLs name the same bucket."""
        from cap_opendal_core.embedded import check_durability
        from cap_opendal_core.localfs import local_root

        from .backends.embedded import LOCAL_MEMBERS, EmbeddedBackend

        checked = check_options(cls, "local", options)
        level = check_durability(durability, capability="r2")
        root = local_root(path, capability="r2", members=LOCAL_MEMBERS)
        backend = EmbeddedBackend(root, transfer or TransferSettings(), durability=level)
        return cls(backend, **checked)

    # -- what this capability is ------------------------------------------------------------------
    # ``info`` (strong and durable; ephemeral for ``memory://``), ``backend`` (``workers``, ``opendal``
    # or ``local``), ``pipeline``, ``closed``, ``aclose()``, ``async with`` and the refusal to pickle
    # come from ``Capability``.

    def _describe(self) -> str:
        return f"backend={self._backend!r}"

    # -- reads ---------------------------------------------------------------------------------

    async def head(self, key: str) -> models.R2Object | None:
        """The object's metadata, or None when there is no such object."""
        key = self._key(key, "head")
        return await self._pipeline.call(ops.HEAD, self._backend.head, key, key=key)

    async def get(
        self,
        key: str,
        *,
        range: models.R2Range | Mapping[str, int] | None = None,
        only_if: models.R2Conditional | Mapping[str, Any] | None = None,
        on_progress: Progress | None = None,
    ) -> models.R2ObjectBody | None:
        """The object with its body (streamed: ``async for chunk in body``), or None when there is no
        such object or ``only_if`` does not hold. ``range``: ``R2Range(offset=, length=)`` or
        ``R2Range(suffix=)``. ``on_progress(bytes so far, total)`` is called as the body is read."""
        key = self._key(key, "get")
        checked_range = check_range(range, operation="get")
        condition = check_conditional(only_if, operation="get")
        progress = check_progress(on_progress, operation="get")
        pinned = condition is not None and condition.etag_matches is not None
        got: models.R2ObjectBody | None = await self._pipeline.call(
            ops.GET,
            self._backend.get,
            key,
            checked_range,
            condition,
            key=key,
            determinism_hint=ops.PINNED_HINT if pinned else None,
        )
        if got is not None and progress is not None:
            got._chunks = with_progress(got._chunks, got.range.length, progress)
        return got

    async def list(
        self,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        cursor: str | None = None,
        limit: int = limits.LIST_LIMIT_MAX,
        start_after: str | None = None,
        include: Iterable[str] = (),
    ) -> models.R2Objects:
        """One page of objects in key order. Pass the returned ``cursor`` back for the next page
        while ``truncated``; ``include`` adds ``http_metadata`` / ``custom_metadata`` to each object
        (a page may then hold fewer than ``limit``)."""
        options = check_list_options(
            prefix=prefix,
            delimiter=delimiter,
            cursor=cursor,
            limit=limit,
            start_after=start_after,
            include=include,
        )
        return await self._pipeline.call(ops.LIST, self._backend.list, options, key=options.prefix or None)

    async def iter_objects(
        self,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        start_after: str | None = None,
        include: Iterable[str] = (),
        page_size: int = limits.LIST_LIMIT_MAX,
    ) -> AsyncIterator[models.R2Object]:
        """Every object under ``prefix`` in key order, page after page (as KV's ``iter_keys``): one
        :meth:`list` call per page of ``page_size``, the next asked for only when this one is used
        up. With ``delimiter``, objects below a delimited prefix are rolled up and not yielded
        (:meth:`list` returns the prefixes)."""
        checked = check_list_options(
            prefix=prefix, delimiter=delimiter, limit=page_size, start_after=start_after, include=include
        )  # bad arguments fail on the first ``__anext__``, before any I/O
        include = [
            name
            for name, wanted in (
                ("http_metadata", checked.include_http_metadata),
                ("custom_metadata", checked.include_custom_metadata),
            )
            if wanted
        ]
        cursor: str | None = None
        while True:
            page = await self.list(
                prefix=prefix,
                delimiter=delimiter,
                cursor=cursor,
                limit=page_size,
                start_after=start_after,
                include=include,
            )
            for obj in page.objects:
                yield obj
            if not page.truncated or page.cursor is None:
                return
            cursor = page.cursor

    # -- writes --------------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        value: models.R2PutValue,
        *,
        http_metadata: models.R2HttpMetadata | Mapping[str, Any] | None = None,
        custom_metadata: Mapping[str, str] | None = None,
        md5: str | bytes | None = None,
        sha1: str | bytes | None = None,
        sha256: str | bytes | None = None,
        sha384: str | bytes | None = None,
        sha512: str | bytes | None = None,
        crc32: str | bytes | None = None,
        crc32c: str | bytes | None = None,
        only_if: models.R2Conditional | Mapping[str, Any] | None = None,
        storage_class: str | None = None,
        on_progress: Progress | None = None,
    ) -> models.R2Object | None:
        """Store ``value`` (bytes, str, an async iterable of bytes or a binary file) under ``key``.

        Returns the stored object, or None when ``only_if`` does not hold. A checksum (at most one
        of ``md5`` … ``sha512``, hex or digest bytes, or ``crc32`` / ``crc32c``, S3's base64 of the
        4-byte CRC, hex or the bytes) that does not match the body stores nothing. The CRCs are S3's:
        the Workers binding refuses them (``Unsupported``), as does a streamed multipart upload.
        ``storage_class``: ``Standard`` or ``InfrequentAccess`` (default: the bucket's).
        A stream or file larger than ``TransferSettings.part_size`` is uploaded in parts;
        ``on_progress(bytes so far, total or None)`` is called as a stream is read and sent.
        """
        key = self._key(key, "put")
        options = PutOptions(
            http_metadata=check_http_metadata(http_metadata, operation="put"),
            custom_metadata=check_custom_metadata(custom_metadata, operation="put"),
            checksums=check_checksums(
                {
                    "md5": md5,
                    "sha1": sha1,
                    "sha256": sha256,
                    "sha384": sha384,
                    "sha512": sha512,
                    "crc32": crc32,
                    "crc32c": crc32c,
                },
                operation="put",
            ),
            only_if=check_conditional(only_if, operation="put"),
            storage_class=check_storage_class(storage_class, operation="put"),
        )
        progress = check_progress(on_progress, operation="put")
        self._backend.check_put(options, "put")
        payload = prepare_value(value, operation="put", max_bytes=limits.SINGLE_UPLOAD_MAX_BYTES)
        if isinstance(payload, BytesPayload):
            await verify_off_loop(payload.data, options.checksums, operation="put")
        elif progress is not None:
            payload = StreamPayload(with_progress(payload.chunks, payload.size, progress), payload.size)
        retry_safe = isinstance(payload, BytesPayload) and options.only_if is None
        stored: models.R2Object | None = await self._pipeline.call(
            ops.PUT if retry_safe else ops.PUT_ONCE, self._backend.put, key, payload, options, key=key
        )
        if progress is not None and isinstance(payload, BytesPayload):
            progress(len(payload.data), len(payload.data))
        return stored

    async def delete(self, keys: str | Iterable[str]) -> None:
        """Delete one key or up to 1000; keys that do not exist are fine."""
        checked = check_delete_keys(keys)
        for key in checked:
            self._backend.check_key(key, "delete")
        if not checked:
            return
        await self._pipeline.call(
            ops.DELETE, self._backend.delete, checked, key=checked[0] if len(checked) == 1 else None
        )

    # -- multipart -----------------------------------------------------------------------------

    async def create_multipart_upload(
        self,
        key: str,
        *,
        http_metadata: models.R2HttpMetadata | Mapping[str, Any] | None = None,
        custom_metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> R2MultipartUpload:
        """Start a multipart upload of ``key``; the metadata (and ``storage_class``: ``Standard`` or
        ``InfrequentAccess``) is stored when it completes."""
        key = self._key(key, "create_multipart_upload")
        options = PutOptions(
            http_metadata=check_http_metadata(http_metadata, operation="create_multipart_upload"),
            custom_metadata=check_custom_metadata(custom_metadata, operation="create_multipart_upload"),
            storage_class=check_storage_class(storage_class, operation="create_multipart_upload"),
        )
        self._backend.check_put(options, "create_multipart_upload")
        upload_id = await self._pipeline.call(
            ops.CREATE_MULTIPART_UPLOAD, self._backend.create_multipart_upload, key, options, key=key
        )
        return R2MultipartUpload(self, key, upload_id)

    async def resume_multipart_upload(self, key: str, upload_id: str) -> R2MultipartUpload:
        """The handle of an upload started earlier (by this process or another), from its id."""
        key = self._key(key, "resume_multipart_upload")
        upload_id = check_upload_id(upload_id, operation="resume_multipart_upload")
        return await self._pipeline.call(ops.RESUME_MULTIPART_UPLOAD, self._resume, key, upload_id, key=key)

    async def _resume(self, key: str, upload_id: str) -> R2MultipartUpload:
        return R2MultipartUpload(self, key, upload_id)

    # -- presign -------------------------------------------------------------------------------

    async def presign(
        self,
        key: str,
        *,
        method: str = "GET",
        expires_in: int = 3600,
        content_type: str | None = None,
    ) -> models.PresignedRequest:
        """A URL that lets whoever holds it ``GET`` or ``PUT`` the object until it expires (S3
        backend only; ``Unsupported`` elsewhere). For ``PUT``, send the returned headers with it."""
        key = self._key(key, "presign")
        checked_method, seconds = check_presign(method, expires_in)
        if content_type is not None:
            check_http_metadata({"content_type": content_type}, operation="presign")
        op = ops.PRESIGN_GET if checked_method == "GET" else ops.PRESIGN_PUT
        return await self._pipeline.call(
            op, self._backend.presign, key, checked_method, seconds, content_type, key=key
        )

    # -- helpers -------------------------------------------------------------------------------

    def _key(self, key: object, operation: str) -> str:
        checked = check_key(key, operation=operation)
        self._backend.check_key(checked, operation)
        return checked


class R2MultipartUpload:
    """A multipart upload in progress (``R2MultipartUpload``): upload parts (any order, in
    parallel), then :meth:`complete` with the parts, or :meth:`abort`.

    Parts are 5 MiB-5 GiB, all the same size except the last (checked when the upload completes),
    numbered 1-10,000. Keep ``upload_id`` to resume from elsewhere with
    :meth:`R2Bucket.resume_multipart_upload`.
    """

    __slots__ = ("_bucket", "key", "upload_id")

    def __init__(self, bucket: R2Bucket, key: str, upload_id: str) -> None:
        self._bucket = bucket
        self.key = key
        self.upload_id = upload_id

    async def upload_part(self, part_number: int, value: models.R2PutValue) -> models.R2UploadedPart:
        """Upload part ``part_number`` (1-10,000); uploading a number again replaces that part."""
        number = check_part_number(part_number)
        payload = prepare_value(value, operation="upload_part", max_bytes=limits.PART_MAX_BYTES)
        b = self._bucket
        return await b._pipeline.call(
            ops.UPLOAD_PART if isinstance(payload, BytesPayload) else ops.UPLOAD_PART_ONCE,
            b._backend.upload_part,
            self.key,
            self.upload_id,
            number,
            payload,
            key=self.key,
        )

    async def complete(self, parts: Iterable[models.R2UploadedPart | Mapping[str, Any]]) -> models.R2Object:
        """Assemble the object from ``parts`` (what :meth:`upload_part` returned); its etag is
        ``<md5 of the parts' md5s>-<part count>``, as S3's and R2's are. Where the object is read
        back after completing (S3), a write by someone else in between is ``PreconditionFailed``,
        never that other object returned as this upload's."""
        checked = check_parts(parts)
        b = self._bucket
        return await b._pipeline.call(
            ops.COMPLETE_MULTIPART_UPLOAD,
            b._backend.complete_multipart_upload,
            self.key,
            self.upload_id,
            checked,
            key=self.key,
        )

    async def abort(self) -> None:
        """Give the upload up and discard its parts."""
        b = self._bucket
        await b._pipeline.call(
            ops.ABORT_MULTIPART_UPLOAD,
            b._backend.abort_multipart_upload,
            self.key,
            self.upload_id,
            key=self.key,
        )

    def __reduce__(self) -> Any:
        return refuse_pickling(self)

    def __repr__(self) -> str:
        return f"R2MultipartUpload(key={self.key!r}, upload_id={self.upload_id!r})"


def _binding_argument(binding: str | None, name: str | None) -> str:
    """``from_env``'s binding, from ``binding`` or the deprecated ``name=`` keyword."""
    if name is not None:
        import warnings

        if binding is not None:
            raise Misconfigured(
                "from_env() takes binding=, not both binding= and name=",
                capability="r2",
                operation="from_env",
            )
        warnings.warn(
            "R2Bucket.from_env(env, name=…) is deprecated: use from_env(env, binding) as the other "
            "capabilities do",
            DeprecationWarning,
            stacklevel=3,
        )
        return name
    if binding is None:
        raise Misconfigured("from_env() needs the binding's name", capability="r2", operation="from_env")
    return binding
