"""Durable Objects' OpenTelemetry span facts, for core's OpenTelemetry layer (``docs/layers.md``).

Storage calls (``storage.get`` …) and the ``Dedupe`` ledger are database operations to the conventions:
``db.system.name`` (``cloudflare_durable_objects``) and ``db.operation.name`` (``get``,
``put_if_absent`` …), the storage key under ``cap.key``. Calls to an object are RPC: ``rpc.system``
and the method as ``rpc.method``; a ``fetch``'s URL goes under ``cap.key``. Keys and URLs are scrubbed
by core, as in logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cap_opendal_core.layers import SpanFacts

if TYPE_CHECKING:
    from cap_opendal_core.layers import Operation

__all__ = ["SYSTEM", "span_attributes"]

SYSTEM: Final = "cloudflare_durable_objects"


def span_attributes(op: Operation) -> SpanFacts:
    """Storage and Dedupe calls are ``db.*`` spans; RPC, fetch and id resolution are ``rpc.*``."""
    base = {"cloud.provider": "cloudflare"}
    if op.capability == "dedupe" or op.name.startswith("storage."):
        name = op.name.removeprefix("storage.")
        return SpanFacts(
            {**base, "db.system.name": SYSTEM, "db.operation.name": name}, key_attribute="cap.key"
        )
    if op.name == "rpc":
        return SpanFacts({**base, "rpc.system": SYSTEM}, key_attribute="rpc.method")
    return SpanFacts({**base, "rpc.system": SYSTEM, "rpc.method": op.name}, key_attribute="cap.key")
