"""``Message`` and ``MessageBatch``: what a consumer handles, the same whichever backend delivered it.

Acknowledging follows the Workers API exactly, because flow code should not care where it runs:
``ack()`` and ``retry()`` are synchronous marks, the first call on a message wins, and ``ack_all()`` /
``retry_all()`` only touch messages not yet marked. On a batch pushed by the Workers runtime
(:meth:`MessageBatch.from_js`) each mark goes straight to the JS message, and the runtime commits them
when the handler returns. On a pulled batch (local or REST) the marks are sent by :meth:`MessageBatch.settle`
in one request. :meth:`MessageBatch.process` applies Cloudflare's handler rule: a handler that returns
acks every message it neither acked nor retried; one that raises retries them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, cast

from cap_opendal_core.errors import CapabilityError, InvalidInput, Misconfigured

from .encoding import decode_body
from .models import SettleResult
from .validation import check_delay

if TYPE_CHECKING:
    from cap_opendal_core.layers import LayerSettings, OtelSettings, Pipeline
    from cap_opendal_core.layers.attributes import AttributeValue

    from .claim_check import ClaimCheck, ClaimReference
    from .codec import BodyCodec
    from .limits import ContentType

if TYPE_CHECKING:
    # the body type defaults to Any, so code written before bodies were typed (``Message``,
    # ``MessageBatch``) still passes ``mypy --strict``; at run time the default is not needed
    from typing_extensions import TypeVar

    BodyT = TypeVar("BodyT", default=Any)
    DecodedT = TypeVar("DecodedT")
else:
    from typing import TypeVar

    BodyT = TypeVar("BodyT")
    DecodedT = TypeVar("DecodedT")

__all__ = ["Handler", "Message", "MessageBatch", "Outcome"]

Outcome = Literal["pending", "ack", "retry"]
Handler = Callable[["MessageBatch[BodyT]"], Awaitable[object]]
"""A batch handler: ``async def handle(batch: MessageBatch[Job]) -> None`` (``Handler[Job]``)."""

SETTLE_GRACE_S = 30.0
"""How long settling a batch may take once its handler raised or was cancelled (it runs shielded)."""

_UNSET: Any = object()


class _Settler(Protocol):
    async def settle(self, messages: Sequence[Message]) -> SettleResult: ...


class Message(Generic[BodyT]):
    """One delivered message: ``id``, ``timestamp`` (aware UTC datetime), ``body``, ``attempts`` (1 on the
    first delivery), and ``ack()`` / ``retry(delay_seconds=…)``. ``Message[Job]`` is a message whose
    body a :class:`~cap_cloudflare_queue.codec.BodyCodec` decodes to a ``Job``.

    ``content_type`` is known for pulled messages (local, REST) and ``None`` for pushed ones (the
    Workers runtime hands over the decoded body only); ``lease_id`` is set for pulled messages.
    ``claim`` is the *verified* claim-check reference the body is (see :func:`verified_claim`); a
    body that merely looks like one is an ordinary body.
    """

    __slots__ = (
        "_body",
        "_body_error",
        "_claim",
        "_codec",
        "_decoded",
        "_js",
        "_outcome",
        "_retry_delay",
        "_settled",
        "attempts",
        "content_type",
        "id",
        "lease_id",
        "timestamp",
        "trace_context",
    )

    def __init__(
        self,
        id: str,
        timestamp: _dt.datetime,
        body: Any,
        attempts: int,
        *,
        content_type: ContentType | None = None,
        lease_id: str | None = None,
        js: Any = None,
        claim: ClaimReference | None = None,
        trace_context: Mapping[str, str] | None = None,
    ) -> None:
        self.id = id
        self.trace_context = trace_context
        """The producer's W3C trace context (``traceparent``/``tracestate``) when the message came in a
        traced envelope (``OtelSettings(queue_trace_context=True)`` on the producer); else None."""
        self.timestamp = timestamp
        self.attempts = attempts
        self.content_type = content_type
        self.lease_id = lease_id
        self._js = js
        self._outcome: Outcome = "pending"
        self._retry_delay: int | None = None
        self._settled = False
        self._body_error: CapabilityError | None = None
        self._claim = claim
        self._body = _UNSET if claim is not None else body
        self._codec: BodyCodec[Any] | None = None
        self._decoded: Any = _UNSET

    @property
    def body(self) -> BodyT:
        """The message body; a claim-checked body once it has been fetched; decoded by the batch's
        codec when it has one (once: the value is kept).

        Raises the storage error when a claim-checked body could not be fetched (so the handler fails
        and the message is retried), ``Misconfigured`` when the batch was never loaded, and
        ``InvalidInput`` naming the message when the codec refuses the body.
        """
        raw = self._raw_body()
        codec = self._codec
        if codec is None:
            return cast("BodyT", raw)
        if self._decoded is _UNSET:
            try:
                self._decoded = codec.decode(raw)
            except CapabilityError:
                raise
            except Exception as exc:
                raise InvalidInput(
                    f"message {self.id}: its body does not decode with {codec!r}: {exc}",
                    field="body",
                    capability="queue",
                    operation="handle",
                    key=self.id,
                ) from exc
        return cast("BodyT", self._decoded)

    def _raw_body(self) -> Any:
        if self._body_error is not None:
            raise self._body_error
        if self._body is _UNSET:
            assert self._claim is not None
            raise Misconfigured(
                f"message {self.id}'s body is in claim-check storage ({self._claim.key!r}); "
                "await batch.load() (pull and process do it) before reading it",
                capability="queue",
                operation="handle",
                key=self.id,
            )
        return self._body

    @property
    def claim_key(self) -> str | None:
        """Where a claim-checked body is stored (deleted once the message is acked); else ``None``."""
        return None if self._claim is None else self._claim.key

    @property
    def _claim_fetched(self) -> bool:
        """Whether this is a verified reference whose body was fetched and matched its digest: the only
        case in which acking it deletes the stored object."""
        return self._claim is not None and self._body is not _UNSET

    @property
    def outcome(self) -> Outcome:
        """``pending`` until ``ack()`` or ``retry()`` is called; then whichever was called first."""
        return self._outcome

    @property
    def retry_delay(self) -> int | None:
        """The ``delay_seconds`` given to ``retry()``, if any."""
        return self._retry_delay

    def ack(self) -> None:
        """Mark the message delivered. Ignored when it was already acked or retried (first call wins)."""
        if self._outcome != "pending":
            return
        self._outcome = "ack"
        if self._js is not None:
            self._js.ack()

    def retry(self, *, delay_seconds: int | None = None) -> None:
        """Mark the message for redelivery, after ``delay_seconds`` (0-43,200) if given. Ignored when it
        was already acked or retried. Bad ``delay_seconds`` raises ``InvalidInput`` at once."""
        delay = check_delay(delay_seconds)
        if self._outcome != "pending":
            return
        self._outcome = "retry"
        self._retry_delay = delay
        if self._js is not None:
            if delay is None:
                self._js.retry()
            else:
                from cap_opendal_core import ffi

                self._js.retry(ffi.to_js_options({"delaySeconds": delay}))

    def _resolve(self, data: bytes) -> None:
        assert self._claim is not None
        self._body = decode_body(data, self._claim.content_type, message_id=self.id)

    def __repr__(self) -> str:
        return (
            f"Message(id={self.id!r}, attempts={self.attempts}, content_type={self.content_type!r}, "
            f"outcome={self._outcome!r})"
        )


class MessageBatch(Generic[BodyT]):
    """A batch of messages from one queue: ``queue``, ``messages``, ``ack_all()``, ``retry_all()``.
    ``MessageBatch[Job]`` holds ``Message[Job]`` (see :meth:`decode_with`).

    Batches come from :meth:`QueueConsumer.pull <cap_cloudflare_queue.QueueConsumer.pull>` or, inside a
    Python Worker's ``queue`` handler, from :meth:`from_js`.
    """

    __slots__ = ("_claim_check", "_js", "_otel", "_settler", "messages", "queue")

    def __init__(
        self,
        queue: str,
        messages: Sequence[Message[BodyT]],
        *,
        settler: _Settler,
        claim_check: ClaimCheck | None = None,
        js: Any = None,
        otel: OtelSettings | None = None,
    ) -> None:
        self.queue = queue
        self._otel = otel
        self.messages: tuple[Message[BodyT], ...] = tuple(messages)
        self._settler = settler
        self._claim_check = claim_check
        self._js = js

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message[BodyT]]:
        return iter(self.messages)

    def __repr__(self) -> str:
        return f"MessageBatch(queue={self.queue!r}, messages={len(self.messages)})"

    @property
    def pending(self) -> tuple[Message[BodyT], ...]:
        """Messages neither acked nor retried yet."""
        return tuple(m for m in self.messages if m.outcome == "pending")

    def ack_all(self) -> None:
        """Ack every message not yet acked or retried."""
        pending = self.pending
        if self._js is not None and pending:
            self._js.ackAll()
            for m in pending:
                m._outcome = "ack"
            return
        for m in pending:
            m.ack()

    def retry_all(self, *, delay_seconds: int | None = None) -> None:
        """Retry every message not yet acked or retried, after ``delay_seconds`` if given."""
        delay = check_delay(delay_seconds)
        pending = self.pending
        if self._js is not None and pending:
            if delay is None:
                self._js.retryAll()
            else:
                from cap_opendal_core import ffi

                self._js.retryAll(ffi.to_js_options({"delaySeconds": delay}))
            for m in pending:
                m._outcome, m._retry_delay = "retry", delay
            return
        for m in pending:
            m.retry(delay_seconds=delay)

    async def load(self) -> None:
        """Fetch claim-checked bodies. A body that cannot be fetched makes that message's ``body`` raise
        the error (so its handler fails and the message is retried), never the whole batch."""
        unresolved = [m for m in self.messages if m._body is _UNSET and m._body_error is None]
        if not unresolved or self._claim_check is None:
            return
        claim_check = self._claim_check
        for m in unresolved:
            assert m._claim is not None
            try:
                m._resolve(await claim_check.get(m._claim))
            except CapabilityError as err:
                m._body_error = err
            except (ValueError, UnicodeDecodeError) as exc:
                m._body_error = Misconfigured(
                    f"message {m.id}: the claim-checked body does not decode as "
                    f"{m._claim.content_type} ({exc})",
                    capability="queue",
                    operation="pull",
                    key=m.id,
                )

    async def settle(self) -> SettleResult:
        """Send the acks and retries marked since the last settle (messages still pending are left
        alone: their lease runs out and they come back). Stored claim-check bodies of acked messages
        are deleted afterwards."""
        decided = [m for m in self.messages if m.outcome != "pending" and not m._settled]
        if not decided:
            return SettleResult()
        return await self._settler.settle(decided)

    def decode_with(self, codec: BodyCodec[DecodedT]) -> MessageBatch[DecodedT]:
        """This batch, its bodies decoded by ``codec`` (lazily, when each ``body`` is read): the same
        messages, so marks made through either view are the same marks."""
        from .codec import check_codec

        check_codec(codec)
        for m in self.messages:
            if m._codec is not codec:
                m._codec, m._decoded = codec, _UNSET
        return cast("MessageBatch[DecodedT]", self)

    async def process(self, handler: Handler[BodyT]) -> SettleResult:
        """Run ``handler(batch)`` under Cloudflare's rule and settle: returning acks every message the
        handler neither acked nor retried; raising (or being cancelled) retries them, then re-raises."""
        import anyio

        await self.load()
        with self._process_span():  # the handler and the settling it leads to
            try:
                await handler(self)
            except BaseException:
                self.retry_all()
                with anyio.move_on_after(SETTLE_GRACE_S, shield=True):
                    await self.settle()
                raise
            self.ack_all()
            return await self.settle()

    def _process_span(self) -> AbstractContextManager[Any]:
        """With OpenTelemetry on, a CONSUMER span ``queue.process`` around the handler and settling,
        linked to every producer span the batch's messages carry; else a context that does nothing."""
        if self._otel is None:
            return nullcontext()
        from cap_opendal_core.layers.otel import process_span

        from .telemetry import MESSAGING_SYSTEM

        attributes: dict[str, AttributeValue] = {
            "cloud.provider": "cloudflare",
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": self.queue,
            "messaging.batch.message_count": len(self.messages),
        }
        carriers = [m.trace_context for m in self.messages]
        return process_span(self._otel, "queue.process", attributes, carriers)

    # -- Workers -----------------------------------------------------------------------------------

    @classmethod
    def from_js(
        cls,
        js_batch: Any,
        *,
        claim_check: ClaimCheck | None = None,
        settings: LayerSettings | None = None,
    ) -> MessageBatch:
        """Wrap the batch a Python Worker's ``queue(batch, env, ctx)`` handler receives.

        ``ack()``/``retry()`` (and ``ack_all()``/``retry_all()``) call the JS methods at once, so the
        runtime sees them; the batch records ``resource::queue::consume`` in the invocation scope. With
        ``claim_check``, ``await batch.load()`` (or :meth:`process`) fetches claim-checked bodies, and
        :meth:`settle` deletes those of acked messages.
        """
        from .claim_check import ClaimCheck

        if claim_check is not None and not isinstance(claim_check, ClaimCheck):
            from cap_opendal_core.errors import InvalidInput

            raise InvalidInput(
                f"claim_check must be a ClaimCheck, got {type(claim_check).__name__}", field="claim_check"
            )
        from cap_opendal_core import ffi
        from cap_opendal_core.layers import Pipeline
        from cap_opendal_core.scope import current_scope

        from .operations import HANDLE

        raw = ffi.unwrap_binding(js_batch) if not isinstance(js_batch, ffi.JsProxy) else js_batch
        queue = str(raw.queue)
        messages = []
        from .tracing import unwrap

        for js_message in raw.messages:
            body, trace_context = unwrap(ffi.js_to_py(js_message.body))
            timestamp = ffi.js_to_py(js_message.timestamp)
            if not isinstance(timestamp, _dt.datetime):
                timestamp = _dt.datetime.fromtimestamp(float(timestamp) / 1000, tz=_dt.UTC)
            messages.append(
                Message(
                    str(js_message.id),
                    timestamp,
                    body,
                    int(js_message.attempts),
                    js=js_message,
                    claim=verified_claim(claim_check, queue, str(js_message.id), body),
                    trace_context=trace_context,
                )
            )
        scope = current_scope()
        if scope is not None:
            scope.record(
                HANDLE.effect_hint, HANDLE.determinism_hint, capability=HANDLE.capability, operation="handle"
            )
        pipeline = Pipeline(HANDLE.capability, "workers", settings)
        settler = _JsSettler(pipeline, claim_check)
        return cls(queue, messages, settler=settler, claim_check=claim_check, js=raw, otel=pipeline.otel)


def verified_claim(
    claim_check: ClaimCheck | None, queue: str, message_id: str, body: object
) -> ClaimReference | None:
    """The claim-check reference ``body`` is, if ``claim_check`` verifies it for ``queue``; else ``None``
    (the body is delivered as it is). A body carrying the reference marker that does not verify is
    logged — a key or prefix that differs from the producer's, or a forgery — without its fields."""
    from .claim_check import REFERENCE_KEY

    claim = None if claim_check is None else claim_check.verify(queue, body)
    if claim is None and isinstance(body, dict) and REFERENCE_KEY in body:
        from ._log import logger

        logger().warning(
            "queue.claim_check.unverified",
            queue=queue,
            message_id=message_id,
            detail="a body marked as a claim-check reference did not verify (no claim_check, another "
            "key or prefix, another queue, or forged); delivered as an ordinary body",
        )
    return claim


async def delete_claimed(claim_check: ClaimCheck | None, messages: Sequence[Message]) -> None:
    """Delete the stored bodies of acked messages whose verified reference was fetched and matched;
    failures are logged, not raised (the ack already happened — a leftover body is garbage, not a lost
    message). Nothing that was not verified and read is ever deleted."""
    if claim_check is None:
        return
    for m in messages:
        key = m.claim_key
        if key is None or m.outcome != "ack" or not m._claim_fetched:
            continue
        try:
            await claim_check.delete(key)
        except CapabilityError as err:
            from ._log import logger

            logger().warning(
                "queue.claim_check.delete_failed",
                key=key,
                message_id=m.id,
                error=err.code,
                detail=err.message,
            )


class _JsSettler:
    """Settling a pushed batch: the marks already reached the runtime; only claim-checked bodies of
    acked messages are left to delete."""

    def __init__(self, pipeline: Pipeline, claim_check: ClaimCheck | None) -> None:
        self._pipeline = pipeline
        self._claim_check = claim_check

    async def settle(self, messages: Sequence[Message]) -> SettleResult:
        from .operations import HANDLE

        async def finish() -> SettleResult:
            await delete_claimed(self._claim_check, messages)
            for m in messages:
                m._settled = True
            return SettleResult(
                acked=sum(m.outcome == "ack" for m in messages),
                retried=sum(m.outcome == "retry" for m in messages),
            )

        return await self._pipeline.call(HANDLE, finish)
