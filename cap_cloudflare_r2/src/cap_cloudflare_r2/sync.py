"""``cap_cloudflare_r2.sync.R2Bucket``: the same bucket for code without an event loop.

Each method runs the async method of the same name on the process-wide portal thread
(:mod:`cap_opendal_core.sync`) and blocks until it returns: same arguments, results and errors, safe
from many threads at once. What the async API returns as an async object has a blocking twin here:
an object's body (:class:`R2ObjectBody`) and a multipart upload (:class:`R2MultipartUpload`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from cap_opendal_core.forward import Forward
from cap_opendal_core.sync import SyncCapability, SyncIterator, SyncStream, run

from . import limits
from .bucket import R2Bucket as AsyncR2Bucket
from .bucket import R2MultipartUpload as AsyncR2MultipartUpload

if TYPE_CHECKING:
    import datetime as _dt
    import os
    from collections.abc import Iterable, Mapping

    from cap_opendal_core.operators import ServiceConfig

    from .config import R2Config
    from .models import (
        PresignedRequest,
        R2Checksums,
        R2Conditional,
        R2HttpMetadata,
        R2Object,
        R2Objects,
        R2PutValue,
        R2Range,
        R2UploadedPart,
    )
    from .models import R2ObjectBody as AsyncR2ObjectBody
    from .transfer import Progress

__all__ = ["R2Bucket", "R2MultipartUpload", "R2ObjectBody"]


class R2Bucket(SyncCapability[AsyncR2Bucket]):
    """An R2 bucket with blocking methods; see :class:`cap_cloudflare_r2.R2Bucket` for what each
    does. Build it like the async one (``local``, ``from_url``, ``from_config``; keywords pass
    through), or wrap an async bucket: ``R2Bucket(async_bucket)``."""

    __slots__ = ()
    _async_class = AsyncR2Bucket

    @classmethod
    def local(cls, path: str | os.PathLike[str], **kwargs: Any) -> Self:
        """``cap_cloudflare_r2.R2Bucket.local(path, **kwargs)``, blocking."""
        return cls(AsyncR2Bucket.local(path, **kwargs))

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """``cap_cloudflare_r2.R2Bucket.from_url(url, **kwargs)``, blocking."""
        return cls(AsyncR2Bucket.from_url(url, **kwargs))

    @classmethod
    def from_config(cls, config: R2Config | ServiceConfig, **kwargs: Any) -> Self:
        """``cap_cloudflare_r2.R2Bucket.from_config(config, **kwargs)``, blocking."""
        return cls(AsyncR2Bucket.from_config(config, **kwargs))

    # -- reads ---------------------------------------------------------------------------------

    def head(self, key: str) -> R2Object | None:
        """The object's metadata, or None when there is no such object."""
        return self._run(self._cap.head, key)

    def get(
        self,
        key: str,
        *,
        range: R2Range | Mapping[str, int] | None = None,
        only_if: R2Conditional | Mapping[str, Any] | None = None,
        on_progress: Progress | None = None,
    ) -> R2ObjectBody | None:
        """The object with its body (``read()`` it, or iterate its chunks; close it if left
        unread), or None when there is no such object or ``only_if`` does not hold.
        ``on_progress`` is called on the SDK's loop thread: keep it quick."""
        body = self._run(self._cap.get, key, range=range, only_if=only_if, on_progress=on_progress)
        return None if body is None else R2ObjectBody(body)

    def list(
        self,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        cursor: str | None = None,
        limit: int = limits.LIST_LIMIT_MAX,
        start_after: str | None = None,
        include: Iterable[str] = (),
    ) -> R2Objects:
        """One page of objects in key order; pass ``cursor`` back while ``truncated``."""
        return self._run(
            self._cap.list,
            prefix=prefix,
            delimiter=delimiter,
            cursor=cursor,
            limit=limit,
            start_after=start_after,
            include=include,
        )

    def iter_objects(
        self,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        start_after: str | None = None,
        include: Iterable[str] = (),
        page_size: int = limits.LIST_LIMIT_MAX,
    ) -> SyncIterator[R2Object]:
        """Every object under ``prefix`` in key order, page after page:
        ``for obj in bucket.iter_objects(): …``."""
        return SyncIterator(
            self._cap.iter_objects(
                prefix=prefix,
                delimiter=delimiter,
                start_after=start_after,
                include=include,
                page_size=page_size,
            ),
            "R2Bucket.iter_objects()",
        )

    # -- writes --------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        value: R2PutValue,
        *,
        http_metadata: R2HttpMetadata | Mapping[str, Any] | None = None,
        custom_metadata: Mapping[str, str] | None = None,
        md5: str | bytes | None = None,
        sha1: str | bytes | None = None,
        sha256: str | bytes | None = None,
        sha384: str | bytes | None = None,
        sha512: str | bytes | None = None,
        crc32: str | bytes | None = None,
        crc32c: str | bytes | None = None,
        only_if: R2Conditional | Mapping[str, Any] | None = None,
        storage_class: str | None = None,
        on_progress: Progress | None = None,
    ) -> R2Object | None:
        """Store ``value`` (bytes, str, a binary file, or an async iterable of bytes) under ``key``;
        None when ``only_if`` does not hold."""
        return self._run(
            self._cap.put,
            key,
            value,
            http_metadata=http_metadata,
            custom_metadata=custom_metadata,
            md5=md5,
            sha1=sha1,
            sha256=sha256,
            sha384=sha384,
            sha512=sha512,
            crc32=crc32,
            crc32c=crc32c,
            only_if=only_if,
            storage_class=storage_class,
            on_progress=on_progress,
        )

    def delete(self, keys: str | Iterable[str]) -> None:
        """Delete one key or up to 1000; keys that do not exist are fine."""
        self._run(self._cap.delete, keys)

    # -- multipart -----------------------------------------------------------------------------

    def create_multipart_upload(
        self,
        key: str,
        *,
        http_metadata: R2HttpMetadata | Mapping[str, Any] | None = None,
        custom_metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> R2MultipartUpload:
        """Start a multipart upload of ``key``."""
        upload = self._run(
            self._cap.create_multipart_upload,
            key,
            http_metadata=http_metadata,
            custom_metadata=custom_metadata,
            storage_class=storage_class,
        )
        return R2MultipartUpload(upload)

    def resume_multipart_upload(self, key: str, upload_id: str) -> R2MultipartUpload:
        """The handle of an upload started earlier, from its id."""
        return R2MultipartUpload(self._run(self._cap.resume_multipart_upload, key, upload_id))

    # -- presign -------------------------------------------------------------------------------

    def presign(
        self,
        key: str,
        *,
        method: str = "GET",
        expires_in: int = 3600,
        content_type: str | None = None,
    ) -> PresignedRequest:
        """A URL that lets whoever holds it ``GET`` or ``PUT`` the object until it expires."""
        return self._run(
            self._cap.presign, key, method=method, expires_in=expires_in, content_type=content_type
        )


class R2MultipartUpload:
    """A multipart upload in progress, with blocking methods (see the async class)."""

    __slots__ = ("_upload",)

    def __init__(self, upload: AsyncR2MultipartUpload) -> None:
        self._upload = upload

    key: Forward[str] = Forward("_upload")
    upload_id: Forward[str] = Forward("_upload")

    def upload_part(self, part_number: int, value: object) -> R2UploadedPart:
        """Upload part ``part_number`` (1-10,000)."""
        return run(self._upload.upload_part, part_number, value, what="R2MultipartUpload.upload_part()")

    def complete(self, parts: Iterable[R2UploadedPart | Mapping[str, Any]]) -> R2Object:
        """Assemble the object from ``parts``."""
        return run(self._upload.complete, parts, what="R2MultipartUpload.complete()")

    def abort(self) -> None:
        """Give the upload up and discard its parts."""
        run(self._upload.abort, what="R2MultipartUpload.abort()")

    def __reduce__(self) -> Any:
        from cap_opendal_core.capability import refuse_pickling

        return refuse_pickling(self)

    def __repr__(self) -> str:
        return f"sync.{self._upload!r}"


class R2ObjectBody(SyncStream):
    """An object with its body, read from a sync caller: ``read()``, ``text()``, ``json()``, or
    iterate the chunks; ``close()`` (or ``with``) when it may be left unread."""

    __slots__ = ()

    def __init__(self, body: AsyncR2ObjectBody) -> None:
        super().__init__(body, "R2ObjectBody")

    def text(self, encoding: str = "utf-8") -> str:
        return self.read().decode(encoding)

    def json(self) -> Any:
        import json

        return json.loads(self.read())

    object: Forward[R2Object] = Forward("_stream")
    key: Forward[str] = Forward("_stream")
    version: Forward[str | None] = Forward("_stream")
    size: Forward[int] = Forward("_stream")
    etag: Forward[str] = Forward("_stream")
    http_etag: Forward[str] = Forward("_stream")
    uploaded: Forward[_dt.datetime] = Forward("_stream")
    http_metadata: Forward[R2HttpMetadata] = Forward("_stream")
    custom_metadata: Forward[Mapping[str, str]] = Forward("_stream")
    checksums: Forward[R2Checksums] = Forward("_stream")
    range: Forward[R2Range] = Forward("_stream")
    storage_class: Forward[str | None] = Forward("_stream")
    body_used: Forward[bool] = Forward("_stream")
