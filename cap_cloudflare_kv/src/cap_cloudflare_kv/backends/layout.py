"""Where a KV key lives in an OpenDAL operator: one object per key, under ``k/``, named by its bytes.

Why base32hex (RFC 4648's "extended hex" alphabet, lower case, no padding) of the key's UTF-8 bytes:

* any key Workers KV accepts round-trips — slashes, ``%``, ``..`` segments, leading or trailing
  spaces, control characters, any Unicode — because the name holds only ``0-9a-v``;
* no key can escape the operator's root or collide with another: no ``/``, ``.`` or ``..`` of the
  key survives into the path, and the encoding is one-to-one;
* it is safe on case-insensitive file systems (macOS, Windows) and never forms a reserved name;
* it keeps order: comparing two names compares the keys' bytes, and with the separators chosen
  below so does comparing whole paths (``.`` < ``/`` < ``0``) — useful to services that list in order;
* it is compact enough: a 512-byte key becomes 820 characters, within S3's 1024-byte object keys.

File systems limit a name to 255 bytes, so names longer than :data:`SEGMENT` characters are split
into directories of :data:`SEGMENT` characters each; every object ends in ``.kv``, so an object and a
directory never share a name.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

__all__ = ["CACHE_SIZE", "PREFIX", "SEGMENT", "SUFFIX", "key_to_path", "path_to_key"]

PREFIX: Final = "k/"
SUFFIX: Final = ".kv"
SEGMENT: Final = 160
"""Characters per path segment: 100 key bytes; 160 + ``.kv`` stays well under 255-byte names."""

_ALPHABET: Final = frozenset("0123456789abcdefghijklmnopqrstuv")

CACHE_SIZE: Final = 4096
"""Paths of recently used keys kept, so a hot key is not re-encoded on every call."""
_cache: dict[str, str] = {}


def key_to_path(key: str) -> str:
    """The object path of ``key`` (a key that passed validation)."""
    path = _cache.get(key)
    if path is None:
        path = _encode(key)
        if len(_cache) >= CACHE_SIZE:
            _cache.clear()  # cheaper than LRU bookkeeping on every hit; hot keys come back at once
        _cache[key] = path
    return path


def _encode(key: str) -> str:
    # the standard library's base32 is pure Python (a few µs): hence the cache above
    name = base64.b32hexencode(key.encode("utf-8")).decode("ascii").rstrip("=").lower()
    if len(name) > SEGMENT:
        name = "/".join(name[i : i + SEGMENT] for i in range(0, len(name), SEGMENT))
    return f"{PREFIX}{name}{SUFFIX}"


def path_to_key(path: str) -> str | None:
    """The key stored at ``path``, or None for anything this layout could not have written."""
    if not path.startswith(PREFIX) or not path.endswith(SUFFIX):
        return None
    parts = path[len(PREFIX) : -len(SUFFIX)].split("/")
    if any(len(part) != SEGMENT for part in parts[:-1]) or not 0 < len(parts[-1]) <= SEGMENT:
        return None
    name = "".join(parts)
    if not _ALPHABET.issuperset(name):
        return None
    try:
        raw = base64.b32hexdecode(name.upper() + "=" * (-len(name) % 8))
        key = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    # only the canonical spelling (zero padding bits, the right length) names a key
    return key if _encode(key) == path else None
