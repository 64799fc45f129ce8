"""The workers storage backend: a Python Durable Object's ``ctx.storage`` in a Worker, via Pyodide's FFI.

Each method is the JS method of the same name (``get``, ``put``, ``delete``, ``deleteAll``, ``list``,
``getAlarm``, ``setAlarm``, ``deleteAlarm``); values cross through :mod:`cap_opendal_core.ffi`, so
dicts are stored as plain JS objects, bytes as ``Uint8Array`` and datetimes as ``Date`` — the structured
clone reads them back as the same Python values. ``Map`` results become dicts in Workers' (UTF-8 key)
order.

A transaction commits with every ``put``/``delete`` of the batch issued before any is awaited: the
Workers runtime coalesces writes made without an intervening await into one atomic batch (its
documented "automatic write coalescing"), which gives the all-or-nothing commit without handing a
Python callback to ``storage.transaction``. Pyodide only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cap_opendal_core import ffi

from ..limits import MAX_BATCH_KEYS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from ..validation import Encoded, ListOptions
    from .base import KeyList
    from .workers_sql import WorkersSql

__all__ = ["WorkersStorage"]

PendingList = list["Awaitable[Any]"]


class WorkersStorage:
    __slots__ = ("_js",)
    kind = "workers"

    def __init__(self, storage: Any) -> None:
        self._js = ffi.unwrap_binding(storage)

    async def _call(self, factory: Callable[[], Any], operation: str, key: str | None = None) -> Any:
        result = await ffi.call_binding(factory, capability="do", operation=operation, key=key)
        return ffi.js_to_py(result)

    async def get(self, key: str) -> Any:
        return await self._call(lambda: self._js.get(key), "storage.get", key)

    async def get_many(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        found = await self._call(lambda: self._js.get(ffi.to_js_value(keys)), "storage.get")
        return dict(found or {})

    async def put_many(self, entries: Mapping[str, Encoded]) -> None:
        if not entries:
            return
        if len(entries) == 1:
            ((key, entry),) = entries.items()
            value = ffi.to_js_value(entry.value)
            await self._call(lambda: self._js.put(key, value), "storage.put", key)
            return
        batch = ffi.to_js_value({k: e.value for k, e in entries.items()})
        await self._call(lambda: self._js.put(batch), "storage.put")

    async def delete(self, key: str) -> bool:
        return bool(await self._call(lambda: self._js.delete(key), "storage.delete", key))

    async def delete_many(self, keys: KeyList) -> int:
        if not keys:
            return 0
        return int(await self._call(lambda: self._js.delete(ffi.to_js_value(keys)), "storage.delete") or 0)

    async def delete_all(self) -> None:
        await self._call(lambda: self._js.deleteAll(), "storage.delete_all")

    async def list(self, options: ListOptions) -> dict[str, Any]:
        js_options = ffi.to_js_options(options.to_js())
        found = await self._call(lambda: self._js.list(js_options), "storage.list", options.prefix)
        return dict(found or {})

    async def commit(self, puts: Mapping[str, Encoded], deletes: KeyList) -> None:
        storage = self._js
        pending: PendingList = []

        def issue() -> None:
            # every call is made before the first await: Workers coalesces them into one atomic write
            for i in range(0, len(deletes), MAX_BATCH_KEYS):
                pending.append(storage.delete(ffi.to_js_value(deletes[i : i + MAX_BATCH_KEYS])))
            items = list(puts.items())
            for i in range(0, len(items), MAX_BATCH_KEYS):
                chunk = {k: e.value for k, e in items[i : i + MAX_BATCH_KEYS]}
                pending.append(storage.put(ffi.to_js_value(chunk)))

        await ffi.call_binding(issue, capability="do", operation="storage.transaction")
        for promise in pending:
            await ffi.call_binding(_returning(promise), capability="do", operation="storage.transaction")

    def begin(self) -> None:
        """None: ``storage.transaction()`` buffers its writes and :meth:`commit` coalesces them (a
        Python block cannot be handed to the runtime's ``transaction(closure)``)."""
        return None

    async def get_alarm(self) -> int | None:
        when = await self._call(lambda: self._js.getAlarm(), "storage.get_alarm")
        return None if when is None else int(when)

    async def set_alarm(self, epoch_ms: int) -> None:
        await self._call(lambda: self._js.setAlarm(epoch_ms), "storage.set_alarm")

    async def delete_alarm(self) -> None:
        await self._call(lambda: self._js.deleteAlarm(), "storage.delete_alarm")

    # -- SQL and point-in-time recovery (SQLite-backed classes) ------------------------------------

    def sql(self) -> WorkersSql:
        from .workers_sql import WorkersSql

        return WorkersSql(self._js)

    async def get_current_bookmark(self) -> str:
        return str(await self._call(lambda: self._js.getCurrentBookmark(), "storage.bookmark"))

    async def get_bookmark_for_time(self, epoch_ms: int) -> str:
        return str(await self._call(lambda: self._js.getBookmarkForTime(epoch_ms), "storage.bookmark"))

    async def on_next_session_restore_bookmark(self, bookmark: str) -> str:
        undo = await self._call(
            lambda: self._js.onNextSessionRestoreBookmark(bookmark), "storage.restore_bookmark"
        )
        return str(undo)


def _returning(value: Any) -> Callable[[], Any]:
    return lambda: value
