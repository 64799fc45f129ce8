"""The small protocols every Durable Objects backend implements, and the descriptor they share.

``local``, ``workers`` and ``gateway`` implement :class:`NamespaceBackend`; ``local`` and ``workers``
also implement :class:`StorageBackend` for an object's own storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cap_opendal_core.capability import CapabilityBackend
from cap_opendal_core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from cap_opendal_core.descriptors import Descriptor

    from ..ids import DurableObjectId
    from ..models import Request, Response
    from ..sql import SqlCursor, SqlValue
    from ..validation import Encoded, ListOptions

__all__ = [
    "KeyList",
    "NamespaceBackend",
    "OpenTransaction",
    "RemoteNamespace",
    "SqlBackend",
    "StorageBackend",
    "StubBackend",
    "delete_all_in_transaction",
    "namespace_descriptor",
]

T = TypeVar("T")

KeyList = list[str]
"""Keys of one call (an alias: ``list`` is also the name of a storage method)."""


def delete_all_in_transaction() -> InvalidInput:
    """What every storage backend raises for ``delete_all()`` inside an open transaction, as workerd
    refuses it ("Cannot call deleteAll() within a transaction")."""
    return InvalidInput(
        "delete_all() cannot run inside a transaction (transaction() or transaction_sync()): "
        "call it outside, or delete the keys and drop the tables inside",
        field="delete_all",
    )


class StubBackend(Protocol):
    """One object, as a caller reaches it."""

    async def call(self, method: str, args: list[Any]) -> Any:
        """RPC: ``args`` are in tagged form (already validated); returns the plain Python result."""
        ...

    async def fetch(self, request: Request) -> Response: ...


class NamespaceBackend(CapabilityBackend, Protocol):
    """A namespace of objects of one class."""

    kind: str
    """``local``, ``workers`` or ``gateway``: for logs and the descriptor (``name`` is the same)."""

    @property
    def descriptor(self) -> Descriptor:
        """What this backend guarantees (:func:`namespace_descriptor`)."""
        ...

    def id_from_name(self, name: str) -> DurableObjectId: ...

    def new_unique_id(self, jurisdiction: str | None) -> DurableObjectId: ...

    def id_from_string(self, hex_id: str) -> DurableObjectId: ...

    async def resolve_id(self, oid: DurableObjectId | None, jurisdiction: str | None) -> DurableObjectId:
        """An id whose hex form is known (``None``: a new unique id)."""
        ...

    def stub(self, oid: DurableObjectId) -> StubBackend: ...

    def stub_by_name(self, name: str) -> tuple[DurableObjectId, StubBackend]: ...

    async def start(self) -> None:
        """Start background work (the local runtime's alarm scheduler); called by ``async with``."""
        ...

    async def aclose(self) -> None: ...


class StorageBackend(Protocol):
    """One object's storage. Keys and values arrive validated; results are plain Python values."""

    kind: str

    async def get(self, key: str) -> Any: ...

    async def get_many(self, keys: list[str]) -> dict[str, Any]:
        """Only the keys that exist, in UTF-8 byte order of the keys."""
        ...

    async def put_many(self, entries: Mapping[str, Encoded]) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def delete_many(self, keys: KeyList) -> int: ...

    async def delete_all(self) -> None: ...

    async def list(self, options: ListOptions) -> dict[str, Any]: ...

    def begin(self) -> OpenTransaction:
        """A transaction that every storage call joins from :meth:`OpenTransaction.start` until it
        ends (key-value, SQL and alarms, as on a SQLite-backed object)."""
        ...

    async def get_alarm(self) -> int | None: ...

    async def set_alarm(self, epoch_ms: int) -> None: ...

    async def delete_alarm(self) -> None: ...

    def sql(self) -> SqlBackend:
        """The object's SQL database (``storage.sql``)."""
        ...

    async def get_current_bookmark(self) -> str: ...

    async def get_bookmark_for_time(self, epoch_ms: int) -> str: ...

    async def on_next_session_restore_bookmark(self, bookmark: str) -> str: ...


class OpenTransaction(Protocol):
    """A transaction opened by :meth:`StorageBackend.begin`."""

    async def start(self) -> None:
        """Open it (on Workers: enter the runtime's ``transaction(closure)``)."""
        ...

    async def commit(self) -> None:
        """Commit it (a failure rolls it back and raises)."""
        ...

    def rollback(self) -> None:
        """``txn.rollback()`` inside the block."""
        ...

    async def abort(self) -> None:
        """Roll it back because the block raised (that exception propagates, not this one's)."""
        ...


class SqlBackend(Protocol):
    """One object's SQL database. Queries arrive checked and split (:func:`cap_cloudflare_do.sql.prepare`);
    failures leave as ``CapabilityError`` (:func:`cap_cloudflare_do.sql.sql_error`)."""

    kind: str

    def exec(self, query: str, statements: tuple[str, ...], bindings: tuple[SqlValue, ...]) -> SqlCursor:
        """Run ``query`` (whose statements are ``statements``); the last statement takes ``bindings``."""
        ...

    def database_size(self) -> int: ...

    def transaction_sync(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in one transaction: all of its writes, or none when it raises."""
        ...


def namespace_descriptor(kind: str, *, durable: bool = True) -> Descriptor:
    """Durable Objects' descriptor (strong, durable, ordered; see ``spec.py``); an in-memory local
    runtime is ephemeral."""
    from ..spec import SPEC

    return SPEC.descriptor_for(kind, durability="durable" if durable else "ephemeral")


class RemoteNamespace:
    """What a namespace reached remotely (the binding, the gateway) states about itself: its ``kind``
    is its ``name``, and it is as durable as Durable Objects are."""

    kind: str

    @property
    def name(self) -> str:
        return self.kind

    @property
    def descriptor(self) -> Descriptor:
        """Durable Objects' guarantees."""
        return namespace_descriptor(self.kind)
