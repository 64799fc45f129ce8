"""Every public method of :class:`~cap_cloudflare_kv.KvNamespace`, declared once for the pipeline.

Reads record ``resource::kv::read``, writes ``resource::kv::write``; both record ``resource::kv`` as
their determinism hint (``docs/reference/hints.md``). Every operation is idempotent: a KV write is
last-writer-wins, so repeating a put or delete leaves the same state, and the retry layer may retry
all of them.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core.layers import Operation

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
READ_HINT: Final = "resource::kv::read"
WRITE_HINT: Final = "resource::kv::write"
DETERMINISM_HINT: Final = "resource::kv"


def _read(name: str) -> Operation:
    return Operation(CAPABILITY, name, READ_HINT, DETERMINISM_HINT, idempotent=True)


def _write(name: str) -> Operation:
    return Operation(CAPABILITY, name, WRITE_HINT, DETERMINISM_HINT, idempotent=True)


GET: Final = _read("get")
GET_WITH_METADATA: Final = _read("get_with_metadata")
GET_MANY: Final = _read("get_many")
LIST: Final = _read("list")
PUT: Final = _write("put")
PUT_MANY: Final = _write("put_many")
DELETE: Final = _write("delete")
DELETE_MANY: Final = _write("delete_many")
PURGE_EXPIRED: Final = Operation(CAPABILITY, "purge_expired", WRITE_HINT, DETERMINISM_HINT, idempotent=True)
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
