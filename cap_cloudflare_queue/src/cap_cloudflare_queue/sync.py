"""``cap_cloudflare_queue.sync``: ``Queue`` and ``QueueConsumer`` for code without an event loop.

Each method runs the async method of the same name on the process-wide portal thread
(:mod:`cap_opendal_core.sync`) and blocks until it returns: same arguments, results and errors, safe
from many threads at once. A pulled batch is a :class:`MessageBatch` whose ``settle()`` and
``process(handler)`` block; handlers here are plain functions of the batch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, Unpack

from cap_opendal_core.forward import Forward
from cap_opendal_core.sync import SyncCapability, run

from .consumer import QueueConsumer as AsyncQueueConsumer
from .producer import Queue as AsyncQueue

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from .claim_check import ClaimCheck
    from .codec import BodyCodec
    from .config import CloudflareQueueConfig
    from .consumer import RunOptions
    from .limits import ContentType
    from .message import Message
    from .message import MessageBatch as AsyncMessageBatch
    from .models import MessageSendRequest, SettleResult
    from .typed import TypedQueue as AsyncTypedQueue

    SyncHandler = Callable[["MessageBatch[Any]"], object]

if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVar

    BodyT = _TypeVar("BodyT", default=Any)
else:
    BodyT = TypeVar("BodyT")
T = TypeVar("T")

__all__ = ["MessageBatch", "Queue", "QueueConsumer", "TypedConsumer", "TypedQueue"]


class Queue(SyncCapability[AsyncQueue]):
    """A queue producer with blocking methods; see :class:`cap_cloudflare_queue.Queue`. Build it like
    the async one (``local(path, name)``, ``from_url``, ``from_config``; keywords pass through), or
    wrap an async queue: ``Queue(async_queue)``."""

    __slots__ = ()
    _async_class = AsyncQueue

    @classmethod
    def local(cls, path: str | os.PathLike[str], name: str, **kwargs: Any) -> Self:
        """``cap_cloudflare_queue.Queue.local(path, name, **kwargs)``, blocking."""
        return cls(AsyncQueue.local(path, name, **kwargs))

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """``cap_cloudflare_queue.Queue.from_url(url, **kwargs)``, blocking."""
        return cls(AsyncQueue.from_url(url, **kwargs))

    @classmethod
    def from_config(cls, config: CloudflareQueueConfig | Mapping[str, Any], **kwargs: Any) -> Self:
        """``cap_cloudflare_queue.Queue.from_config(config, **kwargs)``, blocking."""
        return cls(AsyncQueue.from_config(config, **kwargs))

    name: Forward[str] = Forward("_cap", "The queue's name.")
    claim_check: Forward[ClaimCheck | None] = Forward(
        "_cap", "Where bodies too large for a message are stored, if anywhere."
    )

    def send(
        self, body: Any, *, content_type: ContentType | None = None, delay_seconds: int | None = None
    ) -> None:
        """Send one message (``content_type`` defaults to ``json``)."""
        self._run(self._cap.send, body, content_type=content_type, delay_seconds=delay_seconds)

    def send_batch(
        self,
        messages: Iterable[MessageSendRequest | Mapping[str, Any]],
        *,
        delay_seconds: int | None = None,
        split: bool = True,
    ) -> None:
        """Send several messages; all are checked before any is sent."""
        self._run(self._cap.send_batch, messages, delay_seconds=delay_seconds, split=split)

    def typed(self, codec: BodyCodec[T]) -> TypedQueue[T]:
        """A view that sends values of one type, encoded by ``codec`` (see
        :meth:`cap_cloudflare_queue.Queue.typed`)."""
        return TypedQueue(self._cap.typed(codec))


class QueueConsumer(SyncCapability[AsyncQueueConsumer]):
    """A pull consumer with blocking methods; see :class:`cap_cloudflare_queue.QueueConsumer`."""

    __slots__ = ("_runs",)
    _async_class = AsyncQueueConsumer

    def __init__(self, capability: AsyncQueueConsumer) -> None:
        super().__init__(capability)
        self._runs: dict[asyncio.Task[None], bool] = {}
        """The portal tasks of :meth:`run` calls in progress, and whether :meth:`stop` asked them to end."""

    @classmethod
    def local(cls, path: str | os.PathLike[str], name: str, **kwargs: Any) -> Self:
        """``cap_cloudflare_queue.QueueConsumer.local(path, name, **kwargs)``, blocking."""
        return cls(AsyncQueueConsumer.local(path, name, **kwargs))

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """``cap_cloudflare_queue.QueueConsumer.from_url(url, **kwargs)``, blocking."""
        return cls(AsyncQueueConsumer.from_url(url, **kwargs))

    @classmethod
    def from_config(cls, config: CloudflareQueueConfig | Mapping[str, Any], **kwargs: Any) -> Self:
        """``cap_cloudflare_queue.QueueConsumer.from_config(config, **kwargs)``, blocking."""
        return cls(AsyncQueueConsumer.from_config(config, **kwargs))

    queue: Forward[str] = Forward("_cap", "The queue's name.")

    def pull(
        self,
        batch_size: int | None = None,
        visibility_timeout: float | None = None,
        *,
        wait_time: float = 0.0,
    ) -> MessageBatch:
        """Lease up to ``batch_size`` messages; settle them with ``batch.settle()`` or
        ``batch.process(handler)``."""
        return MessageBatch(self._run(self._cap.pull, batch_size, visibility_timeout, wait_time=wait_time))

    def ack(self, messages: Message | Iterable[Message]) -> SettleResult:
        """Acknowledge pulled messages now."""
        return self._run(self._cap.ack, messages)

    def retry(
        self, messages: Message | Iterable[Message], *, delay_seconds: int | None = None
    ) -> SettleResult:
        """Retry pulled messages now, after ``delay_seconds`` if given."""
        return self._run(self._cap.retry, messages, delay_seconds=delay_seconds)

    def run(self, handler: SyncHandler, **options: Unpack[RunOptions]) -> None:
        """Handle batches with the plain function ``handler(batch)`` until :meth:`stop` is called
        from another thread (the run then returns, once the batches in hand are handled or
        ``shutdown_grace`` has passed) or this thread is interrupted (``KeyboardInterrupt``).
        Each batch is handled in a worker thread, so the handler may call other sync capabilities."""
        if not callable(handler):
            from cap_opendal_core.errors import InvalidInput

            raise InvalidInput(f"handler: must be a function of a batch, got {handler!r}", field="handler")

        async def in_thread(batch: AsyncMessageBatch) -> object:
            import anyio.to_thread

            return await anyio.to_thread.run_sync(handler, MessageBatch(batch))

        async def serve() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._runs[task] = False
            try:
                await self._cap.run(in_thread, **options)
            except asyncio.CancelledError:
                if not self._runs.get(task):
                    raise
                task.uncancel()  # stopped by stop(): a normal end of the run
            finally:
                self._runs.pop(task, None)

        run(serve, what="QueueConsumer.run()")

    def typed(self, codec: BodyCodec[T]) -> TypedConsumer[T]:
        """A view whose batches hold ``Message[T]`` decoded by ``codec`` (see
        :meth:`cap_cloudflare_queue.QueueConsumer.typed`)."""
        self._cap.typed(codec)  # checks the codec now, as the async consumer does
        return TypedConsumer(self, codec)

    def stop(self) -> None:
        """End every :meth:`run` of this consumer in progress (from another thread): each stops
        pulling, finishes or gives back the batches it holds, and returns."""

        async def cancel_runs() -> None:
            for task in list(self._runs):
                self._runs[task] = True
                task.cancel()

        run(cancel_runs, what="QueueConsumer.stop()")


class MessageBatch(Generic[BodyT]):
    """A pulled batch for a sync caller: ``messages``, ``ack_all()``, ``retry_all()`` as in the
    async batch, and blocking :meth:`settle` and :meth:`process`."""

    __slots__ = ("_batch",)

    def __init__(self, batch: AsyncMessageBatch[BodyT]) -> None:
        self._batch = batch

    @property
    def asynchronous(self) -> AsyncMessageBatch[BodyT]:
        """The async batch."""
        return self._batch

    queue: Forward[str] = Forward("_batch")
    messages: Forward[tuple[Message[BodyT], ...]] = Forward("_batch")
    pending: Forward[tuple[Message[BodyT], ...]] = Forward(
        "_batch", "Messages neither acked nor retried yet."
    )

    def __len__(self) -> int:
        return len(self._batch)

    def __iter__(self) -> Iterator[Message[BodyT]]:
        return iter(self._batch)

    def decode_with(self, codec: BodyCodec[T]) -> MessageBatch[T]:
        """This batch, its bodies decoded by ``codec`` (the same messages: marks are shared)."""
        return MessageBatch(self._batch.decode_with(codec))

    def ack_all(self) -> None:
        """Ack every message not yet acked or retried (sent by :meth:`settle`)."""
        self._batch.ack_all()

    def retry_all(self, *, delay_seconds: int | None = None) -> None:
        """Retry every message not yet acked or retried (sent by :meth:`settle`)."""
        self._batch.retry_all(delay_seconds=delay_seconds)

    def settle(self) -> SettleResult:
        """Send the acks and retries marked since the last settle."""
        return run(self._batch.settle, what="MessageBatch.settle()")

    def process(self, handler: SyncHandler) -> SettleResult:
        """Run ``handler(batch)`` under Cloudflare's rule and settle: returning acks every message the
        handler neither acked nor retried; raising retries them, then re-raises."""
        run(self._batch.load, what="MessageBatch.process()")
        try:
            handler(self)
        except BaseException:
            self._batch.retry_all()
            self.settle()
            raise
        self._batch.ack_all()
        return self.settle()

    def __repr__(self) -> str:
        return f"sync.{self._batch!r}"


class TypedQueue(Generic[T]):
    """A sync :class:`Queue` view that sends values of one type (``Queue.typed(codec)``)."""

    __slots__ = ("_typed",)

    def __init__(self, typed: AsyncTypedQueue[T]) -> None:
        self._typed = typed

    def send(self, body: T, *, delay_seconds: int | None = None) -> None:
        """Encode ``body`` and send it."""
        run(self._typed.send, body, delay_seconds=delay_seconds, what="TypedQueue.send()")

    def send_batch(
        self, bodies: Iterable[T], *, delay_seconds: int | None = None, split: bool = True
    ) -> None:
        """Encode every body (all first) and send them."""
        run(
            self._typed.send_batch,
            bodies,
            delay_seconds=delay_seconds,
            split=split,
            what="TypedQueue.send_batch()",
        )


class TypedConsumer(Generic[T]):
    """A sync :class:`QueueConsumer` view whose batches hold ``Message[T]`` (``consumer.typed(codec)``)."""

    __slots__ = ("_codec", "_consumer")

    def __init__(self, consumer: QueueConsumer, codec: BodyCodec[T]) -> None:
        self._consumer = consumer
        self._codec = codec

    queue: Forward[str] = Forward("_consumer")

    def pull(
        self,
        batch_size: int | None = None,
        visibility_timeout: float | None = None,
        *,
        wait_time: float = 0.0,
    ) -> MessageBatch[T]:
        return self._consumer.pull(batch_size, visibility_timeout, wait_time=wait_time).decode_with(
            self._codec
        )

    def ack(self, messages: Message[T] | Iterable[Message[T]]) -> SettleResult:
        return self._consumer.ack(messages)

    def retry(
        self, messages: Message[T] | Iterable[Message[T]], *, delay_seconds: int | None = None
    ) -> SettleResult:
        return self._consumer.retry(messages, delay_seconds=delay_seconds)

    def run(self, handler: Callable[[MessageBatch[T]], object], **options: Unpack[RunOptions]) -> None:
        """As :meth:`QueueConsumer.run`, each batch decoded; end it with the consumer's ``stop()``."""
        if not callable(handler):
            from cap_opendal_core.errors import InvalidInput

            raise InvalidInput(f"handler: must be a function of a batch, got {handler!r}", field="handler")
        codec = self._codec

        def decoded(batch: MessageBatch[Any]) -> object:
            return handler(batch.decode_with(codec))

        self._consumer.run(decoded, **options)
