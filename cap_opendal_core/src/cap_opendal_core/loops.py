"""Which event loop is running: what a resource made for one loop (a lock, a semaphore, a connection
pool) is keyed by, so that one capability object works across ``asyncio.run`` calls, under trio, and
on the sync API's portal loop at the same time (see ``docs/server-hosts.md``)."""

from __future__ import annotations

import asyncio
import sys

__all__ = ["current_loop_key", "loop_ended"]


def current_loop_key() -> object:
    """The running asyncio event loop, or the running ``trio.run``'s token. Raises ``RuntimeError``
    outside both."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        if "trio" not in sys.modules:  # trio brings sniffio; without trio there is nothing else to ask
            raise
        import sniffio
        import trio

        if sniffio.current_async_library() != "trio":
            raise
        return trio.lowlevel.current_trio_token()


def loop_ended(key: object) -> bool:
    """True for an asyncio loop that is closed (a trio run's end cannot be told from its token)."""
    return isinstance(key, asyncio.AbstractEventLoop) and key.is_closed()
