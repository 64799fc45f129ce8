"""Cloudflare Queues as core knows it: one :class:`~cap_opendal_core.spec.CapabilitySpec`, from which
the plugin, the provided hints and every backend's descriptor are derived.

Kept free of the package's runtime code so that discovering plugins never imports a backend. The
descriptor states Queues' documented guarantees: durable, at-least-once, unordered (retries and delays
reorder even the local queue); its extensions are the limits of :mod:`.limits`.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core.constructors import standard_constructors
from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.hints import Constraint, Determinism, Effects
from cap_opendal_core.spec import CapabilitySpec

from . import limits
from .binding_kind import BINDING
from .error_codes import ERRORS
from .operations import CAPABILITY, OPERATIONS
from .telemetry import span_attributes

__all__ = ["SPEC"]

SPEC: Final = CapabilitySpec(
    name=CAPABILITY,
    distribution="cap-cloudflare-queue",
    binding=BINDING,
    hints=(
        Constraint("resource::queue::publish", "effect", Effects.EFFECTFUL),
        Constraint(
            "resource::queue::consume",
            "effect",
            Effects.READ_ONLY,
            "acknowledging is the consumer's own bookkeeping",
        ),
        Constraint(
            "resource::queue", "determinism", Determinism.BEST_EFFORT, "delivery order and timing vary"
        ),
    ),
    operations=OPERATIONS,
    span_attributes=span_attributes,
    descriptor=Descriptor(
        durability="durable",
        delivery="at_least_once",
        ordering="unordered",
        extensions={
            "com.cloudflare.queues.max_message_bytes": limits.MAX_MESSAGE_BYTES,
            "com.cloudflare.queues.max_send_batch_messages": limits.MAX_BATCH_MESSAGES,
            "com.cloudflare.queues.max_send_batch_bytes": limits.MAX_BATCH_BYTES,
            "com.cloudflare.queues.max_consumer_batch_messages": limits.MAX_CONSUMER_BATCH_MESSAGES,
            "com.cloudflare.queues.max_batch_timeout_s": limits.MAX_BATCH_TIMEOUT_S,
            "com.cloudflare.queues.max_retries": limits.MAX_RETRIES,
            "com.cloudflare.queues.max_delay_s": limits.MAX_DELAY_S,
        },
    ),
    errors=ERRORS,
    constructors=standard_constructors(
        "cap_cloudflare_queue:Queue",
        consumer="QueueConsumer",
        consumer_local="QueueConsumer.local",
        consumer_from_url="QueueConsumer.from_url",
        consumer_from_config="QueueConsumer.from_config",
        message_batch_from_js="MessageBatch.from_js",
        trigger="QueueTrigger",
    ),
    backend_extension="dev.cap.queue.backend",
)
