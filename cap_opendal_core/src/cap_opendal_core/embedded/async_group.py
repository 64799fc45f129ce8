"""Group commit for the tasks of one event loop, with one worker-thread hop per group.

Why: :meth:`Store.transact` already commits together the transactions queued on the write lock,
but each caller still pays its own hop to a worker thread and its own wake-up, and those — not the
disk — become the limit once many small writes share one ``fsync``. Here the tasks of one event loop
that want to commit while a commit of theirs is in flight simply wait (no thread); the task whose
commit finishes hands the next group to the first waiter, which takes the whole queue to a worker
thread in one hop (:meth:`Store.transact_all`): every member still runs in its own savepoint and gets
its own result or error, after the shared commit (see :mod:`.grouping`).

Only for transactions that do no slow work of their own (a small write whose bytes go into the
index): a member's function runs on the leader's thread, one after another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .threads import shielded, to_thread

if TYPE_CHECKING:
    from collections.abc import Callable

    from .durability import Durability
    from .grouping import Pending
    from .store import Store, Txn

__all__ = ["transact_grouped"]

T = TypeVar("T")

_anyio: Any = None
"""(anyio.Event, anyio.lowlevel.current_token), imported at the first call (see :mod:`.threads`)."""


class _Waiter:
    __slots__ = ("durability", "event", "failed", "fn", "lead", "pending")

    def __init__(self, fn: Callable[[Txn], Any], durability: Durability, event: Any) -> None:
        self.fn = fn
        self.durability: Durability = durability
        self.event = event
        self.lead = False
        self.pending: Pending | None = None
        self.failed: BaseException | None = None


class _LoopQueue:
    """The waiting members of one event loop on one store (only touched from that loop's thread)."""

    __slots__ = ("leading", "waiting")

    def __init__(self) -> None:
        self.waiting: list[_Waiter] = []
        self.leading = False


async def transact_grouped(store: Store, fn: Callable[[Txn], T], durability: Durability) -> T:
    """``store.transact(fn, durability)`` in a worker thread, grouped with this loop's other callers."""
    global _anyio
    if _anyio is None:
        from anyio import Event
        from anyio.lowlevel import current_token

        _anyio = (Event, current_token)
    make_event, current_token = _anyio
    token = current_token()
    queues: dict[Any, _LoopQueue] = store.loop_queues
    queue = queues.get(token)
    if queue is None:
        queue = queues[token] = _LoopQueue()
    me = _Waiter(fn, durability, make_event() if queue.leading else None)
    queue.waiting.append(me)
    with shielded():  # once queued, the outcome is awaited: a commit in flight is never abandoned
        if me.event is not None:
            await me.event.wait()  # woken with an outcome, or to lead the next group
        else:
            queue.leading = me.lead = True
        if me.lead:
            batch, queue.waiting = queue.waiting, []
            try:
                done = await to_thread(store.transact_all, [(w.fn, w.durability) for w in batch])
                for waiter, pending in zip(batch, done, strict=True):
                    waiter.pending = pending
            except BaseException as exc:
                for waiter in batch:
                    waiter.failed = exc
                raise
            finally:
                for waiter in batch:
                    if waiter.event is not None:
                        waiter.event.set()
                if queue.waiting:
                    queue.waiting[0].lead = True
                    queue.waiting[0].event.set()
                else:
                    queue.leading = False
                    if queues.get(token) is queue:
                        del queues[token]
    if me.failed is not None:
        raise me.failed
    outcome = me.pending
    assert outcome is not None
    if outcome.error is not None:
        raise outcome.error
    result: T = outcome.result
    return result
