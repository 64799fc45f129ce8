"""``StoreHandle``: one backend's hold on the process-wide store of its directory.

Every embedded backend (KV's, R2's …) does the same three things with its store, so they live here:
acquire and hold it on first use (building a backend opens nothing), open it in a worker thread before
the first operation, and let it go exactly once on ``aclose`` (the last holder closes it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .store import Store, acquire
from .threads import to_thread

if TYPE_CHECKING:
    from .store import Migration

__all__ = ["StoreHandle"]


class StoreHandle:
    """The store of ``root`` for one backend (the arguments are :func:`~.store.acquire`'s)."""

    __slots__ = ("_capability", "_kind", "_migration", "_root", "_schema", "_store")

    def __init__(
        self, root: str, *, kind: str, schema: str, capability: str, migration: Migration | None = None
    ) -> None:
        self._root, self._kind, self._schema = root, kind, schema
        self._capability, self._migration = capability, migration
        self._store: Store | None = None

    def held(self) -> Store:
        """The store, acquired and held by this handle (nothing is opened yet)."""
        store = self._store
        if store is None:
            store = acquire(
                self._root,
                kind=self._kind,
                schema=self._schema,
                capability=self._capability,
                migration=self._migration,
            )
            store.hold()
            self._store = store
        return store

    async def opened(self) -> Store:
        """The store, held and open (opening runs in a worker thread, once)."""
        store = self.held()
        if not store.is_open:
            await to_thread(store.open)
        return store

    async def aclose(self) -> None:
        """Let the store go (idempotent); the last holder in the process closes it."""
        store, self._store = self._store, None
        if store is not None:
            await to_thread(store.let_go)
