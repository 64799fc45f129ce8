"""CRC32 and CRC32C with hashlib's shape (``update`` / ``digest`` / ``hexdigest``), for S3's checksums.

Why here: S3 verifies and keeps ``x-amz-checksum-crc32`` / ``-crc32c`` (the big-endian 4-byte CRC),
and :class:`~cap_cloudflare_r2.transfer.Digests` checks a body against the caller's value before
anything is sent. CRC32 is :func:`zlib.crc32` (C speed). CRC32C (Castagnoli, reflected polynomial
``0x82F63B78``, as iSCSI, ext4 and S3 use it) is not in the standard library, so it is computed
here, table-driven, eight bytes per step ("slicing-by-8") — no dependency, and it runs under Pyodide
too. It is pure Python (a few MB/s), so large bodies are hashed in a worker thread like the other
digests (see :func:`~cap_cloudflare_r2.transfer.hash_off_loop`).
"""

from __future__ import annotations

import zlib
from typing import Final

__all__ = ["CRC_ALGORITHMS", "Crc32", "Crc32c", "crc32c", "new_crc"]

CRC_ALGORITHMS: Final = ("crc32", "crc32c")
"""The checksum names this module computes (S3's ``CRC32`` and ``CRC32C``)."""

_CASTAGNOLI: Final = 0x82F63B78


def _tables() -> tuple[tuple[int, ...], ...]:
    """The eight 256-entry tables of slicing-by-8: ``t[k][b]`` is the CRC of byte ``b`` followed by
    ``k`` zero bytes, so eight table lookups advance the CRC over eight input bytes."""
    first = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CASTAGNOLI if crc & 1 else crc >> 1
        first.append(crc)
    tables = [first]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[b] >> 8) ^ first[prev[b] & 0xFF] for b in range(256)])
    return tuple(tuple(t) for t in tables)


_T: Final = _tables()


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC32C of ``data``, continuing from ``crc`` (the value for the bytes before it), as
    :func:`zlib.crc32` takes its second argument."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    crc ^= 0xFFFFFFFF
    view = memoryview(data).cast("B")
    whole = len(view) - len(view) % 8
    from_bytes = int.from_bytes
    for i in range(0, whole, 8):
        low = crc ^ from_bytes(view[i : i + 4], "little")
        high = from_bytes(view[i + 4 : i + 8], "little")
        crc = (
            t7[low & 0xFF]
            ^ t6[(low >> 8) & 0xFF]
            ^ t5[(low >> 16) & 0xFF]
            ^ t4[low >> 24]
            ^ t3[high & 0xFF]
            ^ t2[(high >> 8) & 0xFF]
            ^ t1[(high >> 16) & 0xFF]
            ^ t0[high >> 24]
        )
    for byte in view[whole:]:
        crc = (crc >> 8) ^ t0[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFFFFFF


class _Crc:
    """A running CRC with hashlib's interface (what :class:`~.transfer.Digests` needs)."""

    __slots__ = ("_crc",)
    name = ""

    def __init__(self) -> None:
        self._crc = 0

    def _step(self, data: bytes | bytearray | memoryview, crc: int) -> int:
        raise NotImplementedError

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._crc = self._step(data, self._crc)

    def digest(self) -> bytes:
        """The CRC as S3 carries it: four bytes, big-endian."""
        return self._crc.to_bytes(4, "big")

    def hexdigest(self) -> str:
        return f"{self._crc:08x}"


class Crc32(_Crc):
    """CRC32 (ISO-HDLC, zlib's): S3's ``CRC32``."""

    __slots__ = ()
    name = "crc32"

    def _step(self, data: bytes | bytearray | memoryview, crc: int) -> int:
        return zlib.crc32(data, crc)


class Crc32c(_Crc):
    """CRC32C (Castagnoli): S3's ``CRC32C``."""

    __slots__ = ()
    name = "crc32c"

    def _step(self, data: bytes | bytearray | memoryview, crc: int) -> int:
        return crc32c(data, crc)


def new_crc(name: str) -> Crc32 | Crc32c:
    """A fresh running CRC for ``crc32`` or ``crc32c`` (``ValueError`` for another name)."""
    if name == "crc32":
        return Crc32()
    if name == "crc32c":
        return Crc32c()
    raise ValueError(f"not a CRC algorithm: {name!r}")
