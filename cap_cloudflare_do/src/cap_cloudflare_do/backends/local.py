"""The embedded Durable Objects runtime: Python ``DurableObject`` classes hosted in-process.

What it promises, as Cloudflare does:

* **one instance per id** — an object is constructed on its first request and kept in a slot;
* **one request at a time per object** — each slot has a fair (FIFO) lock that a request, or the
  alarm, holds from start to finish. This is stricter than Workers' input gates (which let requests
  interleave while one awaits something other than storage) and therefore never less safe; different
  objects run concurrently;
* **durable storage** — :class:`~cap_cloudflare_do.backends.sqlite_store.SqliteStore`: one SQLite
  database per object holding its key-value entries and its SQL tables, so a transaction covers both
  APIs; atomic batches and transactions; the alarm index in one namespace database;
* **alarms** — persisted with the storage, fired by a scheduler task while the namespace is open
  (``async with``), including alarms that fell due while nothing ran; a failing ``alarm()`` is retried
  with exponential backoff from 2 s, at most 6 times;
* **eviction** — objects idle for ``idle_timeout`` seconds are dropped and rebuilt from storage on
  their next request, so in-memory state only lives as long as it would on Cloudflare.

An object runs outside its caller's invocation scope — on Cloudflare it is a separate invocation — so
its own storage calls are not recorded as the caller's; the caller records the RPC or fetch itself.
The clock (epoch seconds) is injectable so tests can move time instead of sleeping.
"""

from __future__ import annotations

import inspect
import logging
import time
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from cap_opendal_core import forks
from cap_opendal_core.embedded.durability import Durability, check_durability
from cap_opendal_core.errors import (
    BackendError,
    CapabilityError,
    Closed,
    InvalidInput,
    Misconfigured,
    Unsupported,
)
from cap_opendal_core.layers import LayerSettings, Pipeline
from cap_opendal_core.loops import current_loop_key
from cap_opendal_core.scope import outside_scope

from .. import codec
from ..ids import DurableObjectId, local_id_from_name, local_id_is_valid, local_unique_id
from ..limits import MAX_ALARM_RETRIES
from ..models import AlarmInfo, Request, Response
from ..object import DurableObject, alarm_takes_info
from ..storage import DurableObjectStorage
from .sqlite_store import SqliteStore, kv_delete, kv_get, kv_get_many, kv_list, kv_write

if TYPE_CHECKING:
    import os
    from collections.abc import Awaitable, Callable, Mapping

    from anyio.abc import TaskGroup

    from cap_opendal_core.descriptors import Descriptor

    from ..validation import Encoded, ListOptions
    from .base import KeyList
    from .local_sql import LocalSql, _Db

__all__ = ["LocalRuntime", "LocalStorage", "LocalStub", "LocalTransaction", "ObjectContext"]

T = TypeVar("T")
_log = logging.getLogger("cap_cloudflare_do.local")

DEFAULT_IDLE_TIMEOUT: Final = 70.0
"""Seconds an object may sit idle before it is evicted (Cloudflare evicts after roughly 70 to 140 s)."""
ALARM_POLL_INTERVAL: Final = 1.0
"""The scheduler re-reads the next alarm at least this often (so a moved clock is noticed)."""
ALARM_FIRST_BACKOFF_MS: Final = 2000


class ObjectContext:
    """The ``ctx`` a hosted object receives: its ``id``, its ``storage`` and the runtime's clock."""

    __slots__ = ("_clock", "id", "storage")

    def __init__(
        self, oid: DurableObjectId, storage: DurableObjectStorage, clock: Callable[[], float]
    ) -> None:
        self.id = oid
        self.storage = storage
        self._clock = clock

    def now(self) -> float:
        """Seconds since the epoch, by the runtime's clock."""
        return self._clock()

    def __repr__(self) -> str:
        return f"ObjectContext(id={self.id!r})"


class _Slot:
    __slots__ = ("instance", "last_used", "lock", "loop", "pending")

    def __init__(self, instance: DurableObject, lock: Any, now: float) -> None:
        self.instance = instance
        self.lock = lock
        self.loop = current_loop_key()
        self.pending = 0
        self.last_used = now

    def lock_here(self) -> Any:
        """The object's lock, for the running event loop: an anyio lock belongs to the loop (and
        the async library) it was made on, so a namespace called from ``asyncio.run`` after
        ``asyncio.run``, or from trio, gets a new one — only ever when nobody holds the old one,
        since one loop cannot wait for another's lock."""
        loop = current_loop_key()
        if loop is not self.loop and not self.lock.locked():
            import anyio

            self.lock, self.loop = anyio.Lock(fast_acquire=True), loop
        return self.lock


class LocalRuntime:
    """Hosts the objects of one namespace; see the module docstring."""

    kind = "local"
    name = "local"

    @property
    def descriptor(self) -> Descriptor:
        """Durable Objects' guarantees (ephemeral when storage is in memory)."""
        from .base import namespace_descriptor

        return namespace_descriptor("local", durable=self.path is not None)

    def __init__(
        self,
        object_class: type[DurableObject],
        path: str | os.PathLike[str] | None,
        *,
        env: Any = None,
        clock: Callable[[], float] | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        settings: LayerSettings | None = None,
        durability: Durability = "process",
    ) -> None:
        self.durability: Durability = check_durability(durability, capability="do")
        if not (isinstance(object_class, type) and issubclass(object_class, DurableObject)):
            raise Misconfigured(
                f"the local runtime hosts DurableObject subclasses, got {object_class!r}",
                capability="do",
                operation="local",
            )
        if isinstance(idle_timeout, bool) or not isinstance(idle_timeout, int | float) or idle_timeout <= 0:
            raise InvalidInput(
                f"idle_timeout must be a positive number of seconds, got {idle_timeout!r}",
                field="idle_timeout",
            )
        self.object_class = object_class
        self.path = path
        self.env = env
        self.clock: Callable[[], float] = clock or time.time
        self.idle_timeout = float(idle_timeout)
        self.has_fetch = callable(getattr(object_class, "fetch", None))
        self.has_alarm = callable(getattr(object_class, "alarm", None))
        self._alarm_takes_info = alarm_takes_info(object_class)
        self._store: SqliteStore | None = None
        self._generation = forks.generation()
        self._slots: dict[str, _Slot] = {}
        self._storage_pipeline = Pipeline("do", "local", settings)
        self._task_group: TaskGroup | None = None
        self._wake: Any = None  # anyio.Event, set when an alarm changes
        self._closed = False

    # -- the database ---------------------------------------------------------------------------------

    @property
    def store(self) -> SqliteStore:
        store = self._store
        if store is None:
            if self._closed:
                raise Misconfigured("this Durable Object namespace is closed", capability="do")
            store = self._store = SqliteStore(self.path, durability=self.durability)
            self._generation = forks.generation()
        elif self._generation != forks.generation():
            raise Misconfigured(
                "this local Durable Object namespace was opened by the parent of this forked process: "
                "each object lives in one process, so a child cannot share it. In a pre-fork server, "
                "reach objects through the gateway (from_gateway), or make no call before the fork",
                capability="do",
            )
        return store

    # -- ids ------------------------------------------------------------------------------------------

    def id_from_name(self, name: str) -> DurableObjectId:
        return DurableObjectId(local_id_from_name(self.store.salt, name), name)

    def new_unique_id(self, jurisdiction: str | None) -> DurableObjectId:
        return DurableObjectId(local_unique_id(self.store.salt))

    def id_from_string(self, hex_id: str) -> DurableObjectId:
        if not local_id_is_valid(self.store.salt, hex_id):
            raise InvalidInput(
                f"{hex_id!r} is not an id of this namespace (ids come from id_from_name, new_unique_id or "
                "a stub's id, of the same namespace)",
                field="id",
            )
        return DurableObjectId(hex_id)

    async def resolve_id(self, oid: DurableObjectId | None, jurisdiction: str | None) -> DurableObjectId:
        return self.new_unique_id(jurisdiction) if oid is None else oid

    def stub(self, oid: DurableObjectId) -> LocalStub:
        if oid.hex is None:
            raise InvalidInput("the id has no hex form", field="id")
        return LocalStub(self, oid)

    def stub_by_name(self, name: str) -> tuple[DurableObjectId, LocalStub]:
        oid = self.id_from_name(name)
        return oid, LocalStub(self, oid)

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        import anyio

        if self._task_group is not None:
            return
        _ = self.store  # open (and lock) the database now, not in the middle of a request
        group = anyio.create_task_group()
        await group.__aenter__()
        self._task_group = group
        group.start_soon(self._run_scheduler)
        group.start_soon(self._run_evictor)

    async def aclose(self) -> None:
        group, self._task_group = self._task_group, None
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        self._slots.clear()
        self._closed = True
        store, self._store = self._store, None
        if store is not None:
            store.close()

    def storage(self, oid: DurableObjectId) -> DurableObjectStorage:
        """The storage of object ``oid``, for tests and tooling (inspection, seeding, repair).

        It does not go through the object: it neither constructs it nor waits for its lock — so while
        the object has a transaction open, calls made here join that transaction, as the object's own
        storage calls do."""
        if oid.hex is None:
            raise InvalidInput("the id has no hex form", field="id")
        return DurableObjectStorage(LocalStorage(self, oid.hex), self._storage_pipeline)

    @property
    def instance_count(self) -> int:
        """Objects currently held in memory."""
        return len(self._slots)

    # -- hosting --------------------------------------------------------------------------------------

    def _slot(self, oid: DurableObjectId) -> _Slot:
        assert oid.hex is not None
        slot = self._slots.get(oid.hex)
        if slot is None:
            import anyio

            storage = DurableObjectStorage(LocalStorage(self, oid.hex), self._storage_pipeline)
            ctx = ObjectContext(oid, storage, self.clock)
            try:
                instance = self.object_class(ctx, self.env)
            except Exception as exc:
                raise _remote_error(exc, "constructing the object") from exc
            slot = _Slot(instance, anyio.Lock(fast_acquire=True), self.clock())
            self._slots[oid.hex] = slot
        return slot

    async def invoke(self, oid: DurableObjectId, action: Callable[[DurableObject], Awaitable[T]]) -> T:
        """Run ``action`` on the object's one instance, holding its lock, outside the caller's scope."""
        slot = self._slot(oid)
        slot.pending += 1
        try:
            lock = slot.lock_here()
            await lock.acquire()  # a checkpoint: a cancelled caller stops here, before the object runs
            try:
                with outside_scope():
                    return await action(slot.instance)
            finally:
                lock.release()  # (``async with`` would add two coroutines to every call)
        finally:
            slot.pending -= 1
            slot.last_used = self.clock()

    async def evict_idle(self) -> int:
        """Drop objects idle for ``idle_timeout`` seconds; returns how many. Their storage stays."""
        now = self.clock()
        idle = [
            hex_id
            for hex_id, slot in self._slots.items()
            if slot.pending == 0 and not slot.lock.locked() and now - slot.last_used >= self.idle_timeout
        ]
        for hex_id in idle:
            del self._slots[hex_id]
        return len(idle)

    async def _run_evictor(self) -> None:
        import anyio

        while True:
            await anyio.sleep(min(self.idle_timeout / 2, 30.0))
            await self.evict_idle()

    # -- alarms ---------------------------------------------------------------------------------------

    def alarm_changed(self) -> None:
        wake = self._wake
        if wake is not None:
            wake.set()

    async def run_due_alarms(self) -> int:
        """Fire every alarm due by the clock now (concurrently across objects); returns how many."""
        import anyio

        due = self.store.due_alarms(int(self.clock() * 1000))
        if due:
            async with anyio.create_task_group() as group:
                for hex_id, at_ms in due:
                    group.start_soon(self._fire_alarm, hex_id, at_ms)
        return len(due)

    async def _fire_alarm(self, hex_id: str, at_ms: int) -> None:
        store = self.store

        async def fire(instance: DurableObject) -> None:
            retries = store.take_alarm(hex_id, at_ms)
            if retries is None:
                return  # moved, deleted, or already fired
            handler = getattr(instance, "alarm", None)
            try:
                if handler is None:
                    raise Unsupported(f"{self.object_class.__name__} has no alarm() handler")
                result = handler(AlarmInfo(retries)) if self._alarm_takes_info else handler()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                if store.get_alarm(hex_id) is None and retries < MAX_ALARM_RETRIES:
                    retry_at = int(self.clock() * 1000) + ALARM_FIRST_BACKOFF_MS * 2**retries
                    store.set_alarm(hex_id, retry_at, retries + 1)
                _log.warning(
                    "alarm of Durable Object %s (%s) failed (attempt %d)",
                    hex_id,
                    self.object_class.__name__,
                    retries + 1,
                    exc_info=True,
                )

        try:
            await self.invoke(DurableObjectId(hex_id), fire)
        except Exception:  # constructing the object failed: keep the scheduler alive
            _log.warning("could not run the alarm of Durable Object %s", hex_id, exc_info=True)

    async def _run_scheduler(self) -> None:
        import anyio

        while True:
            self._wake = anyio.Event()
            await self.run_due_alarms()
            upcoming = self.store.next_alarm()
            wait = ALARM_POLL_INTERVAL
            if upcoming is not None:
                wait = max(0.0, min(wait, upcoming / 1000 - self.clock()))
            if wait > 0:
                with anyio.move_on_after(wait):
                    await self._wake.wait()
            else:
                await anyio.lowlevel.checkpoint()


def _remote_error(exc: BaseException, doing: str) -> CapabilityError:
    """An exception raised by the object's own code, as its caller sees it."""
    if isinstance(exc, CapabilityError):
        return exc
    return BackendError(
        f"{type(exc).__name__}: {exc} (raised inside the Durable Object, {doing})",
        retryable=False,
        cause=exc,
    )


class LocalStub:
    """One hosted object, as a caller reaches it."""

    __slots__ = ("_runtime", "oid")

    def __init__(self, runtime: LocalRuntime, oid: DurableObjectId) -> None:
        self._runtime = runtime
        self.oid = oid

    async def call(self, method: str, args: list[Any]) -> Any:
        received = [codec.from_tagged(arg) for arg in args]  # the object gets its own copy

        async def run(instance: DurableObject) -> Any:
            try:
                result = getattr(instance, method)(*received)
                if type(result) is CoroutineType or inspect.isawaitable(result):  # (the common case first)
                    result = await result
            except Exception as exc:
                raise _remote_error(exc, f"in {method}()") from exc
            try:
                return codec.clone(result, field="result")
            except InvalidInput as exc:
                raise BackendError(
                    f"the result of {method}() cannot be sent back over RPC: {exc.message}", cause=exc
                ) from exc

        return await self._runtime.invoke(self.oid, run)

    async def fetch(self, request: Request) -> Response:
        runtime = self._runtime
        if not runtime.has_fetch:
            raise Unsupported(f"{runtime.object_class.__name__} defines no fetch(request) handler")
        copy = Request(request.url, method=request.method, headers=request.headers, body=request.body)

        async def run(instance: DurableObject) -> Response:
            try:
                response = await instance.fetch(copy)  # type: ignore[attr-defined]
            except Exception as exc:
                raise _remote_error(exc, "in fetch()") from exc
            if not isinstance(response, Response):
                raise BackendError(
                    f"{runtime.object_class.__name__}.fetch() returned {type(response).__name__}; "
                    "it must return a cap_cloudflare_do.Response"
                )
            return Response(response.body, status=response.status, headers=response.headers)

        return await runtime.invoke(self.oid, run)


class LocalStorage:
    """One hosted object's storage: its own database (key-value entries and SQL tables), and its
    alarm in the namespace index."""

    __slots__ = ("_cached", "_object_id", "_runtime")
    kind = "local"

    def __init__(self, runtime: LocalRuntime, object_id: str) -> None:
        self._runtime = runtime
        self._object_id = object_id
        self._cached: _Db | None = None

    def _db(self) -> _Db:
        store = self._runtime.store  # checks the namespace is open, and not inherited across a fork
        db = self._cached
        if db is None or db.closed:  # closed: evicted from the open set, dropped, or the namespace closed
            db = self._cached = store.sql.get(self._object_id)
        elif db.depth:
            db.check_open()
        return db

    async def get(self, key: str) -> Any:
        return kv_get(self._db(), key)

    async def get_many(self, keys: list[str]) -> dict[str, Any]:
        return kv_get_many(self._db(), keys)

    async def put_many(self, entries: Mapping[str, Encoded]) -> None:
        kv_write(self._db(), entries)

    async def delete(self, key: str) -> bool:
        return kv_delete(self._db(), [key]) > 0

    async def delete_many(self, keys: KeyList) -> int:
        return kv_delete(self._db(), keys)

    async def delete_all(self) -> None:
        self._runtime.store.delete_all(self._object_id)
        self._runtime.alarm_changed()  # the alarm went with the data

    async def list(self, options: ListOptions) -> dict[str, Any]:
        return kv_list(self._db(), options)

    def begin(self) -> LocalTransaction:
        """Open a transaction on the object's database: every storage call until it ends — key-value,
        SQL, alarms — is part of it, as on a SQLite-backed object."""
        db = self._db()
        return LocalTransaction(self._runtime, self._object_id, db, db.begin())

    async def get_alarm(self) -> int | None:
        return self._runtime.store.get_alarm(self._object_id)

    async def set_alarm(self, epoch_ms: int) -> None:
        runtime = self._runtime
        if not runtime.has_alarm:
            raise Unsupported(
                f"{runtime.object_class.__name__} has no alarm() handler; define one before calling set_alarm"
            )
        if runtime.store.set_alarm(self._object_id, epoch_ms):
            runtime.alarm_changed()

    async def delete_alarm(self) -> None:
        if self._runtime.store.delete_alarm(self._object_id):
            self._runtime.alarm_changed()

    def sql(self) -> LocalSql:
        from .local_sql import LocalSql

        runtime = self._runtime
        return LocalSql(lambda: runtime.store.sql, self._object_id)

    async def get_current_bookmark(self) -> str:
        raise _no_pitr()

    async def get_bookmark_for_time(self, epoch_ms: int) -> str:
        raise _no_pitr()

    async def on_next_session_restore_bookmark(self, bookmark: str) -> str:
        raise _no_pitr()


class LocalTransaction:
    """An open transaction of one object's database (``storage.transaction()`` in the local runtime)."""

    __slots__ = ("_db", "_done", "_nested", "_object_id", "_runtime")

    def __init__(self, runtime: LocalRuntime, object_id: str, db: _Db, nested: bool) -> None:
        self._done = False
        self._runtime = runtime
        self._object_id = object_id
        self._db = db
        self._nested = nested

    async def start(self) -> None:
        """Nothing to do: :meth:`LocalStorage.begin` opened it."""
        return None

    async def commit(self) -> None:
        db = self._db
        if db.closed:
            raise Closed(
                "the namespace was closed while this transaction was open; nothing of it was committed",
                capability="do",
                operation="storage.transaction",
            )
        try:
            db.finish(self._nested, commit=True)
        except BaseException:
            self._ended(committed=False)
            raise
        self._ended(committed=True)

    def rollback(self) -> None:
        self._done = True
        if self._db.closed:  # the namespace closed meanwhile: SQLite rolled it back then
            return
        try:
            self._db.finish(self._nested, commit=False)
        finally:
            self._ended(committed=False)

    async def abort(self) -> None:
        if not self._done:  # not already rolled back by ``txn.rollback()``
            self.rollback()

    def _ended(self, *, committed: bool) -> None:
        if self._nested or self._db.closed:
            return
        runtime = self._runtime
        if runtime.store.transaction_ended(self._object_id, self._db, committed=committed):
            runtime.alarm_changed()


def _no_pitr() -> Unsupported:
    return Unsupported(
        "point-in-time recovery needs Cloudflare's storage log, which the local runtime does not keep "
        "(it would have to record every write for 30 days); copy the namespace folder to keep a restore point"
    )
