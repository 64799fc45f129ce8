"""``QueueConsumer``: pull batches, acknowledge them, or run a handler until cancelled.

``pull`` leases up to ``batch_size`` messages for ``visibility_timeout`` seconds; ``MessageBatch.settle``
sends the marks. ``run(handler, concurrency=4)`` is the loop a server runs: each of ``concurrency``
workers pulls a batch (waiting up to ``max_batch_timeout`` to fill it, like a push consumer), applies
Cloudflare's handler rule, settles, and repeats. Cancelling ``run`` shuts down gracefully: no new batch
is pulled, batches being handled get ``shutdown_grace`` seconds to finish, and whatever they leave
undecided is released for redelivery (as a retry, the only release the service offers). A handler that
raises never stops the loop (its batch is retried and the error logged); a consumer error that will not
go away (bad credentials, a missing queue) does.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, TypeVar, Unpack

from cap_opendal_core.capability import Capability, CapabilityOptions, check_options
from cap_opendal_core.checks import check_keywords
from cap_opendal_core.errors import CapabilityError, InvalidInput, Misconfigured

from .limits import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_VISIBILITY_TIMEOUT_S,
    MAX_VISIBILITY_TIMEOUT_S,
)
from .message import SETTLE_GRACE_S, Message, MessageBatch, delete_claimed, verified_claim
from .models import Lease, RetryRequest, SettleResult
from .operations import ACK, PULL, RETRY, SETTLE
from .spec import SPEC
from .validation import (
    check_batch_size,
    check_concurrency,
    check_delay,
    check_max_retries,
    check_queue_name,
    check_visibility_timeout,
    check_wait_time,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import anyio

    from .backends.base import ConsumerBackend
    from .claim_check import ClaimCheck
    from .codec import BodyCodec
    from .config import CloudflareQueueConfig
    from .message import Handler
    from .models import ReceivedMessage
    from .typed import TypedConsumer

__all__ = ["QueueConsumer"]

MAX_RUN_CONCURRENCY: Final = 256


T = TypeVar("T")


@dataclass
class _RunState:
    """Shared by the workers of one ``run``: shutdown flag and the cancel scopes of batches in flight."""

    grace: float
    stopping: bool = False
    inflight: set[anyio.CancelScope] = field(default_factory=set)


class ConsumerOptions(CapabilityOptions, total=False):
    """What ``QueueConsumer.from_url`` passes on to ``__init__``: the shared options and the pacing."""

    max_batch_size: int
    max_batch_timeout: float
    visibility_timeout: float
    poll_interval: float
    max_idle_interval: float


class RunOptions(TypedDict, total=False):
    """How :meth:`QueueConsumer.run` handles batches; its typed and sync twins take the same keywords."""

    concurrency: int
    """How many batches are handled at once (default 4)."""
    batch_size: int | None
    """Messages a batch holds at most (default the consumer's ``max_batch_size``)."""
    visibility_timeout: float | None
    """How long a pulled batch is leased (default the consumer's)."""
    max_batch_timeout: float | None
    """How long a worker waits for a batch to fill once its first message arrived (default the
    consumer's)."""
    shutdown_grace: float
    """On cancellation, how long the batches in hand may take to finish (default 30 s)."""


class QueueConsumer(Capability["ConsumerBackend"]):
    """A pull consumer of one queue: :meth:`pull`, :meth:`ack`, :meth:`retry` and :meth:`run`.

    Build it with :meth:`local` (the embedded queue, which applies ``max_retries``, the dead-letter
    queue and ``retry_delay`` itself) or :meth:`from_config` (Cloudflare's HTTP pull consumer, whose
    retry settings live on Cloudflare's side). ``claim_check`` resolves claim-checked bodies.
    """

    spec = SPEC

    def __init__(
        self,
        backend: ConsumerBackend,
        *,
        claim_check: ClaimCheck | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_batch_timeout: float = 0.0,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT_S,
        poll_interval: float = 0.05,
        max_idle_interval: float = 1.0,
        **options: Unpack[CapabilityOptions],
    ) -> None:
        from .claim_check import ClaimCheck

        super().__init__(backend, **options)
        if claim_check is not None and not isinstance(claim_check, ClaimCheck):
            raise InvalidInput(
                f"claim_check must be a ClaimCheck, got {type(claim_check).__name__}", field="claim_check"
            )
        self._claim_check = claim_check
        self.max_batch_size = check_batch_size(max_batch_size, field="max_batch_size")
        self.max_batch_timeout = check_wait_time(max_batch_timeout, field="max_batch_timeout")
        self.visibility_timeout = check_visibility_timeout(visibility_timeout)
        self.poll_interval = _positive(poll_interval, "poll_interval")
        self.max_idle_interval = max(self.poll_interval, _positive(max_idle_interval, "max_idle_interval"))
        self._settler = _ConsumerSettler(self)

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def local(
        cls,
        path: str | os.PathLike[str],
        name: str,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_batch_timeout: float = 0.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        dead_letter_queue: str | None = None,
        retry_delay: int = 0,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT_S,
        claim_check: ClaimCheck | None = None,
        clock: Callable[[], float] | None = None,
        durability: Literal["process", "full"] | None = None,
        synchronous: Literal["normal", "full"] | None = None,
        poll_interval: float = 0.05,
        **options: Unpack[CapabilityOptions],
    ) -> QueueConsumer:
        """A consumer of the local queue ``name`` in the directory ``path`` (the one ``Queue.local``
        was given; the directory comes first, as for every capability's ``local``).

        ``max_retries`` (0-100, default 3): a message is delivered at most ``1 + max_retries`` times,
        then moved to ``dead_letter_queue`` or, without one, dropped. ``retry_delay`` (seconds) applies
        to retries that give no delay of their own.
        """
        from .backends.local import ConsumerSettings, LocalConsumer, LocalStore
        from .producer import local_arguments

        checked = check_options(cls, "local", options)
        directory = local_arguments(path, name, "QueueConsumer")
        backend = LocalConsumer(
            LocalStore(directory, clock=clock, durability=durability, synchronous=synchronous),
            name,
            _consumer_settings(ConsumerSettings, name, max_retries, dead_letter_queue, retry_delay),
        )
        return cls(
            backend,
            claim_check=claim_check,
            max_batch_size=max_batch_size,
            max_batch_timeout=max_batch_timeout,
            visibility_timeout=visibility_timeout,
            poll_interval=poll_interval,
            **checked,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        dead_letter_queue: str | None = None,
        retry_delay: int = 0,
        claim_check: ClaimCheck | None = None,
        clock: Callable[[], float] | None = None,
        **options: Unpack[ConsumerOptions],
    ) -> QueueConsumer:
        """``file:///absolute/dir/NAME`` (``local://``: deprecated) or ``memory://NAME``, as for
        ``Queue.from_url``."""
        from .backends.local import ConsumerSettings, LocalConsumer, LocalStore
        from .producer import _parse_url

        directory, name, ephemeral = _parse_url(url)
        backend = LocalConsumer(
            LocalStore(directory, clock=clock),
            name,
            _consumer_settings(ConsumerSettings, name, max_retries, dead_letter_queue, retry_delay),
            ephemeral=ephemeral,
        )
        return cls(backend, claim_check=claim_check, **options)

    @classmethod
    def from_config(
        cls,
        config: CloudflareQueueConfig | Mapping[str, Any],
        *,
        claim_check: ClaimCheck | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_batch_timeout: float = 0.0,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT_S,
        poll_interval: float = 1.0,
        **options: Unpack[CapabilityOptions],
    ) -> QueueConsumer:
        """An HTTP pull consumer through Cloudflare's REST API (enable it with ``wrangler queues
        consumer http add <queue>``; the token needs Queues read and write). With ``claim_check`` the
        config needs ``queue_name``."""
        from .backends.rest import RestClient, RestConsumer
        from .config import CloudflareQueueConfig
        from .producer import _config, require_queue_name_for_claim_check

        checked = check_options(cls, "from_config", options)
        model = _config(config, CloudflareQueueConfig)
        require_queue_name_for_claim_check(model, claim_check)
        return cls(
            RestConsumer(RestClient(model)),
            claim_check=claim_check,
            max_batch_size=max_batch_size,
            max_batch_timeout=max_batch_timeout,
            visibility_timeout=visibility_timeout,
            poll_interval=poll_interval,
            max_idle_interval=max(5.0, poll_interval),
            **checked,
        )

    # -- what it is --------------------------------------------------------------------------------

    @property
    def queue(self) -> str:
        return self._backend.queue

    def _describe(self) -> str:
        return f"queue={self.queue!r}, backend={self._backend.name!r}"

    def typed(self, codec: BodyCodec[T]) -> TypedConsumer[T]:
        """A view of this consumer whose batches hold ``Message[T]``: each ``body`` decoded by ``codec``
        when read (a body the codec refuses raises ``InvalidInput`` there, so that message's handler
        fails and it is retried, as any failing handler's messages are)."""
        from .typed import TypedConsumer

        return TypedConsumer(self, codec)

    # -- pulling -----------------------------------------------------------------------------------

    async def pull(
        self,
        batch_size: int | None = None,
        visibility_timeout: float | None = None,
        *,
        wait_time: float = 0.0,
    ) -> MessageBatch:
        """Lease up to ``batch_size`` messages (default ``max_batch_size``) for ``visibility_timeout``
        seconds. With ``wait_time`` the call waits up to that long for the batch to fill; otherwise it
        returns at once, possibly with an empty batch. Send the marks with ``await batch.settle()``
        (or use :meth:`MessageBatch.process`); unsettled messages come back after the timeout."""
        size = self.max_batch_size if batch_size is None else check_batch_size(batch_size)
        lease = (
            self.visibility_timeout
            if visibility_timeout is None
            else check_visibility_timeout(visibility_timeout)
        )
        wait = check_wait_time(wait_time)
        import anyio

        deadline = anyio.current_time() + wait
        received: list[ReceivedMessage] = []
        try:
            while True:
                remaining = max(0.0, deadline - anyio.current_time())
                _merge(received, await self._claim(size - len(received), lease + remaining))
                if len(received) >= size or remaining <= 0:
                    break
                await anyio.sleep(min(self.poll_interval, remaining))
        except BaseException:
            await self._release(received)
            raise
        batch = self._batch(received)
        await batch.load()
        return batch

    async def _claim(self, count: int, visibility_timeout: float) -> list[ReceivedMessage]:
        """One pull, shielded from cancellation: leases it takes always reach the caller (who releases
        them if it is cancelled), instead of vanishing until their visibility timeout. The lease (the
        caller's, stretched by the time left to fill the batch) never exceeds the service's 12 hours."""
        import anyio

        lease = min(visibility_timeout, MAX_VISIBILITY_TIMEOUT_S)
        with anyio.CancelScope(shield=True):
            received: list[ReceivedMessage] = await self._pipeline.call(
                PULL, self._pull, count, lease, key=self.queue
            )
        return received

    async def _pull(self, count: int, visibility_timeout: float) -> list[ReceivedMessage]:
        """The backend's pull, with traced envelopes unwrapped inside the pull's span (which then links
        to each producer's span): every consumer unwraps, OpenTelemetry or not (``tracing.py``)."""
        from .tracing import unwrap_received

        return unwrap_received(await self._backend.pull(count, visibility_timeout))

    def _batch(self, received: Sequence[ReceivedMessage]) -> MessageBatch:
        messages = [
            Message(
                r.id,
                _dt.datetime.fromtimestamp(r.timestamp_ms / 1000, tz=_dt.UTC),
                r.body,
                r.attempts,
                content_type=r.content_type,
                lease_id=r.lease_id,
                claim=verified_claim(self._claim_check, self.queue, r.id, r.body),
                trace_context=r.trace_context,
            )
            for r in received
        ]
        return MessageBatch(
            self.queue,
            messages,
            settler=self._settler,
            claim_check=self._claim_check,
            otel=self._pipeline.otel,
        )

    async def _release(self, received: Sequence[ReceivedMessage]) -> None:
        """Give leased messages back (as retries without delay), shielded from cancellation."""
        if not received:
            return
        import anyio

        batch = self._batch(received)
        batch.retry_all(delay_seconds=0)
        with anyio.move_on_after(SETTLE_GRACE_S, shield=True):
            try:
                await batch.settle()
            except CapabilityError as err:  # their leases run out anyway
                from ._log import logger

                logger().warning("queue.release_failed", queue=self.queue, error=err.code, detail=err.message)

    # -- acknowledging -----------------------------------------------------------------------------

    async def ack(self, messages: Message | Iterable[Message]) -> SettleResult:
        """Acknowledge pulled messages now (marks them acked and sends the acks)."""
        chosen = _messages(messages)
        for m in chosen:
            m.ack()
        return await self._settler.settle([m for m in chosen if m.outcome == "ack" and not m._settled])

    async def retry(
        self, messages: Message | Iterable[Message], *, delay_seconds: int | None = None
    ) -> SettleResult:
        """Retry pulled messages now, after ``delay_seconds`` if given."""
        chosen = _messages(messages)
        delay = check_delay(delay_seconds)
        for m in chosen:
            m.retry(delay_seconds=delay)
        return await self._settler.settle([m for m in chosen if m.outcome == "retry" and not m._settled])

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self, handler: Handler, **options: Unpack[RunOptions]) -> None:
        """Handle batches with ``handler`` until cancelled (see the module docstring); ``options``
        (:class:`RunOptions`) say how many at once, how large, and how long to wait and to finish."""
        if not callable(handler):
            raise InvalidInput(
                f"handler: must be an async function of a batch, got {handler!r}", field="handler"
            )
        check_keywords(options, RunOptions.__annotations__, f"{type(self).__name__}.run")
        concurrency = options.get("concurrency", 4)
        workers = check_concurrency(concurrency, field="concurrency", maximum=MAX_RUN_CONCURRENCY)
        batch_size = options.get("batch_size")
        size = self.max_batch_size if batch_size is None else check_batch_size(batch_size)
        visibility_timeout = options.get("visibility_timeout")
        lease = (
            self.visibility_timeout
            if visibility_timeout is None
            else check_visibility_timeout(visibility_timeout)
        )
        max_batch_timeout = options.get("max_batch_timeout")
        wait = (
            self.max_batch_timeout
            if max_batch_timeout is None
            else check_wait_time(max_batch_timeout, field="max_batch_timeout")
        )
        grace = _positive(options.get("shutdown_grace", 30.0), "shutdown_grace", allow_zero=True)
        import anyio

        state = _RunState(grace)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_for_shutdown, state)
                for _ in range(workers):
                    tg.start_soon(self._work, handler, state, size, lease, wait)
        except BaseExceptionGroup as group:
            leaves = _non_cancelled(group)
            if leaves and all(isinstance(e, CapabilityError) for e in leaves):
                first = leaves[0]
                if len(leaves) > 1:
                    first.add_note(f"{len(leaves) - 1} other worker(s) of this run failed too")
                raise first from None
            raise

    @staticmethod
    async def _watch_for_shutdown(state: _RunState) -> None:
        import anyio

        try:
            await anyio.sleep_forever()
        finally:
            state.stopping = True
            deadline = anyio.current_time() + state.grace
            for scope in state.inflight:
                scope.deadline = min(scope.deadline, deadline)

    async def _work(self, handler: Handler, state: _RunState, size: int, lease: float, wait: float) -> None:
        import anyio

        while not state.stopping:
            batch = await self._next_batch(size, lease, wait)
            with anyio.CancelScope(shield=True) as scope:
                if state.stopping:
                    scope.deadline = anyio.current_time() + state.grace
                state.inflight.add(scope)
                try:
                    await batch.process(handler)
                except Exception as exc:
                    from ._log import logger

                    logger().warning(
                        "queue.batch_failed",
                        queue=self.queue,
                        messages=len(batch),
                        error=type(exc).__name__,
                        exc_info=True,
                    )
                finally:
                    state.inflight.discard(scope)

    async def _next_batch(self, size: int, lease: float, wait: float) -> MessageBatch:
        """Lease a batch of at least one message: waits (cancellably) while the queue is empty, then up
        to ``wait`` seconds for the batch to fill. Leases taken are released if cancelled meanwhile."""
        import anyio

        received: list[ReceivedMessage] = []
        idle = self.poll_interval
        deadline: float | None = None
        try:
            while True:
                await anyio.lowlevel.checkpoint()
                now = anyio.current_time()
                remaining = wait if deadline is None else max(0.0, deadline - now)
                try:
                    got = await self._claim(size - len(received), lease + remaining)
                except CapabilityError as err:
                    if not err.retryable:
                        raise
                    from ._log import logger

                    logger().warning(
                        "queue.pull_failed", queue=self.queue, error=err.code, detail=err.message
                    )
                    got = []
                    await anyio.sleep(idle)
                    idle = min(idle * 2, self.max_idle_interval)
                    continue
                if got:
                    _merge(received, got)
                    idle = self.poll_interval
                    if deadline is None:
                        deadline = now + wait
                if received and (len(received) >= size or anyio.current_time() >= (deadline or 0.0)):
                    return self._batch(received)
                if received:
                    await anyio.sleep(
                        min(self.poll_interval, max(0.0, (deadline or 0.0) - anyio.current_time()))
                    )
                else:
                    await anyio.sleep(idle)
                    idle = min(idle * 2, self.max_idle_interval)
        except BaseException:
            await self._release(received)
            raise


class _ConsumerSettler:
    """Sends a batch's marks through the pipeline, then deletes claim-checked bodies of acked messages."""

    def __init__(self, consumer: QueueConsumer) -> None:
        self._consumer = consumer

    async def settle(self, messages: Sequence[Message]) -> SettleResult:
        if not messages:
            return SettleResult()
        consumer = self._consumer
        for m in messages:
            if m.lease_id is None:
                raise Misconfigured(
                    f"message {m.id} has no lease: it was not pulled by this consumer", capability="queue"
                )
        acks = [Lease(m.lease_id, m.id) for m in messages if m.outcome == "ack" and m.lease_id]
        retries = [
            RetryRequest(m.lease_id, m.id, m.retry_delay)
            for m in messages
            if m.outcome == "retry" and m.lease_id
        ]
        op = ACK if not retries else RETRY if not acks else SETTLE
        result: SettleResult = await consumer._pipeline.call(
            op, consumer._backend.settle, acks, retries, key=consumer.queue
        )
        for m in messages:
            m._settled = True
        warned = " ".join(result.warnings)
        cleaned = [m for m in messages if m.outcome == "ack" and (m.lease_id or "") not in warned]
        await delete_claimed(consumer._claim_check, cleaned)
        return result


def _merge(received: list[ReceivedMessage], got: Sequence[ReceivedMessage]) -> None:
    """Add ``got`` to ``received``. A message claimed again — its first lease ran out while the pull
    waited to fill the batch — keeps only its newest lease, so a batch never holds a message twice."""
    fresh = {m.id: m for m in got}
    if received and fresh:
        received[:] = [fresh.pop(m.id, m) for m in received]
    received.extend(fresh.values())


def _consumer_settings(
    settings_type: Any, name: str, max_retries: int, dead_letter_queue: str | None, retry_delay: int
) -> Any:
    retries = check_max_retries(max_retries)
    if dead_letter_queue is not None:
        check_queue_name(dead_letter_queue, field="dead_letter_queue")
        if dead_letter_queue == name:
            raise InvalidInput(
                "dead_letter_queue: must differ from the queue itself", field="dead_letter_queue"
            )
    delay = check_delay(retry_delay, field="retry_delay")
    return settings_type(max_retries=retries, dead_letter_queue=dead_letter_queue, retry_delay=delay or 0)


def _messages(messages: Message | Iterable[Message]) -> list[Message]:
    from collections.abc import Iterable

    if isinstance(messages, Message):
        chosen = [messages]
    elif isinstance(messages, Iterable):
        chosen = list(messages)
    else:
        raise InvalidInput(
            f"messages: expected a Message or a list of them, got {type(messages).__name__}", field="messages"
        )
    for m in chosen:
        if not isinstance(m, Message):
            raise InvalidInput(
                f"messages: expected Message objects, got {type(m).__name__}", field="messages"
            )
    return chosen


def _positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not value == value  # NaN
        or value < 0
        or (value == 0 and not allow_zero)
        or value == float("inf")
        or (isinstance(value, int) and value.bit_length() > 64)  # too large for a float
    ):
        raise InvalidInput(
            f"{name}: must be a number of seconds {'>= 0' if allow_zero else '> 0'}, got {value!r}",
            field=name,
        )
    return float(value)


def _non_cancelled(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_non_cancelled(exc))
        elif not _is_cancellation(exc):
            out.append(exc)
    return out


def _is_cancellation(exc: BaseException) -> bool:
    import anyio

    return isinstance(exc, anyio.get_cancelled_exc_class())
