"""R2's OpenTelemetry span facts, for core's OpenTelemetry layer (``docs/layers.md``).

R2 speaks the S3 API, so its spans use the object-store (S3) conventions where they fit: the object key
goes under ``aws.s3.key`` (scrubbed by core, as in logs); a listing's prefix under ``cap.prefix``,
since ``aws.s3.key`` names one object. ``cap.object_store`` says which store it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cap_opendal_core.layers import SpanFacts

if TYPE_CHECKING:
    from cap_opendal_core.layers import Operation

__all__ = ["OBJECT_STORE", "span_attributes"]

OBJECT_STORE: Final = "cloudflare_r2"


def span_attributes(op: Operation) -> SpanFacts:
    """An object call carries its key as ``aws.s3.key``; a listing its prefix as ``cap.prefix``."""
    return SpanFacts(
        {"cloud.provider": "cloudflare", "cap.object_store": OBJECT_STORE, "rpc.method": op.name},
        key_attribute="cap.prefix" if op.name == "list" else "aws.s3.key",
    )
