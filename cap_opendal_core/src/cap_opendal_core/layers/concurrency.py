"""The concurrency layer: at most ``limit`` calls through one pipeline are in flight at once.

An anyio semaphore rather than a capacity limiter, so a task may hold several slots (a batch that fans
out) without tripping over borrower bookkeeping. One semaphore per running event loop: a semaphore
made on one loop (or under one async library) cannot be waited on from another, and one capability
object may serve several loops (``asyncio.run`` per request, trio, the sync API's portal) — so the
cap is per loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..loops import current_loop_key, loop_ended

if TYPE_CHECKING:
    from .call import Call, Invoke, Layer

__all__ = ["concurrency_layer"]

_KEEP = 16
"""Past this many loops, idle semaphores are dropped (a trio run's end cannot be seen from its token)."""


def concurrency_layer(limit: int) -> Layer:
    import anyio

    per_loop: dict[object, anyio.Semaphore] = {}

    def semaphore() -> anyio.Semaphore:
        loop = current_loop_key()
        found = per_loop.get(loop)
        if found is None:
            crowded = len(per_loop) > _KEEP
            for old, held in list(per_loop.items()):
                if loop_ended(old) or (crowded and held.value == limit):
                    per_loop.pop(old, None)  # ended asyncio loops; idle ones of ended trio runs
            found = per_loop[loop] = anyio.Semaphore(limit)
        return found

    def wrap(next_step: Invoke) -> Invoke:
        async def limit_concurrency(call: Call) -> Any:
            async with semaphore():
                return await next_step(call)

        return limit_concurrency

    return wrap
