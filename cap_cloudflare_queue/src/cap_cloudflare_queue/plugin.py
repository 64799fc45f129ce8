"""The entry point that tells ``cap_opendal_core`` what this package is (see ``cap_opendal_core.plugins``).

Kept free of the package's own runtime code so that discovering plugins never imports a backend.
The descriptor states Cloudflare Queues' documented guarantees: durable, at-least-once, unordered.
"""

from __future__ import annotations

from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.plugins import CapabilityPlugin, builtin_constraints_under

from .binding_kind import BINDING
from .error_codes import ERRORS

__all__ = ["PLUGIN"]

PLUGIN = CapabilityPlugin(
    name="queue",
    distribution="cap-cloudflare-queue",
    binding_kind="queue",
    hints=builtin_constraints_under("resource::queue"),
    provided_hints=("resource::queue::publish", "resource::queue::consume", "resource::queue"),
    descriptor=Descriptor(
        consistency="unknown",
        durability="durable",
        ttl="unknown",
        delivery="at_least_once",
        ordering="unordered",
        reservation="unknown",
        extensions={
            "com.cloudflare.queues.max_message_bytes": 128_000,
            "com.cloudflare.queues.max_send_batch_messages": 100,
            "com.cloudflare.queues.max_send_batch_bytes": 256_000,
            "com.cloudflare.queues.max_consumer_batch_messages": 100,
            "com.cloudflare.queues.max_batch_timeout_s": 60,
            "com.cloudflare.queues.max_retries": 100,
            "com.cloudflare.queues.max_delay_s": 43_200,
        },
    ),
    binding=BINDING,
    errors=ERRORS,
    constructors={
        "from_env": "cap_cloudflare_queue:Queue.from_env",
        "from_url": "cap_cloudflare_queue:Queue.from_url",
        "local": "cap_cloudflare_queue:Queue.local",
        "from_config": "cap_cloudflare_queue:Queue.from_config",
        "consumer": "cap_cloudflare_queue:QueueConsumer",
        "consumer_local": "cap_cloudflare_queue:QueueConsumer.local",
        "consumer_from_url": "cap_cloudflare_queue:QueueConsumer.from_url",
        "consumer_from_config": "cap_cloudflare_queue:QueueConsumer.from_config",
        "message_batch_from_js": "cap_cloudflare_queue:MessageBatch.from_js",
        "trigger": "cap_cloudflare_queue:QueueTrigger",
    },
)
