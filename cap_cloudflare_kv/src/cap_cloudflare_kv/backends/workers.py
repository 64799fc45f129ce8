"""Workers KV through a Python Worker's binding (``env.NAME``), over Pyodide's FFI.

Every conversion goes through :mod:`cap_opendal_core.ffi` (plain JS objects for options, never
``Map``; ``Uint8Array`` for bytes; JS ``null`` to ``None``), and the raw JS binding is used whether
``env`` came raw or wrapped by the ``workers`` SDK. Reads ask the binding for text or an
``ArrayBuffer`` and decode here (:mod:`..codec`), so JSON parses the same as on every other backend;
``type="stream"`` hands back the binding's ``ReadableStream`` chunk by chunk, never buffered whole.
A JS error thrown by the binding is translated by the pipeline (``from_js``).

Only imported under Pyodide (``KvNamespace.from_env``): it imports ``js`` and ``pyodide`` via the FFI
module.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

import js

from cap_opendal_core import ffi

from .. import limits
from ..codec import decode_text, decode_value
from ..info import descriptor_for
from ..models import KvKey, KvListResult, KvValueWithMetadata, PreparedWrite, ValueType
from ..streams import KvStream
from .base import chunked, map_bounded

if TYPE_CHECKING:
    from collections.abc import Callable

    from cap_opendal_core.layers import LayerSettings

__all__ = ["WorkersBackend"]

_CONCURRENCY: Final = 16
"""Binding calls in flight at once for ``put_many``/``delete_many`` (the binding has no bulk write)."""


class WorkersBackend:
    """KV through the Workers binding; see the module docstring."""

    name = "workers"

    def __init__(self, binding: Any, binding_name: str = "KV") -> None:
        self._kv = binding
        self._binding_name = binding_name
        self.descriptor = descriptor_for("workers")
        self.clock: Callable[[], float] = time.time

    @classmethod
    def from_env(cls, env: Any, binding: str) -> WorkersBackend:
        return cls(ffi.get_binding(env, binding, capability="kv"), binding)

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        return settings

    def describe(self) -> str:
        return f"workers binding={self._binding_name!r}"

    def check_cursor(self, cursor: str, operation: str) -> None:
        return None  # Cloudflare's cursors are opaque; the binding judges them

    async def aclose(self) -> None:
        return None  # the runtime owns the binding

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, key: str, value_type: ValueType, cache_ttl: int | None) -> Any:
        raw = await self._kv.get(key, _read_options(value_type, cache_ttl))
        return self._decode(raw, key, value_type, "get")

    async def get_with_metadata(
        self, key: str, value_type: ValueType, cache_ttl: int | None
    ) -> KvValueWithMetadata:
        result = await self._kv.getWithMetadata(key, _read_options(value_type, cache_ttl))
        raw = result.value
        value = self._decode(raw, key, value_type, "get_with_metadata")
        if value is None:
            return KvValueWithMetadata(None, None)
        return KvValueWithMetadata(value, ffi.js_to_py(result.metadata))

    def _decode(self, raw: Any, key: str, value_type: ValueType, op: str) -> Any:
        if ffi.is_js_null(raw):
            return None
        if value_type == "stream":
            return KvStream(ffi.iter_stream(raw), key=key)
        if value_type == "bytes":
            return decode_value(ffi.to_bytes(raw), "bytes", operation=op, key=key)
        return decode_text(str(raw), value_type, operation=op, key=key)

    async def get_many(self, keys: list[str], value_type: ValueType) -> dict[str, Any]:
        out: dict[str, Any] = {}
        options = ffi.to_js_options({"type": "text"})
        for chunk in chunked(list(dict.fromkeys(keys)), limits.BULK_GET_MAX_KEYS):
            found = ffi.js_to_py(await self._kv.get(ffi.to_js_value(chunk), options))
            found = found if isinstance(found, dict) else {}
            lost = [key for key in chunk if key not in found]
            # The binding answers every key it was asked (null when absent), but its Map can arrive
            # without keys such as "0", "10" or "__proto__" (names a JS object treats specially):
            # those are read again one by one rather than reported missing.
            for key in lost:
                found[key] = ffi.js_to_py(await self._kv.get(key, options))
            for key in chunk:  # decoded in input order: the first bad value is the error raised
                value = found[key]
                out[key] = (
                    None if value is None else decode_text(value, value_type, operation="get_many", key=key)
                )
        return out

    # -- writes ----------------------------------------------------------------------------------

    async def put(self, write: PreparedWrite) -> None:
        value = write.text if write.text is not None else ffi.to_uint8array(write.data)
        options: dict[str, Any] = {"expiration": write.expiration, "expirationTtl": write.expiration_ttl}
        if write.metadata_json is not None:
            # the very JSON validation measured (nulls kept, keys as JSON spells them)
            options["metadata"] = js.JSON.parse(write.metadata_json)
        await self._kv.put(write.key, value, ffi.to_js_options(options))

    async def put_many(self, writes: list[PreparedWrite]) -> None:
        latest = {write.key: write for write in writes}  # the last write of a key wins
        await _each(self.put, list(latest.values()))

    async def delete(self, key: str) -> None:
        await self._kv.delete(key)

    async def delete_many(self, keys: list[str]) -> None:
        await _each(self.delete, list(dict.fromkeys(keys)))

    # -- listing ---------------------------------------------------------------------------------

    async def list(self, prefix: str | None, limit: int, cursor: str | None) -> KvListResult:
        options = ffi.to_js_options({"prefix": prefix, "limit": limit, "cursor": cursor})
        page = ffi.js_to_py(await self._kv.list(options))
        keys = tuple(
            KvKey(
                item["name"],
                int(item["expiration"]) if item.get("expiration") is not None else None,
                item.get("metadata"),
            )
            for item in page.get("keys") or ()
        )
        complete = bool(page.get("list_complete"))
        next_cursor = page.get("cursor") or None
        return KvListResult(keys, complete or next_cursor is None, None if complete else next_cursor)


def _read_options(value_type: ValueType, cache_ttl: int | None) -> Any:
    js_type = {"text": "text", "json": "text", "bytes": "arrayBuffer", "stream": "stream"}[value_type]
    return ffi.to_js_options({"type": js_type, "cacheTtl": cache_ttl})


async def _each(fn: Callable[[Any], Any], items: list[Any]) -> None:
    """Call ``fn`` on every item, at most :data:`_CONCURRENCY` at a time; the first failure in input
    order is raised (:func:`~.base.map_bounded`)."""
    await map_bounded(fn, items, _CONCURRENCY)
