"""Workers KV's OpenTelemetry span facts, for core's OpenTelemetry layer (``docs/layers.md``).

KV is a key-value database to the conventions: ``db.system.name`` (no registered value exists for
Workers KV, so ``cloudflare_workers_kv``) and ``db.operation.name`` (the method). The key goes under
``cap.key`` — scrubbed by core, as in logs — since the database conventions have no key attribute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cap_opendal_core.layers import SpanFacts

if TYPE_CHECKING:
    from cap_opendal_core.layers import Operation

__all__ = ["DB_SYSTEM", "span_attributes"]

DB_SYSTEM: Final = "cloudflare_workers_kv"


def span_attributes(op: Operation) -> SpanFacts:
    """Every KV call is a ``db.*`` client span named after its method."""
    return SpanFacts(
        {"cloud.provider": "cloudflare", "db.system.name": DB_SYSTEM, "db.operation.name": op.name},
        key_attribute="cap.key",
    )
