"""The two small protocols a queue backend implements; the public classes do everything else.

A backend receives messages that are already validated and encoded (:class:`PreparedMessage`) and
returns decoded ones (:class:`ReceivedMessage`); it never checks limits or applies the handler rule.
Anything it raises is translated by the pipeline, so a backend may let its client's errors through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from cap_opendal_core.capability import CapabilityBackend

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cap_opendal_core.descriptors import Descriptor

    from ..limits import ContentType
    from ..models import Lease, PreparedMessage, ReceivedMessage, RetryRequest, SettleResult

__all__ = ["ConsumerBackend", "ProducerBackend"]


class ProducerBackend(CapabilityBackend, Protocol):
    name: str
    """``"local"``, ``"rest"`` or ``"workers"``: for logs, errors and ``info``."""
    content_types: tuple[ContentType, ...]
    """What it can send: ``v8`` only from a Worker, ``bytes`` not through the REST push API."""
    descriptor: Descriptor

    async def send(self, message: PreparedMessage) -> None: ...

    async def send_batch(self, messages: Sequence[PreparedMessage]) -> None:
        """Send messages that fit in one batch (at most 100 and 256 KB) in one request."""
        ...

    async def aclose(self) -> None: ...


class ConsumerBackend(CapabilityBackend, Protocol):
    name: str
    queue: str
    """The queue's name as batches report it (``batch.queue``)."""
    descriptor: Descriptor

    async def pull(self, batch_size: int, visibility_timeout: float) -> list[ReceivedMessage]:
        """Lease up to ``batch_size`` messages for ``visibility_timeout`` seconds; ``[]`` if none is ready."""
        ...

    async def settle(self, acks: Sequence[Lease], retries: Sequence[RetryRequest]) -> SettleResult:
        """Acknowledge and retry leased messages in one call."""
        ...

    async def aclose(self) -> None: ...
