"""Durable Objects' documented limits: the one place their numbers live.

Source: ``docs/reference/durable-objects.md`` (in the repository), which follows Cloudflare's "Durable
Objects limits" and "Storage API" pages for SQLite-backed classes, the default for new classes. Every
check in :mod:`cap_cloudflare_do.validation` reads these names, so updating a number here updates every
backend at once.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALARM_MAX_EPOCH_MS",
    "ID_HEX_LENGTH",
    "LIST_LIMIT_MAX",
    "MAX_ALARM_RETRIES",
    "MAX_BATCH_KEYS",
    "MAX_ENTRY_BYTES",
    "MAX_NESTING",
    "MAX_OBJECT_BYTES",
    "MAX_SQL_COLUMNS",
    "MAX_SQL_FUNCTION_ARGS",
    "MAX_SQL_LIKE_PATTERN_BYTES",
    "MAX_SQL_PARAMS",
    "MAX_SQL_STATEMENT_BYTES",
    "MAX_SQL_VALUE_BYTES",
    "SOFT_REQUESTS_PER_SECOND",
]

MAX_ENTRY_BYTES: Final = 2_000_000
"""Key and value together, in bytes, for one stored entry ("cannot exceed 2 MB").

Cloudflare measures storage in decimal units (1 GB = 10**9 bytes), so 2 MB is read as 2,000,000
bytes: the stricter reading, so a write this package lets through is never rejected by the service.
The key counts as its UTF-8 bytes, the value as its encoded size (:func:`cap_cloudflare_do.codec.encode`),
which stands in for the V8 serialisation Workers measures.
"""

MAX_OBJECT_BYTES: Final = 10 * 1000**3
"""Storage per object of a SQLite-backed class: 10 GB (decimal, as Cloudflare measures)."""

MAX_SQL_STATEMENT_BYTES: Final = 100_000
"""The longest SQL statement, 100 KB."""

MAX_SQL_PARAMS: Final = 100
"""Bound parameters per SQL query: at most 100."""

MAX_SQL_VALUE_BYTES: Final = 2_000_000
"""The largest string, BLOB or table row in a SQLite-backed object: 2 MB (decimal, the stricter reading).

Bindings are checked before the call; the local runtime also sets SQLite's ``SQLITE_LIMIT_LENGTH`` to
it, so a row grown past it inside SQL fails there too."""

MAX_SQL_COLUMNS: Final = 100
"""Columns per table of a SQLite-backed object (the local runtime sets ``SQLITE_LIMIT_COLUMN``)."""

MAX_SQL_FUNCTION_ARGS: Final = 32
"""Arguments per SQL function call (the local runtime sets ``SQLITE_LIMIT_FUNCTION_ARG``)."""

MAX_SQL_LIKE_PATTERN_BYTES: Final = 50
"""Bytes in a ``LIKE`` or ``GLOB`` pattern (the local runtime sets ``SQLITE_LIMIT_LIKE_PATTERN_LENGTH``)."""

MAX_BATCH_KEYS: Final = 128
"""Keys per batched ``get``/``put``/``delete`` call ("Supports up to 128 keys at a time")."""

ID_HEX_LENGTH: Final = 64
"""A Durable Object id as a string: 64 hexadecimal characters (256 bits)."""

SOFT_REQUESTS_PER_SECOND: Final = 1000
"""The soft ceiling of requests per second one object serves; the local runtime's benchmark goal."""

MAX_ALARM_RETRIES: Final = 6
"""An alarm whose handler fails is retried with exponential backoff, at most this many times."""

ALARM_MAX_EPOCH_MS: Final = 9_223_372_036_854
"""The latest alarm time, in epoch milliseconds: 2262-04-11T23:47:16.854Z.

The Workers runtime keeps an alarm time as signed 64-bit nanoseconds since the epoch, so ``setAlarm``
refuses anything after ``(2**63 - 1) // 10**6`` ms (its message says "dates after 2189"; the bound
it enforces was measured against Miniflare's workerd by bisection: this value is accepted, one more
millisecond is not). Far below a JS ``Date``'s own range (8.64e15 ms).
"""

LIST_LIMIT_MAX: Final = 2**53 - 1
"""The largest ``list`` limit: the JS API takes a Number, which holds ints exactly only up to
``Number.MAX_SAFE_INTEGER`` (and SQLite none past 2**63). No larger limit means anything more."""

MAX_NESTING: Final = 200
"""How deep a stored value or RPC argument may nest; deeper (or cyclic) values are refused."""
