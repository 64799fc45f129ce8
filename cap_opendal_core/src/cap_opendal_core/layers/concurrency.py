"""The concurrency layer: at most ``limit`` calls through one pipeline are in flight at once.

An anyio semaphore rather than a capacity limiter, so a task may hold several slots (a batch that fans
out) without tripping over borrower bookkeeping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .call import Call, Invoke, Layer

__all__ = ["concurrency_layer"]


def concurrency_layer(limit: int) -> Layer:
    import anyio

    semaphore = anyio.Semaphore(limit)

    def wrap(next_step: Invoke) -> Invoke:
        async def limit_concurrency(call: Call) -> Any:
            async with semaphore:
                return await next_step(call)

        return limit_concurrency

    return wrap
