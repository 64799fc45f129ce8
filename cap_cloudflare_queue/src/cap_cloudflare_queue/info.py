"""What each backend guarantees, as a core :class:`~cap_opendal_core.descriptors.Descriptor`.

Every backend delivers at least once and makes no ordering promise (retries and delays reorder even the
local queue); durability is the only thing that differs — a ``memory://`` queue lives in a temporary
directory that goes away with the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .limits import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_BATCH_TIMEOUT_S,
    MAX_CONSUMER_BATCH_MESSAGES,
    MAX_DELAY_S,
    MAX_MESSAGE_BYTES,
    MAX_RETRIES,
)

if TYPE_CHECKING:
    from cap_opendal_core.descriptors import Descriptor, Durability

__all__ = ["BINDING_KIND", "PROVIDED_HINTS", "descriptor_for"]

BINDING_KIND = "queue"
PROVIDED_HINTS: tuple[str, ...] = ("resource::queue::publish", "resource::queue::consume", "resource::queue")

_EXTENSIONS = {
    "com.cloudflare.queues.max_message_bytes": MAX_MESSAGE_BYTES,
    "com.cloudflare.queues.max_send_batch_messages": MAX_BATCH_MESSAGES,
    "com.cloudflare.queues.max_send_batch_bytes": MAX_BATCH_BYTES,
    "com.cloudflare.queues.max_consumer_batch_messages": MAX_CONSUMER_BATCH_MESSAGES,
    "com.cloudflare.queues.max_batch_timeout_s": MAX_BATCH_TIMEOUT_S,
    "com.cloudflare.queues.max_retries": MAX_RETRIES,
    "com.cloudflare.queues.max_delay_s": MAX_DELAY_S,
}


def descriptor_for(
    backend: str, *, durability: Durability = "durable", claim_check: bool = False
) -> Descriptor:
    from cap_opendal_core.descriptors import Descriptor

    extensions: dict[str, object] = {**_EXTENSIONS, "dev.cap.queue.backend": backend}
    if claim_check:
        extensions["dev.cap.queue.claim_check"] = True
    return Descriptor(
        consistency="unknown",
        durability=durability,
        ttl="unknown",
        delivery="at_least_once",
        ordering="unordered",
        reservation="unknown",
        extensions=extensions,
    )
