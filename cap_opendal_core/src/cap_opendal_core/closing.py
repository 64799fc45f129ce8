"""``ClosesOnExit``: ``async with x:`` closes ``x`` — written once for every class that has ``aclose``.

Capabilities, the bag, KV value streams and R2 object bodies hold something to release; each defines
``aclose()`` and gets ``__aenter__`` (returning itself; override it to start something) and
``__aexit__`` (awaiting ``aclose()``, whatever the exit) from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["ClosesOnExit"]


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
