"""``cap_cloudflare_kv.sync.KvNamespace``: the same namespace for code without an event loop.

Flask and Django views, Celery tasks and scripts call these methods directly; each one runs the async
method of the same name and blocks until it returns — same arguments, same results, same errors. On
``memory://`` and ``fs://`` it runs in the calling thread, with OpenDAL's blocking I/O; on every
other backend on the process-wide portal thread (:mod:`cap_opendal_core.sync` says why).
Safe from many threads at once. ``close()`` or ``with`` closes the namespace.
``tests/conformance/test_sync_api.py`` checks every public async method has a twin here with the
same parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Self, overload

from cap_opendal_core.sync import SyncCapability, SyncIterator, SyncStream

from .namespace import KvNamespace as AsyncKvNamespace

if TYPE_CHECKING:
    import datetime as _dt
    import os
    from collections.abc import AsyncIterable, Iterable, Mapping

    from cap_opendal_core.operators.config import ServiceConfig

    from .config import CloudflareKvConfig
    from .models import KvKey, KvListResult, KvValueWithMetadata, KvWrite, ValueType, WriteValue

__all__ = ["KvNamespace"]


class KvNamespace(SyncCapability[AsyncKvNamespace]):
    """A Workers KV namespace with blocking methods; see :class:`cap_cloudflare_kv.KvNamespace` for
    what each does. Build it like the async one (``local``, ``from_url``, ``from_config``; keywords
    pass through), or wrap an async namespace: ``KvNamespace(async_kv)``."""

    __slots__ = ()
    _async_class = AsyncKvNamespace

    @classmethod
    def local(cls, path: str | os.PathLike[str], **kwargs: Any) -> Self:
        """``cap_cloudflare_kv.KvNamespace.local(path, **kwargs)``, blocking."""
        return cls(AsyncKvNamespace.local(path, **kwargs))

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """``cap_cloudflare_kv.KvNamespace.from_url(url, **kwargs)``, blocking."""
        return cls(AsyncKvNamespace.from_url(url, **kwargs))

    @classmethod
    def from_config(cls, config: CloudflareKvConfig | ServiceConfig, **kwargs: Any) -> Self:
        """``cap_cloudflare_kv.KvNamespace.from_config(config, **kwargs)``, blocking."""
        return cls(AsyncKvNamespace.from_config(config, **kwargs))

    # -- reads -----------------------------------------------------------------------------------

    @overload
    def get(
        self, key: str, type: Literal["text"] = "text", *, cache_ttl: float | None = None
    ) -> str | None: ...
    @overload
    def get(self, key: str, type: Literal["bytes"], *, cache_ttl: float | None = None) -> bytes | None: ...
    @overload
    def get(self, key: str, type: Literal["json"], *, cache_ttl: float | None = None) -> Any: ...
    @overload
    def get(
        self, key: str, type: Literal["stream"], *, cache_ttl: float | None = None
    ) -> SyncStream | None: ...
    @overload
    def get(self, key: str, type: str, *, cache_ttl: float | None = None) -> Any: ...
    def get(self, key: str, type: str = "text", *, cache_ttl: float | None = None) -> Any:
        """The value of ``key`` as ``type``; None if missing. ``stream`` gives a
        :class:`~cap_opendal_core.sync.SyncStream` (iterate it, or ``read()``; close it)."""
        if type == "stream":  # the body outlives the call: it is read on the portal
            value = self._run_on_portal(self._cap.get, key, type, cache_ttl=cache_ttl)
            return None if value is None else SyncStream(value, "KvNamespace.get()")
        return self._run(self._cap.get, key, type, cache_ttl=cache_ttl)

    def get_with_metadata(
        self, key: str, type: ValueType | str = "text", *, cache_ttl: float | None = None
    ) -> KvValueWithMetadata:
        """The value and its metadata; both None when ``key`` is missing (a ``stream`` value stays
        the async stream: read it with ``type="bytes"`` here)."""
        if type == "stream":  # the body outlives the call: it is read on the portal
            return self._run_on_portal(self._cap.get_with_metadata, key, type, cache_ttl=cache_ttl)
        return self._run(self._cap.get_with_metadata, key, type, cache_ttl=cache_ttl)

    def get_many(self, keys: Iterable[str], type: Literal["text", "json"] = "text") -> dict[str, Any]:
        """``{key: value or None}`` for every key."""
        return self._run(self._cap.get_many, keys, type)

    def list(
        self, *, prefix: str | None = None, limit: int = 1000, cursor: str | None = None
    ) -> KvListResult:
        """One page of keys; pass ``.cursor`` back for the next."""
        return self._run(self._cap.list, prefix=prefix, limit=limit, cursor=cursor)

    def iter_keys(self, *, prefix: str | None = None, page_size: int = 1000) -> SyncIterator[KvKey]:
        """Every key (with ``prefix``), page after page: ``for key in kv.iter_keys(): …``."""
        return SyncIterator(
            self._cap.iter_keys(prefix=prefix, page_size=page_size), "KvNamespace.iter_keys()"
        )

    # -- writes ----------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        value: WriteValue | AsyncIterable[bytes],
        *,
        expiration: int | float | _dt.datetime | None = None,
        expiration_ttl: int | float | _dt.timedelta | None = None,
        metadata: Any = None,
    ) -> None:
        """Store ``value`` under ``key`` (see the async method for expiration and metadata)."""
        self._run(
            self._cap.put, key, value, expiration=expiration, expiration_ttl=expiration_ttl, metadata=metadata
        )

    def put_many(self, items: Mapping[str, WriteValue] | Iterable[KvWrite | tuple[str, WriteValue]]) -> None:
        """Write many keys; nothing is written if one is invalid."""
        self._run(self._cap.put_many, items)

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        self._run(self._cap.delete, key)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key in ``keys``."""
        self._run(self._cap.delete_many, keys)

    def purge_expired(self) -> int:
        """Delete every expired entry now (local backends only)."""
        return self._run(self._cap.purge_expired)
