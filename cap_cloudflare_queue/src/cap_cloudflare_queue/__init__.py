"""cap-cloudflare-queue: Cloudflare Queues as one async capability on Workers, servers and laptops.

Public names load on first use, so ``import cap_cloudflare_queue`` costs almost nothing — a Python
Worker pays for every import at cold start — and never pulls in pydantic, httpx or opendal (only the
REST configuration and the server-side backends need them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cap_opendal_core.lazy import by_name, lazy_exports

if TYPE_CHECKING:
    from .claim_check import BlobStore, ClaimCheck, OpendalBlobStore
    from .codec import BodyCodec, JsonCodec, TextCodec
    from .config import CloudflareQueueConfig
    from .consumer import QueueConsumer
    from .errors import BatchPartiallySent
    from .message import Handler, Message, MessageBatch
    from .models import MessageSendRequest, SettleResult
    from .producer import Queue
    from .trigger import QueueTrigger
    from .typed import TypedConsumer, TypedQueue

__version__ = "0.1.0"

_LAZY: Final = by_name(
    {
        "producer": ("Queue",),
        "consumer": ("QueueConsumer",),
        "message": ("MessageBatch", "Message", "Handler"),
        "trigger": ("QueueTrigger",),
        "models": ("MessageSendRequest", "SettleResult"),
        "claim_check": ("ClaimCheck", "BlobStore", "OpendalBlobStore"),
        "errors": ("BatchPartiallySent",),
        "config": ("CloudflareQueueConfig",),
        "codec": ("BodyCodec", "JsonCodec", "TextCodec"),
        "typed": ("TypedQueue", "TypedConsumer"),
    }
)

__all__ = [
    "BatchPartiallySent",
    "BlobStore",
    "BodyCodec",
    "ClaimCheck",
    "CloudflareQueueConfig",
    "Handler",
    "JsonCodec",
    "Message",
    "MessageBatch",
    "MessageSendRequest",
    "OpendalBlobStore",
    "Queue",
    "QueueConsumer",
    "QueueTrigger",
    "SettleResult",
    "TextCodec",
    "TypedConsumer",
    "TypedQueue",
    "__version__",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
