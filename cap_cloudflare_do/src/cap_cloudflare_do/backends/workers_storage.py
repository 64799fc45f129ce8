"""The workers storage backend: a Python Durable Object's ``ctx.storage`` in a Worker, via Pyodide's FFI.

Each method is the JS method of the same name (``get``, ``put``, ``delete``, ``deleteAll``, ``list``,
``getAlarm``, ``setAlarm``, ``deleteAlarm``); values cross through :mod:`cap_opendal_core.ffi`, so
dicts are stored as plain JS objects, bytes as ``Uint8Array`` and datetimes as ``Date`` — the structured
clone reads them back as the same Python values. ``Map`` results become dicts in Workers' (UTF-8 key)
order.

``storage.transaction()`` holds the runtime's own ``transaction(closure)`` open across the Python
block (:class:`WorkersTransaction`): the closure hands over the JS ``txn`` and returns a promise that the
block's end resolves (commit) or rejects (rollback). While it is open every key-value and alarm call
goes to that ``txn``, and ``sql.exec`` — on a SQLite-backed object the same database — runs inside it,
so a block's key-value, SQL and alarm writes commit together or not at all, as in the local runtime.
A block inside a block is a nested ``transaction()`` (a savepoint), as workerd nests them. Pyodide only.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cap_opendal_core import ffi
from cap_opendal_core.errors import BackendError

from .base import delete_all_in_transaction

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..validation import Encoded, ListOptions
    from .base import KeyList
    from .workers_sql import WorkersSql

__all__ = ["WorkersStorage", "WorkersTransaction"]


class WorkersStorage:
    __slots__ = ("_js", "_open")
    kind = "workers"

    def __init__(self, storage: Any) -> None:
        self._js = ffi.unwrap_binding(storage)
        self._open: list[WorkersTransaction] = []  # open transactions, innermost last

    @property
    def _target(self) -> Any:
        """Where key-value and alarm calls go: the innermost open transaction's ``txn``, else storage."""
        return self._open[-1].txn if self._open else self._js

    async def _call(self, factory: Callable[[], Any], operation: str, key: str | None = None) -> Any:
        result = await ffi.call_binding(factory, capability="do", operation=operation, key=key)
        return ffi.js_to_py(result)

    async def get(self, key: str) -> Any:
        return await self._call(lambda: self._target.get(key), "storage.get", key)

    async def get_many(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        found = await self._call(lambda: self._target.get(ffi.to_js_value(keys)), "storage.get")
        return dict(found or {})

    async def put_many(self, entries: Mapping[str, Encoded]) -> None:
        if not entries:
            return
        if len(entries) == 1:
            ((key, entry),) = entries.items()
            value = ffi.to_js_value(entry.value)
            await self._call(lambda: self._target.put(key, value), "storage.put", key)
            return
        batch = ffi.to_js_value({k: e.value for k, e in entries.items()})
        await self._call(lambda: self._target.put(batch), "storage.put")

    async def delete(self, key: str) -> bool:
        return bool(await self._call(lambda: self._target.delete(key), "storage.delete", key))

    async def delete_many(self, keys: KeyList) -> int:
        if not keys:
            return 0
        keys_js = ffi.to_js_value(keys)
        return int(await self._call(lambda: self._target.delete(keys_js), "storage.delete") or 0)

    async def delete_all(self) -> None:
        if self._open:  # workerd refuses it too ("Cannot call deleteAll() within a transaction")
            raise delete_all_in_transaction()
        await self._call(lambda: self._js.deleteAll(), "storage.delete_all")

    async def list(self, options: ListOptions) -> dict[str, Any]:
        js_options = ffi.to_js_options(options.to_js())
        found = await self._call(lambda: self._target.list(js_options), "storage.list", options.prefix)
        return dict(found or {})

    def begin(self) -> WorkersTransaction:
        """A transaction of the runtime's own, opened by :meth:`WorkersTransaction.start`."""
        return WorkersTransaction(self)

    async def get_alarm(self) -> int | None:
        when = await self._call(lambda: self._target.getAlarm(), "storage.get_alarm")
        return None if when is None else int(when)

    async def set_alarm(self, epoch_ms: int) -> None:
        await self._call(lambda: self._target.setAlarm(epoch_ms), "storage.set_alarm")

    async def delete_alarm(self) -> None:
        await self._call(lambda: self._target.deleteAlarm(), "storage.delete_alarm")

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


class WorkersTransaction:
    """One ``storage.transaction(closure)`` of the runtime, held open across a Python block.

    :meth:`start` calls ``transaction`` with a proxied Python closure; the runtime calls it with the JS
    ``txn`` and waits on the promise it returns, whose ``resolve``/``reject`` are kept here. Until
    :meth:`commit` resolves it, or :meth:`abort` rejects it (an exception, or the end of a block that
    called :meth:`rollback`, which is ``txn.rollback()``), the storage's calls go to ``txn``. The outer
    promise is then awaited, so a failed commit raises here, translated."""

    __slots__ = ("_outer", "_proxy", "_settle", "_storage", "txn")

    def __init__(self, storage: WorkersStorage) -> None:
        self._storage = storage
        self.txn: Any = None
        self._settle: tuple[Any, Any] | None = None  # the closure's promise: (resolve, reject)
        self._outer: asyncio.Future[Any] | None = None
        self._proxy: Any = None

    async def start(self) -> None:
        import js
        from pyodide.ffi import create_proxy

        loop = asyncio.get_running_loop()
        entered: asyncio.Future[None] = loop.create_future()

        def keep(resolve: Any, reject: Any) -> None:
            self._settle = (resolve, reject)

        def closure(txn: Any) -> Any:
            if entered.done():  # a retried closure cannot re-run the Python block: fail the commit
                return js.Promise.reject(js.Error.new("the transaction closure was called twice"))
            self.txn = txn
            promise = js.Promise.new(keep)  # runs ``keep`` before returning: both are kept
            entered.set_result(None)
            return promise

        self._proxy = create_proxy(closure)
        storage = self._storage._js  # a nested block is the runtime's nested transaction: a savepoint
        proxy = self._proxy
        self._outer = asyncio.ensure_future(
            ffi.call_binding(
                lambda: storage.transaction(proxy), capability="do", operation="storage.transaction"
            )
        )
        try:
            await asyncio.wait((entered, self._outer), return_when=asyncio.FIRST_COMPLETED)
            if not entered.done():  # the runtime ended it before calling the closure
                self._outer.result()  # raises the runtime's error, translated
                raise BackendError(
                    "storage.transaction() ended without running its closure",
                    capability="do",
                    operation="storage.transaction",
                )
        except BaseException:
            self._release()
            raise
        self._storage._open.append(self)

    async def commit(self) -> None:
        """Resolve the closure's promise and wait for the runtime to commit (a failure rolls back)."""
        self._end()
        resolve, _ = self._settle or (None, None)
        if resolve is not None:
            resolve(None)
        await self._wait()

    def rollback(self) -> None:
        """``txn.rollback()``: the runtime drops every write of the block, SQL and alarms included;
        later calls in the block go to storage directly, as after a rollback in the local runtime."""
        from cap_opendal_core.translate import from_js

        self._end()
        try:
            self.txn.rollback()
        except ffi.JsException as exc:
            raise from_js(exc, capability="do", operation="storage.transaction") from exc

    async def abort(self) -> None:
        """The block raised: reject the closure's promise, so the runtime rolls every write back."""
        import js

        self._end()
        if self._settle is not None:
            self._settle[1](js.Error.new("the transaction block raised; rolled back"))
        try:
            await self._wait()
        except Exception:  # the rejection above, as expected; the block's own exception propagates
            return

    def _end(self) -> None:
        opened = self._storage._open
        if self in opened:
            del opened[opened.index(self) :]

    async def _wait(self) -> None:
        outer = self._outer
        try:
            if outer is not None:
                await outer
        finally:
            self._release()

    def _release(self) -> None:
        if self._proxy is not None:
            self._proxy.destroy()
            self._proxy = None
