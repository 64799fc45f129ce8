"""Plain value types that cross the public API and the backend protocols (no I/O, no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .limits import MESSAGE_METADATA_BYTES, ContentType

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Lease",
    "MessageSendRequest",
    "PreparedMessage",
    "ReceivedMessage",
    "RetryRequest",
    "SettleResult",
]


@dataclass(frozen=True, slots=True)
class MessageSendRequest:
    """One message of :meth:`Queue.send_batch <cap_cloudflare_queue.Queue.send_batch>` — the JS
    ``MessageSendRequest`` ``{body, contentType, delaySeconds}`` in Python spelling.

    ``content_type`` and ``delay_seconds`` left as ``None`` take the batch's (or the queue's) defaults.
    """

    body: Any
    content_type: ContentType | None = None
    delay_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    """A message that passed validation: its body encoded once, so sizes are exact before any I/O.

    ``body`` is what the caller gave (backends that hand a value to JS or JSON use it); ``data`` is its
    encoding under ``content_type`` (what the local queue stores) and ``encoded_size`` what the limits
    are measured on (for ``v8``, which only the Workers runtime can encode, an estimate and no ``data``);
    ``index`` is its position in the caller's batch, so a failed send can say which messages went out.
    """

    index: int
    body: Any
    content_type: ContentType
    data: bytes | None
    encoded_size: int
    delay_seconds: int | None
    claim_key: str | None = None
    """Set when the body went to claim-check storage and ``body`` is the reference to it."""

    @property
    def size(self) -> int:
        """What this message counts against the message and batch limits (body plus metadata)."""
        return self.encoded_size + MESSAGE_METADATA_BYTES


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message as a consumer backend delivers it: body already decoded from its content type."""

    id: str
    timestamp_ms: int
    attempts: int
    body: Any
    content_type: ContentType
    lease_id: str | None = None
    trace_context: Mapping[str, str] | None = None
    """The producer's W3C trace context, when the body came in a traced envelope (``tracing.py``)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """An acknowledgement of one delivery (the pull API's ``{lease_id}``)."""

    lease_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """A negative acknowledgement (the pull API's ``{lease_id, delay_seconds}``)."""

    lease_id: str
    message_id: str
    delay_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class SettleResult:
    """What the queue did with a batch's acks and retries (the pull API's ``ackCount``, ``retryCount``
    and ``warnings``; ``dead_lettered`` counts retries that used up ``max_retries``)."""

    acked: int = 0
    retried: int = 0
    dead_lettered: int = 0
    warnings: tuple[str, ...] = field(default=())

    def __add__(self, other: SettleResult) -> SettleResult:
        return SettleResult(
            self.acked + other.acked,
            self.retried + other.retried,
            self.dead_lettered + other.dead_lettered,
            self.warnings + other.warnings,
        )
