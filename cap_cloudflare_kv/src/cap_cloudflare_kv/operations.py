"""Every public method of :class:`~cap_cloudflare_kv.KvNamespace`, declared once for the pipeline.

Reads record ``resource::kv::read``, writes ``resource::kv::write``; both record ``resource::kv`` as
their determinism hint (``docs/reference/hints.md``). Every operation is idempotent: a KV write is
last-writer-wins, so repeating a put or delete leaves the same state, and the retry layer may retry
all of them.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core.layers.operation import ResourceHints

__all__ = [
    "OPERATIONS",
    "CAPABILITY",
    "DELETE",
    "DELETE_MANY",
    "DETERMINISM_HINT",
    "GET",
    "GET_MANY",
    "GET_WITH_METADATA",
    "LIST",
    "PURGE_EXPIRED",
    "PUT",
    "PUT_MANY",
    "READ_HINT",
    "WRITE_HINT",
]

CAPABILITY: Final = "kv"
_KV: Final = ResourceHints(CAPABILITY, "kv")
READ_HINT: Final = _KV.hint("read")
WRITE_HINT: Final = _KV.hint("write")
DETERMINISM_HINT: Final = _KV.hint()

GET: Final = _KV.read("get")
GET_WITH_METADATA: Final = _KV.read("get_with_metadata")
GET_MANY: Final = _KV.read("get_many")
LIST: Final = _KV.read("list")
PUT: Final = _KV.write("put", idempotent=True)
PUT_MANY: Final = _KV.write("put_many", idempotent=True)
DELETE: Final = _KV.write("delete", idempotent=True)
DELETE_MANY: Final = _KV.write("delete_many", idempotent=True)
PURGE_EXPIRED: Final = _KV.write("purge_expired", idempotent=True)
"""Local backends only: deletes what has expired, so it is a write."""

OPERATIONS: Final = (
    GET,
    GET_WITH_METADATA,
    GET_MANY,
    LIST,
    PUT,
    PUT_MANY,
    DELETE,
    DELETE_MANY,
    PURGE_EXPIRED,
)
"""Every operation, for the package's spec (which derives the provided hints from them)."""
