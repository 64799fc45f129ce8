"""``show(value)``: a caller's argument, rendered briefly and safely for an error message.

Why one helper: a message that prints its bad argument with ``{value!r}`` can itself fail — Python
3.11+ refuses to turn an int of more than 4,300 digits into text (``ValueError``), and a caller's
``__repr__`` may raise — so the refusal the caller should have seen becomes an unrelated crash. A
2 MB string would also make a 2 MB message. :func:`show` never raises and stays short: long strings
and containers are cut (``reprlib``), huge ints are described by their size, and a value whose
``repr`` fails is shown by its type.

Standard library only: this module is on the Workers path.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any, Final

__all__ = ["MAX_SHOWN_CHARS", "show"]

MAX_SHOWN_CHARS: Final = 80
"""About how many characters one shown value may take (strings and other reprs are cut to this)."""

_EXACT_BITS: Final = 128  # ints up to ~38 digits are shown exactly
_CHECKED_BITS: Final = 1 << 20  # up to ~315,000 digits the count is exact
_LOG10_2: Final = math.log10(2)


def _int(value: int) -> str:
    if value.bit_length() <= _EXACT_BITS:
        return int.__repr__(value)
    size = abs(value)
    digits = math.floor(size.bit_length() * _LOG10_2) + 1  # exact, or one too many
    about = "about "
    if size.bit_length() <= _CHECKED_BITS:  # cheap enough to settle which
        about = ""
        if size < 10 ** (digits - 1):
            digits -= 1
    sign = "a negative" if value < 0 else "an"
    return f"{sign} int of {about}{digits:,} digits"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


class _Brief(reprlib.Repr):
    """``reprlib`` with ints that cannot fail and instances whose failing ``repr`` shows their type."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = MAX_SHOWN_CHARS
        self.maxother = MAX_SHOWN_CHARS
        self.maxlong = MAX_SHOWN_CHARS

    def repr_int(self, x: int, level: int) -> str:
        return _int(x)

    def repr_instance(self, x: Any, level: int) -> str:
        if isinstance(x, int) and x.bit_length() > _EXACT_BITS:  # int subclasses (IntEnum …) too
            return _int(int(x))
        try:
            return _cut(repr(x))
        except Exception:
            return f"<{type(x).__name__}>"


_BRIEF: Final = _Brief()


def show(value: object) -> str:
    """``value`` as a short ``repr`` for a message; never raises (see the module docstring)."""
    try:
        return _cut(_BRIEF.repr(value))
    except Exception:
        return f"<{type(value).__name__}>"
