"""Numbers JavaScript can carry: the one check for values that cross into JSON Cloudflare parses in JS.

Why: KV metadata and queue JSON bodies are parsed by the Workers runtime with ``JSON.parse``, where
every number is an IEEE double. An int beyond ±(2**53 - 1) comes back rounded
(12345678901234567890 reads as 12345678901234567000.0) — or, handed to the binding from Python as a
``BigInt``, cannot be serialised at all — while a local backend would keep it exact. So such ints are
refused with :class:`~cap_opendal_core.errors.InvalidInput` before any I/O, on every backend, and the
same call means the same thing everywhere. Send them as strings.

Standard library only: this module is on the Workers path.
"""

from __future__ import annotations

from typing import Any, Final

from .errors import InvalidInput
from .show import show

__all__ = ["MAX_SAFE_INTEGER", "check_js_safe", "first_unsafe_int"]

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""JavaScript's ``Number.MAX_SAFE_INTEGER``: the largest int every integer below which a double holds."""


def first_unsafe_int(value: Any, path: str = "") -> tuple[str, int] | None:
    """``(where, number)`` for the first int (in document order) a JS number cannot hold, else None.

    Walks dicts, lists and tuples without recursion (a deep value cannot exhaust the stack); bools
    are not numbers here, floats are doubles already.
    """
    if not _any_unsafe(value):  # the common case, without building a path per element
        return None
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, int) and not isinstance(item, bool):
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return where, item
        elif isinstance(item, dict):
            children = [(f"{where}[{show(k)}]", v) for k, v in item.items()]
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(f"{where}[{i}]", v) for i, v in enumerate(item)]))
    return None


def check_js_safe(value: Any, *, field: str, **context: Any) -> None:
    """:class:`InvalidInput` naming ``field`` (and where inside it) if ``value`` holds an int beyond
    ±(2**53 - 1); ``context`` (capability, operation, key) goes into the error."""
    found = first_unsafe_int(value, field)
    if found is None:
        return
    where, number = found
    raise InvalidInput(
        f"{where} is {show(number)}, an integer JavaScript numbers cannot hold exactly (beyond "
        f"±(2**53 - 1)); Cloudflare parses this JSON in JavaScript and would change it. Send it as a str",
        field=field,
        **context,
    )


def _any_unsafe(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, int) and not isinstance(item, bool):
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False
