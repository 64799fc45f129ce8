"""The sync API: the async capabilities run for callers without an event loop, in one of two ways.

A Flask view, a Django view, a Celery task or a script has no event loop. Each package's ``sync``
module wraps its async classes in thin typed classes (``cap_cloudflare_kv.sync.KvNamespace`` …) whose
methods run the async call and block until it finishes:

* **in the caller's thread** when the backend says it can (``runs_in_caller``: KV on a local OpenDAL
  service, ``memory://`` or ``fs://``): the coroutine runs on an event loop of the calling thread
  (made at its first such call, closed when the thread ends, made anew in a forked child) with
  :func:`in_caller_thread` true, and the backend does its I/O with OpenDAL's blocking ``Operator``
  there — no thread hop, the GIL released in Rust, 8 threads doing 8 reads at once. A blocking
  call cannot be interrupted: a deadline stops the call only where it awaits.
* **on the portal**, a process-wide event-loop thread, for every other backend. What follows is
  about the portal; why it (``docs/server-hosts.md`` has the measurements):

* **one loop thread, shared** — every sync object of the process runs on the same asyncio loop in
  one daemon thread, started at the first call. Connections pooled per loop (httpx, R2's HTTP/1.1
  pool, the embedded engine's commit queues) are therefore made once and reused by every thread: 16
  request threads share one pool, as they would in an async server. A loop per calling thread
  would open a pool per thread, and measured no cheaper even where there is no pool (each thread
  then waits alone for each of its calls); ``asyncio.run`` per call would open a pool per *call*.
* **few wake-ups** — what a sync call costs is thread wake-ups and GIL hand-offs, not Python work.
  Calls are queued, and the loop is woken (one write to its self-pipe) only when the queue goes from
  idle to busy; calls arriving while it works cost no wake-up. Callers whose calls finished are
  released together just before the loop next polls for I/O, so they wake as it lets go of the GIL
  and their next calls arrive together — the batching 8 tasks on one loop get for free.
* **the same code path** — the sync methods call the async ones: same validation, same errors, same
  layers, retries, metrics and hints. Nothing is written twice, so the two cannot disagree.
* **the caller's context goes along** — each call runs in a copy of the calling thread's
  ``contextvars`` context, so an :class:`~cap_opendal_core.scope.InvocationScope` opened around sync
  calls observes them.
* **fork** — a forked child (gunicorn ``--preload``) has no portal thread; the next call starts a new
  one (:func:`os.register_at_fork`). The parent's loop object is abandoned in the child, not closed.
* **exit** — at interpreter exit the loop's async generators are closed (that closes each loop's
  connection pools) and the thread stops. ``close()`` on a sync object closes its capability at once.
  A call that reaches a portal that has stopped is answered with ``RuntimeError``, never left waiting.
* **errors** — whatever the call raises reaches the caller with its type, ``KeyboardInterrupt`` and
  ``SystemExit`` included (they would otherwise stop the portal's loop and strand every caller).

A sync call made *inside* a running event loop would block that loop until the portal answers — or
forever, if the portal is that loop (or, in the caller's thread, nest a loop in the running one). It
raises :class:`BlockingCallInEventLoop` instead, before doing anything: async code uses the async
classes.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import contextvars
import os
import selectors
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from .forward import Forward
from .loops import current_loop_key

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator

    from .capability import Capability
    from .descriptors import Descriptor
    from .layers import Pipeline
    from .spec import CapabilitySpec

__all__ = [
    "BlockingCallInEventLoop",
    "SyncCapability",
    "SyncIterator",
    "SyncStream",
    "current_loop_key",
    "in_caller_thread",
    "portal_running",
    "run",
    "stop_portal",
]

T = TypeVar("T")
C = TypeVar("C", bound="Capability[Any]")

STOP_TIMEOUT_S = 10.0
"""How long interpreter exit waits for the portal to close its pools and stop."""
_STOPPED = "the sync API's portal stopped before this call started (stop_portal() or interpreter exit)"


class BlockingCallInEventLoop(RuntimeError):
    """A sync-API method was called from a thread that runs an event loop (see the module docstring)."""


class _Portal:
    """The loop, its thread, and the two queues between the loop and the calling threads.

    Calls arrive in ``submitted``; the loop is woken (one write to its self-pipe) only when the
    queue goes from empty-and-drained to non-empty, so calls that arrive while it works cost no
    wake-up. Finished calls wait in ``finished`` and their callers are released together when the
    loop next polls for I/O (:class:`_ReleasingSelector`), so the waiting threads wake as the loop
    lets go of the GIL, and the calls they make next arrive together.
    """

    __slots__ = ("closed", "finished", "loop", "scheduled", "submitted", "thread")

    def __init__(self) -> None:
        self.submitted: collections.deque[_Call] = collections.deque()
        self.finished: collections.deque[_Call] = collections.deque()
        self.scheduled = False
        self.closed = False
        # asyncio's own selector loop whatever the event-loop policy (uvloop …): its selector is
        # where the callers are released
        self.loop = asyncio.SelectorEventLoop(_ReleasingSelector(self.finished))
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), name="cap-sync-portal", daemon=True)
        self.thread.start()
        ready.wait()

    def submit(self, call: _Call) -> None:
        """Queue ``call`` for the loop (any thread). Raises ``RuntimeError`` once the portal stopped."""
        self.submitted.append(call)
        if self.closed:  # stopped meanwhile: take the call back unless the final sweep answered it
            try:
                self.submitted.remove(call)
            except ValueError:
                return
            raise RuntimeError(_STOPPED)
        if not self.scheduled:
            self.scheduled = True
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop closed meanwhile: the final sweep answers the call
                self.scheduled = False

    def _drain(self) -> None:
        """Start every submitted call (on the loop)."""
        self.scheduled = False  # before popping: a call appended from now on schedules a new drain
        submitted, finished, loop = self.submitted, self.finished, self.loop
        while submitted:
            call = submitted.popleft()
            if call.cancelled or self.closed:  # the caller gave up, or the portal is stopping
                call.error = concurrent.futures.CancelledError() if call.cancelled else RuntimeError(_STOPPED)
                call.finished.release()
                continue
            awaitable: Awaitable[Any] | None = None
            try:
                awaitable = call.context.run(call.fn, *call.args, **call.kwargs)
                call.task = loop.create_task(_drive(call, awaitable, finished), context=call.context)
            except BaseException as exc:  # the call failed before its first await
                if asyncio.iscoroutine(awaitable):
                    awaitable.close()
                call.error = exc
                call.finished.release()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        try:
            self.loop.run_forever()
            self.closed = True  # calls that arrive from now on are answered, not started
            tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())  # closes each pool
        finally:
            self.closed = True
            self.loop.close()
            self._sweep()

    def _sweep(self) -> None:
        """After the loop closed: answer every call still queued or finished, so no caller waits."""
        while self.finished:
            self.finished.popleft().finished.release()
        while self.submitted:
            call = self.submitted.popleft()
            call.error = RuntimeError(_STOPPED)
            call.finished.release()

    def stop(self, timeout: float) -> None:
        if self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:  # closed meanwhile
            return
        self.thread.join(timeout)


class _ReleasingSelector(selectors.DefaultSelector):
    """The portal loop's selector: before each poll for I/O, release the callers whose calls finished
    in the loop iteration that just ran (see :class:`_Portal`)."""

    def __init__(self, finished: collections.deque[_Call]) -> None:
        super().__init__()
        self._finished = finished

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        finished = self._finished
        while finished:
            finished.popleft().finished.release()
        return super().select(timeout)


_portal: _Portal | None = None
_portal_pid: int | None = None
_lock = threading.Lock()


def _get_portal() -> _Portal:
    global _portal, _portal_pid
    portal = _portal
    if portal is not None:
        return portal
    with _lock:
        if _portal is None:
            _portal = _Portal()
            _portal_pid = os.getpid()
        return _portal


def portal_running() -> bool:
    """True once a sync call has started the portal thread in this process (and it was not stopped)."""
    return _portal is not None and _portal.thread.is_alive()


def stop_portal(timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop the portal: cancel what still runs on it, close its pools, end the thread. The next
    sync call starts a new one. Runs at interpreter exit; tests call it to start clean."""
    global _portal
    with _lock:
        portal, _portal = _portal, None
    if portal is not None and _portal_pid == os.getpid():
        portal.stop(timeout)


def _forget_after_fork() -> None:
    """In a forked child: the portal thread does not exist here; a new one starts on the next call.
    The parent's loop is not closed: its selector and sockets are the parent's too."""
    global _portal, _lock
    _portal = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(stop_portal)


def _refuse_inside_loop(fn: Callable[..., Any], what: str | None, owner: object) -> None:
    """Raise :class:`BlockingCallInEventLoop` if this thread runs an event loop (asyncio or trio).
    The call is named by ``what``, else by ``owner`` (a sync object) and ``fn`` — built only when
    refused, off the hot path."""
    if asyncio._get_running_loop() is None and not _in_trio():
        return
    if what is None:
        name = getattr(fn, "__name__", "call")
        what = (
            f"{type(owner).__name__}.{name}()"
            if owner is not None
            else str(getattr(fn, "__qualname__", "this call"))
        )
    raise BlockingCallInEventLoop(
        f"{what} is a blocking (sync API) call, made from inside a running event loop: it would "
        "block that loop, or deadlock it. In async code use the async class and await it; to "
        "call sync code from async code, run it in a worker thread (anyio.to_thread.run_sync)."
    )


def _in_trio() -> bool:
    if "trio" not in sys.modules:
        return False
    import sniffio

    return getattr(sniffio.thread_local, "name", None) == "trio" or (
        sniffio.current_async_library_cvar.get() == "trio"
    )


def run(fn: Callable[..., Awaitable[T]], /, *args: Any, what: str | None = None, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` on the portal loop and block until it returns (or raises).

    ``what`` names the call in the error raised when this thread runs an event loop. The call runs
    in a copy of this thread's ``contextvars`` context. If the waiting thread is interrupted
    (``KeyboardInterrupt``), the call on the portal is cancelled.
    """
    return _call(fn, args, kwargs, what, None)


def _call_direct(fn: Callable[..., Coroutine[Any, Any, T]], args: Any, kwargs: Any, owner: object) -> T:
    _refuse_inside_loop(fn, None, owner)
    return _call_in_caller(fn, args, kwargs)


def _call(fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any, what: str | None, owner: object) -> T:
    """:func:`run`; ``owner`` (a sync object) names the call only if it is refused."""
    _refuse_inside_loop(fn, what, owner)
    portal = _get_portal()
    call = _Call(fn, args, kwargs)
    portal.submit(call)
    try:
        call.finished.acquire()
    except BaseException:  # the waiting thread was interrupted: stop the call it was waiting for
        call.cancelled = True
        with contextlib.suppress(RuntimeError):  # the portal stopped meanwhile: nothing runs
            portal.loop.call_soon_threadsafe(call.cancel)
        raise
    if call.error is not None:
        error, call.error = call.error, None  # no cycle through the traceback
        raise error
    result: T = call.result
    return result


class _Call:
    """One sync call: started on the portal, waited for with a plain lock (cheaper than a
    ``concurrent.futures.Future``: the hop to the portal and back is the sync API's whole cost)."""

    __slots__ = ("args", "cancelled", "context", "error", "finished", "fn", "kwargs", "result", "task")

    def __init__(self, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.context = contextvars.copy_context()
        self.finished = threading.Lock()
        self.finished.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


async def _drive(call: _Call, awaitable: Awaitable[Any], finished: collections.deque[_Call]) -> None:
    """The portal task of one call: keep its outcome, then queue its caller for release. Anything
    raised, ``KeyboardInterrupt`` included, goes to the caller rather than stopping the portal."""
    try:
        call.result = await awaitable
    except asyncio.CancelledError:
        call.error = concurrent.futures.CancelledError()
    except BaseException as exc:
        call.error = exc
    finally:
        finished.append(call)


_IN_CALLER: contextvars.ContextVar[bool] = contextvars.ContextVar("cap_sync_in_caller", default=False)
_local = threading.local()


def in_caller_thread() -> bool:
    """True while a sync call runs in its caller's thread (:func:`_call_in_caller`): a backend that
    can do its I/O blocking (OpenDAL's ``Operator`` on a local service) does it there, in place."""
    return _IN_CALLER.get()


class _Driver:
    """The calling thread's own event loop, for backends that do their I/O in the caller's thread.

    Made at the thread's first such call, closed when the thread ends (its ``threading.local`` slot
    goes, and the finalizer closes the loop). In a forked child the parent's driver is abandoned,
    not closed: its selector is shared with the parent.
    """

    __slots__ = ("__weakref__", "finalizer", "loop", "pid")

    def __init__(self) -> None:
        self.loop = asyncio.SelectorEventLoop()
        self.pid = os.getpid()
        self.finalizer = weakref.finalize(self, self.loop.close)


def _driver() -> _Driver:
    driver: _Driver | None = getattr(_local, "driver", None)
    if driver is None or driver.pid != os.getpid():
        if driver is not None:
            driver.finalizer.detach()  # the parent's loop: not ours to close
        driver = _local.driver = _Driver()
    return driver


def _call_in_caller(fn: Callable[..., Coroutine[Any, Any, T]], args: Any, kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` to completion on this thread's own loop, nothing crossing threads.

    The coroutine is the async method's (same validation, layers and errors); with
    :func:`in_caller_thread` true in its context the backend does its I/O blocking, in this thread,
    with the GIL released in OpenDAL's Rust code, so 8 threads do 8 reads at once. If this thread is
    interrupted, the call is cancelled and run to its end before the exception goes on.
    """
    loop = _driver().loop
    token = _IN_CALLER.set(True)
    try:
        task: asyncio.Task[T] = loop.create_task(fn(*args, **kwargs))
        try:
            return loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            raise
    finally:
        _IN_CALLER.reset(token)


class SyncIterator(Generic[T]):
    """An async iterator driven from a sync caller: each ``next()`` is one portal call.

    ``close()`` (or leaving a ``with`` block, or garbage collection) closes the async iterator on
    the portal, so a listing abandoned half-way releases what it holds.
    """

    __slots__ = ("_iterator", "_what")

    def __init__(self, iterator: AsyncIterator[T], what: str) -> None:
        self._iterator: AsyncIterator[T] | None = iterator
        self._what = what

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        iterator = self._iterator
        if iterator is None:
            raise StopIteration
        try:
            item: T = run(_anext, iterator, what=self._what)
        except StopAsyncIteration:
            self._iterator = None
            raise StopIteration from None
        return item

    def close(self) -> None:
        """Close the underlying async iterator (idempotent)."""
        iterator, self._iterator = self._iterator, None
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            run(aclose, what=self._what)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


class SyncCapability(Generic[C]):
    """Base of the sync classes: wraps one async capability, closes it with ``close()`` or ``with``.

    Every property that needs no I/O (``backend``, ``info``, ``pipeline``, ``closed``) is the async
    object's; :attr:`asynchronous` is the async object itself, for code that has a loop.
    """

    __slots__ = ("_cap", "_hosted")

    _async_class: ClassVar[type[Capability[Any]]]
    """The async class this sync class wraps (a subclass sets it; the parity test reads it)."""
    spec: ClassVar[CapabilitySpec]
    capability: ClassVar[str]
    binding_kind: ClassVar[str]
    provided_hints: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """The async class's ``spec``, ``capability``, ``binding_kind`` and ``provided_hints``."""
        super().__init_subclass__(**kwargs)
        wrapped = cls.__dict__.get("_async_class")
        if wrapped is not None:
            for name in ("spec", "capability", "binding_kind", "provided_hints"):
                setattr(cls, name, getattr(wrapped, name))

    def __init__(self, capability: C) -> None:
        """Wrap an async capability built by its own constructors (the async class's ``local``,
        ``from_url``, ``from_config`` …); or use this class's constructors, which do it for you."""
        expected = getattr(type(self), "_async_class", None)
        if expected is not None and not isinstance(capability, expected):
            from .errors import Misconfigured

            raise Misconfigured(
                f"{type(self).__name__}() wraps an async {expected.__name__}, "
                f"got {type(capability).__name__}",
                capability=getattr(expected, "capability", None),
            )
        self._cap: C = capability
        self._hosted: _Hosted | None = None

    @property
    def asynchronous(self) -> C:
        """The async capability this object drives (share it with async code that has its own loop
        only if that code runs on the portal, or for what needs no I/O)."""
        return self._cap

    backend: Forward[str] = Forward("_cap", "The name of the backend that answers (see the async class).")
    info: Forward[Descriptor] = Forward("_cap", "What this capability guarantees on its backend.")
    pipeline: Forward[Pipeline] = Forward(
        "_cap", "The layer pipeline every call goes through (its ``metrics``)."
    )
    closed: Forward[bool] = Forward("_cap", "True after :meth:`close`: every call raises ``Closed``.")

    def _run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
        if getattr(getattr(self._cap, "_backend", None), "runs_in_caller", False):
            return _call_direct(fn, args, kwargs, self)
        return _call(fn, args, kwargs, None, self)

    def _run_on_portal(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
        """:meth:`_run` always through the portal: for what outlives the call (a stream's body)."""
        return _call(fn, args, kwargs, None, self)

    def close(self) -> None:
        """Close the capability (idempotent; later calls raise ``Closed``)."""
        hosted, self._hosted = self._hosted, None
        if hosted is not None:
            run(hosted.leave, what=f"{type(self).__name__}.close()")
        elif not self._cap.closed:
            self._run(self._cap.aclose)

    def __enter__(self) -> Self:
        """Start what the backend starts in ``async with`` (the DO local runtime's alarms): the
        ``async with`` is held open by a task on the portal until :meth:`close` (anyio's task groups
        must be left by the task that entered them)."""
        if self._hosted is None:
            self._hosted = run(_Hosted.enter, self._cap, what=f"{type(self).__name__}.__enter__()")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"sync.{self._cap!r}"

    def __reduce__(self) -> Any:
        from .capability import refuse_pickling

        return refuse_pickling(self)


class _Hosted:
    """A task on the portal that holds ``async with cap:`` open until :meth:`leave`."""

    __slots__ = ("release", "task")

    def __init__(self, release: asyncio.Event, task: asyncio.Task[None]) -> None:
        self.release = release
        self.task = task

    @classmethod
    async def enter(cls, cap: Capability[Any]) -> _Hosted:
        loop = asyncio.get_running_loop()
        entered: asyncio.Future[None] = loop.create_future()
        release = asyncio.Event()

        async def host() -> None:
            async with cap:
                entered.set_result(None)
                await release.wait()

        task = loop.create_task(host())
        await asyncio.wait({entered, task}, return_when=asyncio.FIRST_COMPLETED)
        if not entered.done():
            task.result()  # entering failed: raise its error here
        return cls(release, task)

    async def leave(self) -> None:
        self.release.set()
        await self.task


class SyncStream:
    """A body read from a sync caller (a KV ``stream`` value, an R2 object's body): iterate for
    ``bytes`` chunks, or :meth:`read` the rest; :meth:`close` (or ``with``) releases it."""

    __slots__ = ("_chunks", "_stream", "_what")

    def __init__(self, stream: Any, what: str) -> None:
        self._stream = stream
        self._chunks: AsyncIterator[bytes] | None = None
        self._what = what

    @property
    def asynchronous(self) -> Any:
        """The async stream this object reads."""
        return self._stream

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._chunks is None:
            self._chunks = self._stream.__aiter__()
        try:
            chunk: bytes = run(_anext, self._chunks, what=self._what)
        except StopAsyncIteration:
            raise StopIteration from None
        return chunk

    def read(self) -> bytes:
        """The rest of the body as one ``bytes``."""
        data: bytes = run(self._stream.read, what=self._what)
        return data

    def close(self) -> None:
        """Stop reading and release the body (idempotent)."""
        run(self._stream.aclose, what=self._what)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"sync.{self._stream!r}"
