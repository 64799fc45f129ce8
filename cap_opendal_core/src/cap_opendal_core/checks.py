"""Argument checks every capability shares: UTF-8 sizes, finite numbers, integer ranges, names.

Why one module: each package's ``validation`` checked the same things in its own words (a lone
surrogate, a bool passed as an int, an int too large for a float, ``nan`` seconds), and each copy
drifted. These helpers share one calling convention —
``check_…(value, *, field=…, <bounds>, limit=None, **where)`` (``where``: :class:`Where`) — and
raise :class:`~cap_opendal_core.errors.InvalidInput` naming ``field`` for a value of the wrong kind
or out of range — except above the range when ``limit`` names a documented service limit
(``"kv.key_bytes"``): that is :class:`~cap_opendal_core.errors.LimitExceeded` with ``value`` and
``maximum``, its message ending in the service's own words (``why``: "messages a consumer batch
holds"). Messages show the caller's value through :func:`~cap_opendal_core.show.show`, so they stay
short and never fail.

Standard library only: this module is on the Workers path.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NoReturn, TypedDict, TypeGuard, Unpack

from .errors import InvalidInput, LimitExceeded
from .show import show

if TYPE_CHECKING:
    import re
    from collections.abc import Container, Iterable

__all__ = [
    "Where",
    "check_at_most",
    "check_int_range",
    "check_keywords",
    "check_name",
    "check_number_range",
    "check_utf8_size",
    "finite_float",
    "is_int",
    "is_number",
    "utf8_size",
]


class Where(TypedDict, total=False):
    """What a refusal is about, as the errors carry it: the capability, the public method, the key."""

    capability: str | None
    operation: str | None
    key: str | None


def is_int(value: object) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool`` (``True`` is not the number of anything)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """An ``int`` or ``float`` that is not a ``bool`` (finite or not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite_float(value: object) -> float | None:
    """``value`` as a float when it is a finite number; None for anything else, including ``nan``,
    infinities and an int too large for a float."""
    if not is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _invalid(message: str, field: str, context: Where) -> NoReturn:
    raise InvalidInput(message, field=field, **context)


def _over(message: str, value: float, high: float, limit: str, context: Where) -> NoReturn:
    raise LimitExceeded(message, limit=limit, value=value, maximum=high, **context)


def check_keywords(given: Iterable[str], allowed: Container[str], where: str) -> None:
    """Refuse a keyword ``where`` does not take with the ``TypeError`` Python raises for a signature
    that lists its keywords: a ``**options: Unpack[SomeOptions]`` signature takes any, so it checks."""
    for name in given:
        if name not in allowed:
            raise TypeError(f"{where}() got an unexpected keyword argument {name!r}")


def utf8_size(
    text: str,
    *,
    field: str,
    **where: Unpack[Where],
) -> int:
    """How many bytes ``text`` takes in UTF-8; ``InvalidInput`` if it holds a lone surrogate
    (which no service can store)."""
    if text.isascii():  # the common case: characters are bytes
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        _invalid(
            f"{field} is not valid Unicode text (it holds a lone surrogate)",
            field,
            where,
        )


def check_at_most(
    value: int,
    high: int,
    *,
    limit: str,
    message: str,
    **where: Unpack[Where],
) -> None:
    """:class:`~cap_opendal_core.errors.LimitExceeded` with ``message`` when ``value`` (a count or a
    size the caller measured) is over ``high``, the service's documented ``limit``."""
    if value > high:
        _over(message, value, high, limit, where)


def check_utf8_size(
    text: str,
    *,
    field: str,
    high: int,
    limit: str | None = None,
    why: str = "",
    **where: Unpack[Where],
) -> int:
    """``text``'s UTF-8 size, at most ``high`` bytes."""
    if len(text) * 4 <= high:  # even four bytes a character fit: only the surrogate check is left
        return utf8_size(text, field=field, **where)
    size = utf8_size(text, field=field, **where)
    if size > high:
        message = f"{field} is {size} bytes of UTF-8; {why or f'at most {high} bytes are allowed'}"
        if limit is None:
            _invalid(message, field, where)
        _over(message, size, high, limit, where)
    return size


def check_int_range(
    value: object,
    *,
    field: str,
    low: int,
    high: int | None = None,
    limit: str | None = None,
    unit: str = "",
    why: str = "",
    **where: Unpack[Where],
) -> int:
    """An ``int`` (not a bool) from ``low`` to ``high`` (None: no upper bound)."""
    span = f"from {low} to {high}" if high is not None else f">= {low}"
    units = f" {unit}" if unit else ""
    refusal = f"{field}: must be an integer {span}{units}, got {show(value)}"
    if not is_int(value):
        _invalid(refusal, field, where)
    number = value
    if number < low:
        _invalid(refusal, field, where)
    if high is not None and number > high:
        if limit is None:
            _invalid(refusal, field, where)
        _over(f"{field}: {show(number)}{units} is over the {high}{units} {why}", number, high, limit, where)
    return number


def check_number_range(
    value: object,
    *,
    field: str,
    low: float,
    high: float,
    low_inclusive: bool = True,
    limit: str | None = None,
    unit: str = "",
    why: str = "",
    **where: Unpack[Where],
) -> float:
    """A finite number (int or float, not a bool) from ``low`` (exclusive unless ``low_inclusive``)
    to ``high``, as a float."""
    units = f" {unit}" if unit else ""
    span = f"{'>=' if low_inclusive else '>'} {low:g}{units}"
    number = finite_float(value)
    if number is None or number < low or (number == low and not low_inclusive):
        _invalid(f"{field}: must be a finite number {span}, got {show(value)}", field, where)
    if number > high:
        if limit is None:
            _invalid(
                f"{field}: must be a finite number {span} and <= {high:g}{units}, got {show(value)}",
                field,
                where,
            )
        _over(f"{field}: {number:g}{units} is over the {high:g}{units} {why}", number, high, limit, where)
    return number


def check_name(
    value: object,
    *,
    field: str,
    pattern: re.Pattern[str],
    rule: str,
    what: str = "name",
    **where: Unpack[Where],
) -> str:
    """A ``str`` that matches ``pattern`` whole; ``rule`` says in words what ``what`` (a "queue
    name", a "binding name") may be."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        _invalid(
            f"{field}: {show(value)} is not a valid {what}: {rule}",
            field,
            where,
        )
    return value
