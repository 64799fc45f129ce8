"""The small protocol every KV backend implements, and nothing else.

:class:`~cap_cloudflare_kv.KvNamespace` validates its arguments and then calls exactly one of these
methods through its pipeline. A backend receives checked input only (keys, types, limits, prepared
writes), so it never validates again; it returns plain values or raises — anything that is not a
``CapabilityError`` is translated by the pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cap_opendal_core.capability import CapabilityBackend
from cap_opendal_core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from cap_opendal_core.descriptors import Descriptor
    from cap_opendal_core.layers import LayerSettings

    from ..models import KvListResult, KvValueWithMetadata, PreparedWrite, ValueType

__all__ = ["KvBackend", "chunked", "foreign_cursor", "map_bounded"]

T = TypeVar("T")
R = TypeVar("R")


class KvBackend(CapabilityBackend, Protocol):
    """What a KV backend does. ``name`` is ``workers``, ``rest`` or ``opendal`` (for logs)."""

    name: str
    clock: Callable[[], float]
    """Epoch seconds now; expirations are checked against it (injectable on local backends)."""

    @property
    def descriptor(self) -> Descriptor:
        """What the backend guarantees (an attribute, or a property built at first use)."""
        ...

    def pipeline_settings(self, settings: LayerSettings) -> LayerSettings:
        """The settings the capability's pipeline should run (OpenDAL backends defer retry to OpenDAL)."""
        ...

    def check_cursor(self, cursor: str, operation: str) -> None:
        """Refuse a cursor this backend could never have issued, before any I/O."""
        ...

    async def get(self, key: str, value_type: ValueType, cache_ttl: int | None) -> Any: ...

    async def get_with_metadata(
        self, key: str, value_type: ValueType, cache_ttl: int | None
    ) -> KvValueWithMetadata: ...

    async def get_many(self, keys: list[str], value_type: ValueType) -> dict[str, Any]:
        """``{key: value or None}``; the backend splits ``keys`` into calls of at most 100."""
        ...

    async def put(self, write: PreparedWrite) -> None: ...

    async def put_many(self, writes: list[PreparedWrite]) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def delete_many(self, keys: list[str]) -> None: ...

    async def list(self, prefix: str | None, limit: int, cursor: str | None) -> KvListResult: ...

    async def aclose(self) -> None: ...

    def describe(self) -> str:
        """One line for ``repr``: what this backend points at, never a secret."""
        ...


def chunked(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


async def map_bounded(fn: Callable[[T], Awaitable[R]], items: list[T], limit: int) -> list[R]:
    """``[await fn(x) for x in items]`` with at most ``limit`` calls in flight.

    If calls fail, every call still runs to its end and the failure of the *first item in input
    order* is raised, as itself: which error a bulk call reports must not depend on which task lost
    a race (a task group would raise them all as a group, in completion order).
    """
    if len(items) <= 1:
        return [await fn(item) for item in items]
    results: list[R | None] = [None] * len(items)
    failures: dict[int, Exception] = {}
    import anyio  # here, not at import: the local backend imports this module, anyio costs ~25 ms

    limiter = anyio.Semaphore(limit)

    async def run(index: int, item: T) -> None:
        async with limiter:
            try:
                results[index] = await fn(item)
            except Exception as exc:  # kept, and raised below in input order
                failures[index] = exc

    async with anyio.create_task_group() as tg:
        for index, item in enumerate(items):
            tg.start_soon(run, index, item)
    if failures:
        raise failures[min(failures)]
    return results  # type: ignore[return-value]


def foreign_cursor(operation: str) -> InvalidInput:
    """The error for a cursor this namespace's ``list()`` did not return (the emulating backends')."""
    return InvalidInput(
        "cursor is not one this namespace's list() returned; pass the cursor of the previous page "
        "unchanged, or None to start over",
        field="cursor",
        capability="kv",
        operation=operation,
    )
