"""Workers KV's documented limits: the one place these numbers live.

Source: ``docs/reference/workers-kv.md`` (in the repository), which follows Cloudflare's KV limits page
(developers.cloudflare.com/kv/platform/limits) and API reference. Every backend is held to the same
numbers, so code that works on a laptop also works on Cloudflare. Where Cloudflare changes a number,
change it here.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BULK_BODY_MAX_BYTES",
    "BULK_DELETE_MAX_KEYS",
    "BULK_GET_MAX_KEYS",
    "BULK_PUT_MAX_ITEMS",
    "CACHE_TTL_MIN_SECONDS",
    "EXPIRATION_MAX_EPOCH",
    "EXPIRATION_MIN_SECONDS",
    "FORBIDDEN_KEYS",
    "KEY_MAX_BYTES",
    "LIST_LIMIT_MAX",
    "LIST_LIMIT_MIN",
    "METADATA_MAX_BYTES",
    "PROPAGATION_SECONDS",
    "REST_LIST_LIMIT_MIN",
    "VALUE_MAX_BYTES",
]

KEY_MAX_BYTES: Final = 512
"""A key is at most 512 bytes of UTF-8."""

FORBIDDEN_KEYS: Final = frozenset({"", ".", ".."})
"""Keys Workers KV refuses outright (empty, ``.`` and ``..``)."""

VALUE_MAX_BYTES: Final = 25 * 1024 * 1024
"""A value is at most 25 MiB (26,214,400 bytes)."""

METADATA_MAX_BYTES: Final = 1024
"""Metadata is at most 1024 bytes, measured as compact JSON (what ``JSON.stringify`` produces)."""

EXPIRATION_MIN_SECONDS: Final = 60
"""``expiration`` and ``expirationTtl`` must both be at least 60 seconds in the future."""

EXPIRATION_MAX_EPOCH: Final = 2**31 - 1
"""The latest expiration the binding accepts: 2038-01-19T03:14:07Z. workerd takes ``expiration``,
``expirationTtl`` and ``cacheTtl`` as 32-bit integers ("Value out of range. Must be between
-2147483648 and 2147483647"), seen against Miniflare's binding; every backend is held to it."""

CACHE_TTL_MIN_SECONDS: Final = 30
"""``cacheTtl`` on a read is at least 30 seconds."""

LIST_LIMIT_MIN: Final = 1
LIST_LIMIT_MAX: Final = 1000
"""``list`` returns at most 1000 keys per page."""

BULK_GET_MAX_KEYS: Final = 100
"""``get([keys])`` on a binding and ``POST bulk/get`` take at most 100 keys per call."""

BULK_PUT_MAX_ITEMS: Final = 10_000
"""``PUT bulk`` writes at most 10,000 pairs per request."""

BULK_DELETE_MAX_KEYS: Final = 10_000
"""``POST bulk/delete`` deletes at most 10,000 keys per request."""

BULK_BODY_MAX_BYTES: Final = 100 * 1000 * 1000
"""A bulk request body is at most 100 MB."""

REST_LIST_LIMIT_MIN: Final = 10
"""The REST ``keys`` endpoint documents ``limit`` between 10 and 1000 (the binding takes 1 to 1000)."""

PROPAGATION_SECONDS: Final = 60
"""A write may take up to about 60 seconds to be seen in other locations (eventual consistency)."""
