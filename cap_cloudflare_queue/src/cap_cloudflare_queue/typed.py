"""Typed views of a producer and a consumer: ``Queue.typed(codec)`` and ``QueueConsumer.typed(codec)``.

A view owns nothing: it encodes or decodes with its codec and calls the capability it was made from,
whose lifecycle (``async with``, ``aclose()``) and pipeline (hints, retries, metrics) stay the ones in
use. So a typed view costs one encode per message and nothing else, and closing the capability
closes every view of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack

from cap_opendal_core.errors import CapabilityError, InvalidInput

from .codec import check_codec
from .models import MessageSendRequest

if TYPE_CHECKING:
    from .codec import BodyCodec
    from .consumer import QueueConsumer, RunOptions
    from .message import Handler, Message, MessageBatch
    from .models import SettleResult
    from .producer import Queue

__all__ = ["TypedConsumer", "TypedQueue"]

T = TypeVar("T")


def _encode(codec: BodyCodec[T], value: T, field: str, queue: str) -> object:
    try:
        return codec.encode(value)
    except CapabilityError:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"{field}: {codec!r} cannot encode {type(value).__name__}: {exc}",
            field=field,
            capability="queue",
            operation="send",
            key=queue,
        ) from exc


class TypedQueue(Generic[T]):
    """A :class:`~cap_cloudflare_queue.Queue` that sends values of one type, encoded by ``codec``."""

    __slots__ = ("codec", "queue")

    def __init__(self, queue: Queue, codec: BodyCodec[T]) -> None:
        check_codec(codec)
        self.queue = queue
        self.codec = codec

    async def send(self, body: T, *, delay_seconds: int | None = None) -> None:
        """Encode ``body`` and send it (see :meth:`Queue.send <cap_cloudflare_queue.Queue.send>`)."""
        encoded = _encode(self.codec, body, "body", self.queue.name)
        await self.queue.send(encoded, content_type=self.codec.content_type, delay_seconds=delay_seconds)

    async def send_batch(
        self, bodies: Iterable[T], *, delay_seconds: int | None = None, split: bool = True
    ) -> None:
        """Encode every body (all first: one that does not encode sends nothing) and send them (see
        :meth:`Queue.send_batch <cap_cloudflare_queue.Queue.send_batch>`)."""
        if isinstance(bodies, str | bytes) or not isinstance(bodies, Iterable):
            raise InvalidInput(
                f"bodies: must be an iterable of message bodies, got {type(bodies).__name__}",
                field="bodies",
                capability="queue",
                operation="send_batch",
            )
        content_type = self.codec.content_type
        requests = [
            MessageSendRequest(
                body=_encode(self.codec, body, f"bodies[{i}]", self.queue.name), content_type=content_type
            )
            for i, body in enumerate(bodies)
        ]
        await self.queue.send_batch(requests, delay_seconds=delay_seconds, split=split)

    def __repr__(self) -> str:
        return f"TypedQueue({self.queue!r}, {self.codec!r})"


class TypedConsumer(Generic[T]):
    """A :class:`~cap_cloudflare_queue.QueueConsumer` whose batches hold ``Message[T]``, decoded by
    ``codec`` when each ``body`` is read."""

    __slots__ = ("codec", "consumer")

    def __init__(self, consumer: QueueConsumer, codec: BodyCodec[T]) -> None:
        check_codec(codec)
        self.consumer = consumer
        self.codec = codec

    @property
    def queue(self) -> str:
        return self.consumer.queue

    async def pull(
        self,
        batch_size: int | None = None,
        visibility_timeout: float | None = None,
        *,
        wait_time: float = 0.0,
    ) -> MessageBatch[T]:
        """See :meth:`QueueConsumer.pull <cap_cloudflare_queue.QueueConsumer.pull>`."""
        batch: MessageBatch[Any] = await self.consumer.pull(
            batch_size, visibility_timeout, wait_time=wait_time
        )
        return batch.decode_with(self.codec)

    async def ack(self, messages: Message[T] | Iterable[Message[T]]) -> SettleResult:
        return await self.consumer.ack(messages)

    async def retry(
        self, messages: Message[T] | Iterable[Message[T]], *, delay_seconds: int | None = None
    ) -> SettleResult:
        return await self.consumer.retry(messages, delay_seconds=delay_seconds)

    async def run(self, handler: Handler[T], **options: Unpack[RunOptions]) -> None:
        """See :meth:`QueueConsumer.run <cap_cloudflare_queue.QueueConsumer.run>`: ``handler`` gets
        each batch decoded."""
        if not callable(handler):
            raise InvalidInput(
                f"handler: must be an async function of a batch, got {handler!r}", field="handler"
            )
        codec = self.codec

        async def decoded(batch: MessageBatch[Any]) -> object:
            return await handler(batch.decode_with(codec))

        await self.consumer.run(decoded, **options)

    def __repr__(self) -> str:
        return f"TypedConsumer({self.consumer!r}, {self.codec!r})"
