"""Resolving a ``get`` range against an object's size, as R2 does, for the emulating backends.

The argument's shape is checked before any I/O (:func:`~cap_cloudflare_r2.validation.check_range`);
whether it fits the object can only be known once the object's size is. The rules are workerd's (as
Miniflare reproduces them): a suffix longer than the object means the whole object; a length running
past the end is cut at the end; an offset past the end, or nothing left to read, is "not
satisfiable" — ``InvalidInput(field="range")``, which is what the binding's error 10039 becomes too.
A length that the end of the object cuts to nothing (``offset == size``, or any length on an empty
object) is such a range as well: the binding fails it (with an unspecified error, which the workers
backend settles through this function), so no backend serves an empty body for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.show import show

if TYPE_CHECKING:
    from .models import R2Range

__all__ = ["resolve_range"]


def resolve_range(requested: R2Range | None, size: int, *, key: str | None = None) -> tuple[int, int]:
    """``(offset, length)`` to serve of an object of ``size`` bytes."""
    if requested is None:
        return 0, size
    offset, length = requested.offset, requested.length
    if requested.suffix is not None:
        length = min(requested.suffix, size)
        offset = size - length
    if offset is None:
        offset = 0
    if length is None:
        length = size - offset
    if offset < 0 or offset > size or min(length, size - offset) <= 0:  # nothing left to read
        raise InvalidInput(
            f"the requested range {_describe(requested)} is not satisfiable for an object of {size} bytes",
            field="range",
            capability="r2",
            operation="get",
            key=key,
        )
    return offset, min(length, size - offset)


def _describe(requested: R2Range) -> str:
    shown = {
        k: v
        for k, v in (("offset", requested.offset), ("length", requested.length), ("suffix", requested.suffix))
        if v is not None
    }
    return ", ".join(f"{k}={show(v)}" for k, v in shown.items())
