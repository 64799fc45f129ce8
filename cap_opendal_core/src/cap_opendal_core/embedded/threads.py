"""Worker-thread hops for the embedded stores, with anyio imported at the first hop, not at import.

Why: ``import anyio`` costs ~25 ms (it loads ``typing_extensions`` on Python < 3.13), and a store's
constructor (``KvNamespace.local``, ``R2Bucket.local``) should not pay it — a script that builds a
store and never awaits it, or builds it long before using it, should start fast. The first
operation needs an event loop anyway; that is where anyio is loaded. anyio, not ``asyncio.to_thread``:
a cancelled hop still waits for its thread (a commit in flight is never abandoned half-way), and
trio works too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio import CancelScope

__all__ = ["shielded", "to_thread"]

T = TypeVar("T")

_run_sync: Any = None


async def to_thread(fn: Callable[..., T], *args: Any) -> T:
    """``anyio.to_thread.run_sync(fn, *args)``."""
    global _run_sync
    run = _run_sync
    if run is None:
        from anyio.to_thread import run_sync as run

        _run_sync = run
    result: T = await run(fn, *args)
    return result


def shielded() -> CancelScope:
    """``anyio.CancelScope(shield=True)``: clean-up that must finish even when the caller is cancelled."""
    from anyio import CancelScope

    return CancelScope(shield=True)
