"""Values that can be stored in a Durable Object or passed over RPC, and their one wire form.

Workers copies stored values and RPC arguments with the structured clone algorithm. This package
supports the part of it that means the same thing in Python and JavaScript: ``None``, ``bool``,
``int``, ``float`` (NaN and infinities too), ``str``, ``bytes`` (``bytearray``/``memoryview``
accepted), timezone-aware or naive-UTC ``datetime``, lists (tuples arrive as lists, as over the FFI)
and dicts with string keys. Anything else is refused with :class:`InvalidInput` naming the type and
where it sits — before any I/O, whatever the backend — rather than being pickled (unsafe) or silently
stringified.

The one encoding, "tagged JSON", is plain JSON plus single-key objects for what JSON lacks:
``{"$b": base64}`` bytes, ``{"$d": ISO-8601}`` datetimes (whole milliseconds, as ``toISOString``
writes them: a JS ``Date`` holds no finer time, so microseconds are floored away on every backend —
what the local runtime stores is what Workers would have kept), ``{"$f": "NaN"|"Infinity"|"-Infinity"}``
floats, ``{"$i": "digits"}`` integers beyond ±(2**53 - 1) (JavaScript numbers cannot hold them) and
``{"$o": {...}}`` for a dict whose only key happens to be a tag. The local runtime stores it, RPC
copies through it, and the gateway Worker speaks it (``gateway/worker.js`` has the JS half).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

from cap_opendal_core.errors import InvalidInput

from .limits import MAX_NESTING

__all__ = ["TAGS", "StorableValue", "clone", "decode", "encode", "encoded_size", "from_tagged", "to_tagged"]

StorableValue: TypeAlias = (
    bool
    | int
    | float
    | str
    | bytes
    | bytearray
    | memoryview
    | _dt.datetime
    | Sequence["StorableValue"]
    | Mapping[str, "StorableValue"]
    | None
)
"""What storage ``put`` and RPC arguments take, for mypy: the values above (``Sequence`` and
``Mapping`` so a ``list[int]`` or ``dict[str, str]`` fits). Run-time checks stay the authority —
e.g. a ``set`` or a dict with ``int`` keys is refused by both."""

TAGS: Final = frozenset({"$b", "$d", "$f", "$i", "$o"})
MAX_SAFE_INTEGER: Final = 2**53 - 1
SUPPORTED: Final = "None, bool, int, float, str, bytes, datetime, list and dict with str keys"

# Storage form: one marker byte, then the payload. Top-level bytes are kept raw (no base64), the
# common case of an opaque blob; everything else is tagged JSON in UTF-8.
_RAW: Final = b"b"
_JSON: Final = b"j"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_loads = json.loads


def _refuse(value: object, path: str, field: str, why: str | None = None) -> InvalidInput:
    reason = why or f"has type {type(value).__name__}, which a Durable Object cannot store or send"
    return InvalidInput(f"{path} {reason}; supported: {SUPPORTED}", field=field)


def to_tagged(value: Any, *, field: str = "value", path: str | None = None) -> Any:
    """``value`` as a JSON-ready tagged structure; :class:`InvalidInput` for anything unsupported."""
    return _tag(value, path or field, field, 0)


def _tag(value: Any, path: str, field: str, depth: int) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        try:
            return {"$i": str(value)}
        except ValueError:  # past Python's int-to-str limit (4300 digits): no decimal form to send
            raise _refuse(value, path, field, "is an int too long to write in decimal") from None
    if kind is float:
        if math.isfinite(value):
            return value
        return {"$f": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")}
    if depth >= MAX_NESTING:
        raise _refuse(value, path, field, f"nests deeper than {MAX_NESTING} levels (or refers to itself)")
    if kind is dict or isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _refuse(
                    key, f"{path} key {key!r}", field, f"is a {type(key).__name__}; keys must be str"
                )
            out[key] = _tag(item, f"{path}[{key!r}]", field, depth + 1)
        if len(out) == 1 and next(iter(out)) in TAGS:
            return {"$o": out}
        return out
    if kind is list or kind is tuple:
        return [_tag(item, f"{path}[{i}]", field, depth + 1) for i, item in enumerate(value)]
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, _dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
        try:
            utc = moment.astimezone(_dt.UTC)
        except OverflowError:  # e.g. 0001-01-01 at UTC+5: its UTC time is before year 1
            raise _refuse(
                value, path, field, "is a datetime whose UTC time falls outside years 1-9999"
            ) from None
        utc = utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)
        return {"$d": utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    for base in (bool, int, float, str):  # subclasses (IntEnum, StrEnum …) travel as their base value
        if isinstance(value, base):
            return _tag(base(value), path, field, depth)
    raise _refuse(value, path, field)


def from_tagged(data: Any) -> Any:
    """The Python value a tagged-JSON structure stands for (the inverse of :func:`to_tagged`)."""
    if type(data) is list:
        return [from_tagged(item) for item in data]
    if type(data) is not dict:
        return data
    if len(data) == 1:
        tag, inner = next(iter(data.items()))
        if tag in TAGS:
            return _untag(tag, inner)
    return {key: from_tagged(item) for key, item in data.items()}


def _untag(tag: str, inner: Any) -> Any:
    if tag == "$b":
        return base64.b64decode(inner)
    if tag == "$d":
        moment = _dt.datetime.fromisoformat(inner.replace("Z", "+00:00"))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=_dt.UTC)
    if tag == "$f":
        return float({"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}.get(inner, inner))
    if tag == "$i":
        return int(inner)
    if type(inner) is not dict:
        raise ValueError("$o must hold an object")
    return {key: from_tagged(item) for key, item in inner.items()}


def encode(value: Any, *, field: str = "value", path: str | None = None) -> bytes:
    """The storage form of ``value`` (validated, as :func:`to_tagged`)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return _RAW + bytes(value)
    text = _dumps(_tag(value, path or field, field, 0))
    try:
        return _JSON + text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{path or field} holds a string that is not valid Unicode (a lone surrogate)", field=field
        ) from exc


def decode(blob: bytes) -> Any:
    """The value :func:`encode` stored."""
    marker, payload = blob[:1], blob[1:]
    if marker == _RAW:
        return bytes(payload)
    if marker == _JSON:
        return from_tagged(_loads(payload))
    raise ValueError(f"unknown stored value marker {marker!r}")


def encoded_size(blob: bytes) -> int:
    """Bytes the value takes in storage, without the marker (what the 2 MB limit is applied to)."""
    return len(blob) - 1


def clone(value: Any, *, field: str = "value", path: str | None = None) -> Any:
    """An independent copy of ``value``, as the structured clone gives the receiver of an RPC.

    Scalars are immutable and come back as they are; containers, bytes and datetimes go through the
    tagged form, so the receiver never shares mutable state with the sender (and both sides see the
    same normalisation: tuples become lists, naive datetimes become UTC).
    """
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is float:
        return value
    if kind is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    return from_tagged(_tag(value, path or field, field, 0))
