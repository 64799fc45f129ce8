"""Cloudflare Queues' OpenTelemetry span facts, for core's OpenTelemetry layer (``docs/layers.md``).

Queue calls follow the messaging conventions: ``messaging.system`` (no registered value exists, so
``cloudflare_queues``), ``messaging.operation.type`` (``send`` for sends — PRODUCER spans —,
``receive`` for pulls, ``settle`` for acks and retries), ``messaging.operation.name`` (the method) and
the queue's name as ``messaging.destination.name`` (the pipeline's key for every queue call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cap_opendal_core.layers import SpanFacts

if TYPE_CHECKING:
    from cap_opendal_core.layers import Operation

__all__ = ["MESSAGING_SYSTEM", "span_attributes"]

MESSAGING_SYSTEM: Final = "cloudflare_queues"
_TYPES: Final = {"send": "send", "send_batch": "send", "pull": "receive"}


def span_attributes(op: Operation) -> SpanFacts:
    """Sends are PRODUCER spans; pulls and settling are CLIENT spans (the conventions' ``receive``
    and ``settle``)."""
    kind = _TYPES.get(op.name, "settle")
    return SpanFacts(
        {
            "cloud.provider": "cloudflare",
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": kind,
            "messaging.operation.name": op.name,
        },
        key_attribute="messaging.destination.name",
        kind="producer" if kind == "send" else "client",
    )
