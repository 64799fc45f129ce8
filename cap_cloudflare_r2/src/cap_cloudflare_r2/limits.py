"""R2's documented limits: the one place these numbers live.

Source: ``docs/reference/r2.md`` (in the repository), which follows Cloudflare's R2 limits page
(developers.cloudflare.com/r2/platform/limits) and the Workers R2 binding reference. Every backend is
held to the same numbers before any I/O, so code that works on a laptop also works on Cloudflare.
Where Cloudflare changes a number, change it here.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CUSTOM_METADATA_MAX_BYTES",
    "DELETE_MAX_KEYS",
    "KEY_MAX_BYTES",
    "LIST_INCLUDE_PAGE_MAX",
    "LIST_LIMIT_MAX",
    "LIST_LIMIT_MIN",
    "MULTIPART_MAX_PARTS",
    "PART_MAX_BYTES",
    "PART_MIN_BYTES",
    "PART_NUMBER_MAX",
    "PART_NUMBER_MIN",
    "PRESIGN_MAX_SECONDS",
    "PRESIGN_MIN_SECONDS",
    "SINGLE_UPLOAD_MAX_BYTES",
]

KEY_MAX_BYTES: Final = 1024
"""An object key is at most 1024 bytes of UTF-8 (and not empty)."""

CUSTOM_METADATA_MAX_BYTES: Final = 8192
"""Custom metadata is at most 8192 bytes, counted here as the UTF-8 bytes of every name and value."""

SINGLE_UPLOAD_MAX_BYTES: Final = 5 * 1024**3 - 5 * 1024**2
"""One ``put`` of a bytes value is at most ~5 GiB (5 GiB - 5 MiB, the figure workerd enforces);
larger objects go through multipart (a stream or file is split into parts automatically)."""

PART_MIN_BYTES: Final = 5 * 1024**2
"""Every multipart part but the last is at least 5 MiB…"""

PART_MAX_BYTES: Final = 5 * 1024**3
"""…and at most 5 GiB; all parts but the last have the same size."""

MULTIPART_MAX_PARTS: Final = 10_000
"""A multipart upload has at most 10,000 parts."""

PART_NUMBER_MIN: Final = 1
PART_NUMBER_MAX: Final = 10_000
"""Part numbers run from 1 to 10,000."""

DELETE_MAX_KEYS: Final = 1000
"""``delete([keys])`` takes at most 1000 keys per call."""

LIST_LIMIT_MIN: Final = 1
LIST_LIMIT_MAX: Final = 1000
"""``list`` returns at most 1000 entries per page."""

LIST_INCLUDE_PAGE_MAX: Final = 100
"""With ``include`` set, a page may hold fewer entries than ``limit`` "to accommodate metadata"
(R2's docs); the local backends return at most 100, as Miniflare (the Workers runtime's local R2) does."""

PRESIGN_MIN_SECONDS: Final = 1
PRESIGN_MAX_SECONDS: Final = 7 * 24 * 3600
"""A presigned URL lives 1 second to 7 days (SigV4's bound, which R2 follows)."""
