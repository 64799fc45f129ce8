"""``KvNamespace``: Workers KV as one async capability, the same on Workers, servers and laptops.

The class is thin on purpose (the shape of OpenDAL's ``Operator`` and httpx's ``Client``): each method
checks its arguments against Workers KV's documented limits (:mod:`.validation`), then makes exactly
one call to its backend through the capability's layer pipeline, which records the call's hints,
logs, measures, retries and translates errors. Backends are chosen by the constructor and imported
only then, so ``import cap_cloudflare_kv`` stays cheap and works under Pyodide.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, Unpack, overload

from cap_opendal_core.capability import Capability, check_binding, check_options, workers_only
from cap_opendal_core.errors import InvalidInput, Misconfigured, Unsupported

from . import operations as ops
from .models import PreparedWrite
from .spec import SPEC
from .validation import (
    check_cache_ttl,
    check_cursor,
    check_key,
    check_keys,
    check_list_limit,
    check_prefix,
    check_type,
    check_value,
    collect_stream,
    prepare_write,
    prepare_writes,
)

if TYPE_CHECKING:
    import datetime as _dt
    import os

    from cap_opendal_core.capability import CapabilityOptions
    from cap_opendal_core.embedded import Durability
    from cap_opendal_core.operators.config import ServiceConfig

    from .backends.base import KvBackend  # noqa: F401 (the Capability base's argument)
    from .config import CloudflareKvConfig
    from .models import KvKey, KvListResult, KvValueWithMetadata, KvWrite, ValueType, WriteValue
    from .streams import KvStream

__all__ = ["KvNamespace"]

_BYTES_LIKE: Final = (str, bytes, bytearray, memoryview)
_MANY_TYPES: Final = ("text", "json")


class KvNamespace(Capability["KvBackend"]):
    """A Workers KV namespace. Build one with :meth:`from_env` (inside a Python Worker),
    :meth:`local` (on disk, the embedded default), :meth:`from_url` (any OpenDAL operator URL;
    ``memory://`` for tests) or :meth:`from_config` (the Cloudflare REST API, or an operator config).

    ``async with kv:`` closes what the backend opened (the REST backend's connection pool); after
    ``aclose()`` every call raises ``Closed`` (see :class:`~cap_opendal_core.capability.Capability`).
    """

    spec = SPEC

    __slots__ = ()

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        env: Any,
        binding: str,
        **options: Unpack[CapabilityOptions],
    ) -> KvNamespace:
        """The KV binding ``binding`` of a Python Worker's ``env`` (raw or ``workers``-SDK-wrapped).

        Raises ``Misconfigured`` naming the binding when ``env`` lacks it.
        """
        checked = check_options(cls, "from_env", options)
        check_binding(env, binding, capability="kv")
        with workers_only("KvNamespace", "kv"):
            from .backends.workers import WorkersBackend

        return cls(WorkersBackend.from_env(env, binding), **checked)

    @classmethod
    def local(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] | None = None,
        durability: Durability = "process",
        **options: Unpack[CapabilityOptions],
    ) -> KvNamespace:
        """The embedded default: a namespace in directory ``path`` (created when first used).

        A relative ``path`` is resolved against the working directory now, once. ``clock`` (epoch
        seconds) decides expiration; tests pass a controllable one instead of sleeping. An
        acknowledged write survives the process being killed; ``durability="full"`` also survives
        power loss (see ``docs/local-storage.md``). ``file:///dir`` URLs name the same store.
        """
        from cap_opendal_core.embedded import check_durability
        from cap_opendal_core.localfs import local_root

        from .backends.local import LOCAL_MEMBERS, LocalBackend

        checked = check_options(cls, "local", options)
        level = check_durability(durability, capability="kv")
        root = local_root(path, capability="kv", members=LOCAL_MEMBERS, create=True)
        return cls(LocalBackend(root, durability=level, clock=clock), **checked)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Callable[[], float] | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> KvNamespace:
        """KV on the OpenDAL operator ``url`` names: ``memory://``, ``fs:///abs/dir``, ``s3://…``.

        ``file:///abs/dir`` is the embedded engine, the same store as ``local("/abs/dir")``.
        Raises ``Misconfigured`` for a URL core cannot use (the message never repeats the URL).
        """
        from cap_opendal_core.embedded.url import file_url_path, is_file_url

        if is_file_url(url):
            return cls.local(file_url_path(url, capability="kv"), clock=clock, **options)
        from cap_opendal_core.operators.url import from_url

        checked = check_options(cls, "from_url", options)
        return cls.from_config(from_url(url, capability="kv"), clock=clock, **checked)

    @classmethod
    def from_config(
        cls,
        config: CloudflareKvConfig | ServiceConfig,
        *,
        clock: Callable[[], float] | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> KvNamespace:
        """The Cloudflare REST API for a :class:`~cap_cloudflare_kv.CloudflareKvConfig`, or KV on
        an OpenDAL operator for one of core's operator configs (``FsConfig``, ``MemoryConfig`` …)."""
        from cap_opendal_core.operators.config import _ServiceConfig

        from .config import CloudflareKvConfig

        checked = check_options(cls, "from_config", options)
        if isinstance(config, CloudflareKvConfig):
            if clock is not None:
                raise Misconfigured(
                    "clock= is for local backends: Cloudflare decides when its keys expire",
                    capability="kv",
                )
            from .backends.rest import RestBackend

            return cls(RestBackend(config), **checked)
        if isinstance(config, _ServiceConfig):
            from .backends.opendal import open_backend

            return cls(open_backend(config, checked["settings"], clock), **checked)
        raise Misconfigured(
            f"from_config() takes a CloudflareKvConfig or an operator config, got {type(config).__name__}",
            capability="kv",
        )

    # -- reads -----------------------------------------------------------------------------------

    @overload
    async def get(
        self, key: str, type: Literal["text"] = "text", *, cache_ttl: float | None = None
    ) -> str | None: ...
    @overload
    async def get(
        self, key: str, type: Literal["bytes"], *, cache_ttl: float | None = None
    ) -> bytes | None: ...
    @overload
    async def get(self, key: str, type: Literal["json"], *, cache_ttl: float | None = None) -> Any: ...
    @overload
    async def get(
        self, key: str, type: Literal["stream"], *, cache_ttl: float | None = None
    ) -> KvStream | None: ...
    @overload
    async def get(self, key: str, type: ValueType, *, cache_ttl: float | None = None) -> Any: ...
    async def get(self, key: str, type: ValueType = "text", *, cache_ttl: float | None = None) -> Any:
        """The value of ``key`` as ``type`` (``text``, ``bytes``, ``json`` or ``stream``); None if missing.

        ``cache_ttl`` (seconds, at least 30) is how long Workers may cache the read at the edge;
        other backends ignore it.
        """
        check_key(key, "get")
        value_type = check_type(type, "get")
        ttl = None if cache_ttl is None else check_cache_ttl(cache_ttl, "get", key)
        return await self._pipeline.call(ops.GET, self._backend.get, key, value_type, ttl, key=key)

    async def get_with_metadata(
        self, key: str, type: ValueType = "text", *, cache_ttl: float | None = None
    ) -> KvValueWithMetadata:
        """The value and its metadata; both None when ``key`` is missing."""
        check_key(key, "get_with_metadata")
        value_type = check_type(type, "get_with_metadata")
        ttl = None if cache_ttl is None else check_cache_ttl(cache_ttl, "get_with_metadata", key)
        return await self._pipeline.call(
            ops.GET_WITH_METADATA, self._backend.get_with_metadata, key, value_type, ttl, key=key
        )

    async def get_many(self, keys: Iterable[str], type: Literal["text", "json"] = "text") -> dict[str, Any]:
        """``{key: value or None}`` for every key (as ``text`` or ``json``), in calls of at most 100."""
        checked = check_keys(keys, "get_many")
        value_type = check_type(type, "get_many", allowed=_MANY_TYPES)
        if not checked:
            return {}
        return await self._pipeline.call(ops.GET_MANY, self._backend.get_many, checked, value_type)

    async def list(
        self, *, prefix: str | None = None, limit: int = 1000, cursor: str | None = None
    ) -> KvListResult:
        """One page of keys in UTF-8 byte order: ``.keys``, ``.list_complete``, and ``.cursor`` for
        the next page (None once complete)."""
        checked_prefix = check_prefix(prefix, "list")
        checked_limit = check_list_limit(limit, "list")
        checked_cursor = check_cursor(cursor, "list")
        if checked_cursor is not None:
            self._backend.check_cursor(checked_cursor, "list")
        return await self._pipeline.call(
            ops.LIST, self._backend.list, checked_prefix, checked_limit, checked_cursor, key=checked_prefix
        )

    def iter_keys(self, *, prefix: str | None = None, page_size: int = 1000) -> AsyncIterator[KvKey]:
        """Every key (with ``prefix``), page after page, following cursors: ``async for k in …``.

        Arguments are checked now; each page is one ``list`` call when the iteration reaches it.
        """
        check_prefix(prefix, "list")
        check_list_limit(page_size, "list")
        return self._iter_keys(prefix, page_size)

    async def _iter_keys(self, prefix: str | None, page_size: int) -> AsyncIterator[KvKey]:
        cursor: str | None = None
        while True:
            page = await self.list(prefix=prefix, limit=page_size, cursor=cursor)
            for key in page.keys:
                yield key
            if page.list_complete or not page.cursor:
                return
            cursor = page.cursor

    # -- writes ----------------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        value: WriteValue | AsyncIterable[bytes],
        *,
        expiration: int | float | _dt.datetime | None = None,
        expiration_ttl: int | float | _dt.timedelta | None = None,
        metadata: Any = None,
    ) -> None:
        """Store ``value`` (str, bytes, or an async iterable of bytes) under ``key``.

        ``expiration`` is absolute (epoch seconds or an aware datetime), ``expiration_ttl`` relative
        (seconds or a timedelta); each at least 60 s ahead, and the TTL wins when both are given.
        ``metadata`` is any JSON-serialisable value of at most 1024 bytes as JSON. A stream is read
        to its end before anything is stored; past 25 MiB it stops with ``LimitExceeded``.
        """
        check_key(key, "put")
        if isinstance(value, _BYTES_LIKE):
            data, text = check_value(value, "put", key)
            if expiration is None and expiration_ttl is None and metadata is None:
                write = PreparedWrite(key, data, text)  # the common case: nothing else to check
            else:
                write = prepare_write(
                    key, data, text, expiration, expiration_ttl, metadata, self._backend.clock, "put"
                )
        elif isinstance(value, AsyncIterable):
            # options first: a bad TTL must not cost the caller its stream
            prepare_write(key, b"", None, expiration, expiration_ttl, metadata, self._backend.clock, "put")
            data = await collect_stream(value, "put", key)
            write = prepare_write(
                key, data, None, expiration, expiration_ttl, metadata, self._backend.clock, "put"
            )
        else:
            raise InvalidInput(
                f"value must be str, bytes or an async iterable of bytes, got {type(value).__name__}",
                field="value",
                capability="kv",
                operation="put",
                key=key,
            )
        await self._pipeline.call(ops.PUT, self._backend.put, write, key=key)

    async def put_many(
        self, items: Mapping[str, WriteValue] | Iterable[KvWrite | tuple[str, WriteValue]]
    ) -> None:
        """Write many keys: a mapping of key to value, or :class:`KvWrite` items (with expiration and
        metadata). Every item is checked first; nothing is written if one is invalid. The REST
        backend sends bulk requests of at most 10,000 pairs (and 100 MB)."""
        writes = prepare_writes(items, self._backend.clock, "put_many")
        if writes:
            await self._pipeline.call(ops.PUT_MANY, self._backend.put_many, writes)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        check_key(key, "delete")
        await self._pipeline.call(ops.DELETE, self._backend.delete, key, key=key)

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key in ``keys`` (missing ones are not an error)."""
        checked = check_keys(keys, "delete_many")
        if checked:
            await self._pipeline.call(ops.DELETE_MANY, self._backend.delete_many, checked)

    async def purge_expired(self) -> int:
        """Delete every expired entry now and return how many there were (local backends only:
        Cloudflare reclaims expired keys itself). Reads and listings never show expired entries
        either way; this frees their space without waiting for a read to meet them."""
        purge = getattr(self._backend, "purge_expired", None)
        if purge is None:
            raise Unsupported(
                f"purge_expired() is for local backends; the {self._backend.name} backend's keys are "
                "reclaimed by Cloudflare",
                capability="kv",
                operation="purge_expired",
            )
        count: int = await self._pipeline.call(ops.PURGE_EXPIRED, purge)
        return count

    # -- what it is ------------------------------------------------------------------------------
    # ``info``, ``backend`` (``workers``, ``rest``, ``opendal`` or ``local``), ``pipeline``, ``closed``,
    # ``aclose()``, ``async with`` and the refusal to pickle come from ``Capability``.

    def _describe(self) -> str:
        return f"{self._backend.name}: {self._backend.describe()}"
