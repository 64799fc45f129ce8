"""``ClosesOnExit``: ``async with x:`` closes ``x`` — written once for every class that has ``aclose``.

Capabilities, the bag, KV value streams and R2 object bodies hold something to release; each defines
``aclose()`` and gets ``__aenter__`` (returning itself; override it to start something) and
``__aexit__`` (awaiting ``aclose()``, whatever the exit) from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from types import TracebackType

__all__ = ["ClosesOnExit", "close_all"]


class ClosesOnExit:
    """Mixin: an async context manager that closes its object on exit (see the module docstring)."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what the object holds; subclasses define it."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def close_all(closers: Iterable[Callable[[], Awaitable[object]]], what: str) -> None:
    """Await every closer, in order, even after one fails: one failure is re-raised as it is,
    several together as an ``ExceptionGroup`` ("errors while closing ``what``")."""
    errors: list[Exception] = []
    for close in closers:
        try:
            await close()
        except Exception as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ExceptionGroup(f"errors while closing {what}", errors)
