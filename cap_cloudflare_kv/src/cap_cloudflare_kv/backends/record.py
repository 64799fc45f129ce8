"""The stored form of one KV entry: a small fixed header, the metadata, then the value — one object.

Why one object: value, metadata and expiration change together, so they are written together in one
OpenDAL write (on ``fs`` renamed into place from ``atomic_write_dir``). A reader therefore sees the
old entry or the new one, never a value with another write's metadata, and a crash mid-write leaves
the old entry whole. The header is fixed-size and binary so a ``get`` pays one ``struct`` unpack.

Layout (big-endian)::

    magic      4 bytes   b"cKV\\x01"
    expires_at int64     epoch seconds; 0 = never expires
    write_id   uint64    random per write: tells a reclaimer whether the entry it found is still there
    meta_len   uint32    length of the metadata JSON; 0 = no metadata
    metadata   meta_len bytes of compact JSON (at most 1024)
    value      the rest
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

from cap_opendal_core.errors import BackendError

from ..limits import METADATA_MAX_BYTES

__all__ = ["HEADER_SIZE", "HEAD_MAX", "MAGIC", "Head", "encode", "parse_head"]

MAGIC: Final = b"cKV\x01"
_HEADER: Final = struct.Struct(">4sqQI")
HEADER_SIZE: Final = _HEADER.size
HEAD_MAX: Final = HEADER_SIZE + METADATA_MAX_BYTES
"""Bytes that always hold a record's header and metadata: what a listing reads per key."""


class Head(NamedTuple):
    """A record's header: when it expires (None = never), its write id, where metadata and value are."""

    expires_at: int | None
    write_id: int
    meta_end: int

    @property
    def value_offset(self) -> int:
        return self.meta_end


def encode(data: bytes, metadata_json: str | None, expires_at: int | None, write_id: int) -> bytes:
    """One record holding ``data``; ``metadata_json`` is the compact JSON validation produced."""
    if metadata_json is None:
        return b"".join((_HEADER.pack(MAGIC, expires_at or 0, write_id, 0), data))
    meta = metadata_json.encode("utf-8")
    return b"".join((_HEADER.pack(MAGIC, expires_at or 0, write_id, len(meta)), meta, data))


def parse_head(blob: bytes, key: str | None = None) -> Head:
    """The header of ``blob`` (a whole record or at least its first :data:`HEAD_MAX` bytes)."""
    if len(blob) < HEADER_SIZE:
        raise _corrupt(key, f"it is only {len(blob)} bytes long")
    magic, expires_at, write_id, meta_len = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise _corrupt(key, "it does not start with the KV record marker")
    if meta_len > METADATA_MAX_BYTES:
        raise _corrupt(key, f"its metadata length field says {meta_len} bytes")
    return Head(expires_at or None, write_id, HEADER_SIZE + meta_len)


def _corrupt(key: str | None, why: str) -> BackendError:
    return BackendError(
        f"the stored object for this key is not a KV record ({why}); it was written by something else "
        "or damaged",
        capability="kv",
        key=key,
        retryable=False,
    )
