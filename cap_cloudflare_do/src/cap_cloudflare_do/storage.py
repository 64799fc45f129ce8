"""``DurableObjectStorage``: an object's own strongly consistent key-value storage, on every backend.

The same class wraps the local runtime's SQLite storage and, inside a Python Worker, the JS
``ctx.storage`` (:meth:`DurableObjectStorage.from_js`). Names mirror the JS API in Python spelling:
``get``/``put``/``delete`` take one key or a batch (≤ 128), ``list`` orders keys by their UTF-8 bytes
with ``start`` inclusive and ``start_after``/``end`` exclusive, and ``reverse`` does not change what
those bounds mean. Every method validates first (types, the 2 MB entry limit, batch sizes) and then
goes through the pipeline once, recording ``resource::state::read`` or ``resource::state::write``.

``storage.sql`` is the SQL API of a SQLite-backed object (:mod:`cap_cloudflare_do.sql`): synchronous,
like the runtime's, with ``transaction_sync(fn)`` for a synchronous all-or-nothing block of SQL and the
point-in-time recovery calls beside it.

Transactions (``async with storage.transaction() as txn``) are all-or-nothing: an exception (or
``txn.rollback()``) leaves storage exactly as it was. As on a SQLite-backed object, every storage call
made while one is open joins it — ``txn``'s calls, ``storage``'s own, ``storage.sql.exec`` and alarm
changes: in the local runtime the block is one SQLite transaction of the object's database (which
holds its key-value entries and its SQL tables); on Workers it is the runtime's own
``transaction(closure)``, held open across the block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

from cap_opendal_core.errors import InvalidInput

from .operations import (
    STORAGE_BOOKMARK,
    STORAGE_DELETE,
    STORAGE_DELETE_ALARM,
    STORAGE_DELETE_ALL,
    STORAGE_GET,
    STORAGE_GET_ALARM,
    STORAGE_LIST,
    STORAGE_PUT,
    STORAGE_RESTORE_BOOKMARK,
    STORAGE_SET_ALARM,
    STORAGE_TRANSACTION,
)
from .validation import (
    check_alarm_time,
    check_entries,
    check_entry,
    check_key,
    check_keys,
    check_list_options,
)

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

    from cap_opendal_core.layers import LayerSettings, Pipeline

    from .backends.base import OpenTransaction, StorageBackend
    from .codec import StorableValue
    from .sql import SqlStorage

__all__ = ["DurableObjectStorage", "KeyBatch", "Transaction"]

T = TypeVar("T")

KeyBatch = list[str] | tuple[str, ...]
"""A batch of keys (``list`` is also the name of a storage method, hence the alias)."""

_MISSING: Final[Any] = object()


class DurableObjectStorage:
    """One Durable Object's storage (``self.storage`` inside a :class:`DurableObject`)."""

    __slots__ = ("_backend", "_pipeline", "_sql")

    def __init__(self, backend: StorageBackend, pipeline: Pipeline) -> None:
        self._backend = backend
        self._pipeline = pipeline
        self._sql: SqlStorage | None = None

    @classmethod
    def from_js(cls, storage: Any, *, settings: LayerSettings | None = None) -> DurableObjectStorage:
        """Wrap a Worker's JS ``ctx.storage`` (raw proxy or ``workers`` SDK wrapper). Pyodide only."""
        from cap_opendal_core.layers import Pipeline

        from .backends.workers_storage import WorkersStorage

        return cls(WorkersStorage(storage), Pipeline("do", "workers", settings))

    @property
    def backend_kind(self) -> str:
        return self._backend.kind

    # -- reads ------------------------------------------------------------------------------------

    @overload
    async def get(self, key: str) -> Any: ...

    @overload
    async def get(self, key: KeyBatch) -> dict[str, Any]: ...

    async def get(self, key: str | Sequence[str]) -> Any:
        """The value stored under ``key`` (``None`` when absent), or for a list of keys a dict of
        those that exist, in UTF-8 key order."""
        if isinstance(key, str):
            checked = check_key(key)
            return await self._pipeline.call(STORAGE_GET, self._backend.get, checked, key=checked)
        keys = check_keys(key)
        return await self._pipeline.call(STORAGE_GET, self._backend.get_many, keys)

    async def list(
        self,
        *,
        prefix: str | None = None,
        start: str | None = None,
        start_after: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> dict[str, Any]:
        """Entries in UTF-8 key order (descending with ``reverse``): keys starting with ``prefix``,
        from ``start`` (inclusive) or after ``start_after`` (exclusive), before ``end`` (exclusive),
        at most ``limit`` of them. The result is held in memory: bound it with ``limit``."""
        options = check_list_options(prefix, start, start_after, end, limit, reverse)
        return await self._pipeline.call(STORAGE_LIST, self._backend.list, options, key=prefix)

    async def get_alarm(self) -> int | None:
        """When the alarm is set for, in epoch milliseconds, or ``None``."""
        return await self._pipeline.call(STORAGE_GET_ALARM, self._backend.get_alarm)

    # -- writes -----------------------------------------------------------------------------------

    @overload
    async def put(self, key: str, value: StorableValue) -> None: ...

    @overload
    async def put(self, key: Mapping[str, StorableValue]) -> None: ...

    async def put(self, key: str | Mapping[str, Any], value: Any = _MISSING) -> None:
        """Store ``value`` under ``key``, or every entry of a mapping (≤ 128) atomically."""
        if isinstance(key, str):
            if value is _MISSING:
                raise InvalidInput(
                    "put(key, value) needs a value (or pass a mapping of entries)", field="value"
                )
            checked = check_key(key)
            entries = {checked: check_entry(checked, value)}
            await self._pipeline.call(STORAGE_PUT, self._backend.put_many, entries, key=checked)
            return
        if value is not _MISSING:
            raise InvalidInput("put(entries) takes a mapping and no separate value", field="value")
        batch = check_entries(key)
        await self._pipeline.call(STORAGE_PUT, self._backend.put_many, batch)

    @overload
    async def delete(self, key: str) -> bool: ...

    @overload
    async def delete(self, key: KeyBatch) -> int: ...

    async def delete(self, key: str | Sequence[str]) -> bool | int:
        """Delete ``key`` (True if it existed), or a list of keys (how many existed)."""
        if isinstance(key, str):
            checked = check_key(key)
            deleted: bool = await self._pipeline.call(
                STORAGE_DELETE, self._backend.delete, checked, key=checked
            )
            return deleted
        keys = check_keys(key)
        count: int = await self._pipeline.call(STORAGE_DELETE, self._backend.delete_many, keys)
        return count

    async def delete_all(self) -> None:
        """Delete every key of this object and its alarm, as Workers does (compatibility date
        2026-02-24 and later; older Workers kept the alarm)."""
        await self._pipeline.call(STORAGE_DELETE_ALL, self._backend.delete_all)

    async def set_alarm(self, scheduled_time: _dt.datetime | int | float) -> None:
        """Run the object's ``alarm()`` at ``scheduled_time``: a ``datetime`` (naive means UTC) or epoch
        milliseconds. Replaces any alarm already set; a time in the past fires as soon as possible."""
        epoch_ms = check_alarm_time(scheduled_time)
        await self._pipeline.call(STORAGE_SET_ALARM, self._backend.set_alarm, epoch_ms)

    async def delete_alarm(self) -> None:
        await self._pipeline.call(STORAGE_DELETE_ALARM, self._backend.delete_alarm)

    def transaction(self) -> Transaction:
        """``async with storage.transaction() as txn:`` — all of ``txn``'s writes, or none."""
        return Transaction(self)

    # -- SQL ----------------------------------------------------------------------------------------

    @property
    def sql(self) -> SqlStorage:
        """The object's SQL database: ``storage.sql.exec(query, *bindings)`` (synchronous)."""
        sql = self._sql
        if sql is None:
            from .sql import SqlStorage

            sql = self._sql = SqlStorage(self._backend.sql(), self._pipeline)
        return sql

    def transaction_sync(self, fn: Callable[[], T]) -> T:
        """Run the synchronous ``fn`` as one transaction: every write it makes, or none if it raises
        (the runtime's ``transactionSync``). Returns what ``fn`` returns. Only synchronous storage
        calls can run inside ``fn`` — ``storage.sql.exec`` — as on Workers; the key-value methods are
        ``async``: put them in an ``async with storage.transaction()`` block, which takes SQL too."""
        from .sql import run_sync_transaction

        result: T = run_sync_transaction(self._pipeline, self._backend.sql(), fn)
        return result

    # -- point-in-time recovery -------------------------------------------------------------------------

    async def get_current_bookmark(self) -> str:
        """A bookmark for the object's storage as it is now (point-in-time recovery)."""
        bookmark: str = await self._pipeline.call(STORAGE_BOOKMARK, self._backend.get_current_bookmark)
        return bookmark

    async def get_bookmark_for_time(self, timestamp: _dt.datetime | int | float) -> str:
        """A bookmark for the storage as it was at ``timestamp`` (a ``datetime``, naive means UTC, or
        epoch milliseconds), within the last 30 days."""
        epoch_ms = _bookmark_time(timestamp)
        bookmark: str = await self._pipeline.call(
            STORAGE_BOOKMARK, self._backend.get_bookmark_for_time, epoch_ms
        )
        return bookmark

    async def on_next_session_restore_bookmark(self, bookmark: str) -> str:
        """Restore the storage to ``bookmark`` when the object next restarts (abort it to restart now);
        returns a bookmark to undo the restore."""
        if not isinstance(bookmark, str) or not bookmark:
            raise InvalidInput("bookmark must be a non-empty str", field="bookmark")
        undo: str = await self._pipeline.call(
            STORAGE_RESTORE_BOOKMARK, self._backend.on_next_session_restore_bookmark, bookmark
        )
        return undo

    def __repr__(self) -> str:
        return f"DurableObjectStorage(backend={self._backend.kind!r})"


def _bookmark_time(timestamp: object) -> int:
    """A point in time for ``get_bookmark_for_time``, as epoch milliseconds (checked before any I/O)."""
    import datetime as dt

    if isinstance(timestamp, dt.datetime):
        moment = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=dt.UTC)
        timestamp = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float) or not 0 <= timestamp < 2**53:
        raise InvalidInput(
            f"timestamp must be a datetime or epoch milliseconds (0 <= n < 2**53), got {timestamp!r}",
            field="timestamp",
        )
    return int(timestamp)


class Transaction:
    """An open transaction of the object's storage: every storage call made while it is open — its own
    ``get``/``put``/``delete``/``list``, ``storage``'s, ``storage.sql.exec``, alarm changes — commits when
    the block ends without an exception and without :meth:`rollback`, or not at all.

    The backend opens it (:meth:`~.backends.base.StorageBackend.begin`): in the local runtime one
    SQLite transaction of the object's database, on Workers the runtime's ``transaction(closure)``
    held open across the block; a block inside a block is a savepoint in both."""

    __slots__ = ("_finished", "_live", "_rolled_back", "_storage", "_wrote")

    def __init__(self, storage: DurableObjectStorage) -> None:
        self._storage = storage
        self._rolled_back = False
        self._finished = False
        self._live: OpenTransaction | None = None
        self._wrote = False

    async def __aenter__(self) -> Transaction:
        if self._finished or self._live is not None:
            raise InvalidInput("a transaction can be entered once", field="transaction")
        live = self._storage._backend.begin()
        await live.start()
        self._live = live
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finished = True
        live = self._live
        if live is None:
            return
        if exc_type is not None or self._rolled_back:
            await live.abort()
        elif self._wrote:
            await self._storage._pipeline.call(STORAGE_TRANSACTION, live.commit)
        else:
            await live.commit()

    def rollback(self) -> None:
        """Drop every write of this transaction (key-value, SQL, alarms); nothing of it reaches storage."""
        live = self._check_open()
        self._rolled_back = True
        live.rollback()

    def _check_open(self) -> OpenTransaction:
        if self._finished or self._rolled_back:
            raise InvalidInput("the transaction is finished (committed or rolled back)", field="transaction")
        if self._live is None:
            raise InvalidInput(
                "a transaction is used as `async with storage.transaction() as txn:`", field="transaction"
            )
        return self._live

    # -- calls on the open transaction (the storage's own, which join it) ---------------------------

    @overload
    async def get(self, key: str) -> Any: ...

    @overload
    async def get(self, key: KeyBatch) -> dict[str, Any]: ...

    async def get(self, key: str | Sequence[str]) -> Any:
        self._check_open()  # the storage method checks ``key`` (one key or a batch) itself
        return await self._storage.get(key)  # type: ignore[arg-type]

    async def list(
        self,
        *,
        prefix: str | None = None,
        start: str | None = None,
        start_after: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> dict[str, Any]:
        self._check_open()
        return await self._storage.list(
            prefix=prefix, start=start, start_after=start_after, end=end, limit=limit, reverse=reverse
        )

    @overload
    async def put(self, key: str, value: StorableValue) -> None: ...

    @overload
    async def put(self, key: Mapping[str, StorableValue]) -> None: ...

    async def put(self, key: str | Mapping[str, Any], value: Any = _MISSING) -> None:
        self._check_open()
        await self._storage.put(key, value)  # type: ignore[arg-type]
        self._wrote = True

    @overload
    async def delete(self, key: str) -> bool: ...

    @overload
    async def delete(self, key: KeyBatch) -> int: ...

    async def delete(self, key: str | Sequence[str]) -> bool | int:
        self._check_open()
        deleted: bool | int = await self._storage.delete(key)  # type: ignore[arg-type]
        self._wrote = True
        return deleted

    def __repr__(self) -> str:
        state = "finished" if self._finished else "rolled back" if self._rolled_back else "open"
        return f"Transaction({state})"
