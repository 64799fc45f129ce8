"""``get(key, type="stream")``'s result: the value's bytes as they arrive, never all at once.

The pipeline covers the call that opens the stream; the chunks are read afterwards, outside it. So a
failure while reading is translated here, in the same way (only a ``CapabilityError`` comes out), and
the stream is closed whether the reader finishes, stops early or fails. Use it as an async iterator,
or ``async with`` it to be sure it is closed.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from cap_opendal_core.closing import ClosesOnExit
from cap_opendal_core.errors import CapabilityError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["KvStream"]


class KvStream(ClosesOnExit):
    """An async iterator of ``bytes`` chunks of one value; closes what the backend opened."""

    __slots__ = ("_chunks", "_closed", "_on_close", "key")

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        key: str,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._chunks = chunks
        self._on_close = on_close
        self._closed = False
        self.key = key

    def __aiter__(self) -> KvStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except CapabilityError as err:
            await self._close_quietly()
            err.with_context(capability="kv", operation="get", key=self.key)
            raise
        except Exception as exc:
            await self._close_quietly()
            from cap_opendal_core.translate import from_exception

            raise from_exception(exc, capability="kv", operation="get", key=self.key) from exc

    async def read(self) -> bytes:
        """The rest of the value as one ``bytes`` (at most 25 MiB, Workers KV's largest value)."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        """Stop reading and release the stream (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            if self._on_close is not None:
                await self._on_close()

    async def _close_quietly(self) -> None:
        with contextlib.suppress(Exception):  # the read error is the one worth reporting
            await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"KvStream(key={self.key!r}, {state})"
