"""Checks every argument against Workers KV's documented limits, before any I/O, for every backend.

Why here and not in the backends: the binding, the REST API and the local store would each reject bad
input differently (or, locally, not at all). Checking once, in front of the pipeline, gives the same
:class:`~cap_opendal_core.errors.InvalidInput` / :class:`~cap_opendal_core.errors.LimitExceeded` on
every backend — so code that passes locally passes on Cloudflare — and proves no request is sent.
Errors name the argument (``field``) or the limit (``limit="kv.value_bytes"``) and never echo values.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any, NoReturn

from cap_opendal_core.checks import check_at_most, check_int_range, check_utf8_size, is_number
from cap_opendal_core.errors import InvalidInput, LimitExceeded
from cap_opendal_core.jsnumbers import check_js_safe
from cap_opendal_core.show import show

from . import limits
from .models import VALUE_TYPES, KvWrite, PreparedWrite, ValueType

__all__ = [
    "check_cache_ttl",
    "check_cursor",
    "check_expiration",
    "check_key",
    "check_keys",
    "check_list_limit",
    "check_metadata",
    "check_prefix",
    "check_type",
    "check_value",
    "collect_stream",
    "prepare_write",
    "prepare_writes",
]

_CAPABILITY = "kv"
_FORBIDDEN = limits.FORBIDDEN_KEYS
_KEY_MAX = limits.KEY_MAX_BYTES
_ASCII_SAFE_KEY_CHARS = _KEY_MAX  # an ASCII key of this many characters is this many bytes


def _invalid(message: str, field: str, op: str, key: str | None = None) -> NoReturn:
    raise InvalidInput(message, field=field, capability=_CAPABILITY, operation=op, key=key)


def _kind(value: object) -> str:
    return type(value).__name__


# --- keys ------------------------------------------------------------------------------------


def check_key(key: object, op: str, field: str = "key") -> str:
    """A key Workers KV accepts: a non-empty string of at most 512 UTF-8 bytes, not ``.`` or ``..``."""
    if type(key) is not str and not isinstance(key, str):
        _invalid(f"{field} must be a str, got {_kind(key)}", field, op)
    check_utf8_size(
        key,
        field=field,
        high=_KEY_MAX,
        limit="kv.key_bytes",
        why=f"Workers KV keys are at most {_KEY_MAX} bytes",
        capability=_CAPABILITY,
        operation=op,
    )
    if key in _FORBIDDEN:
        what = "empty" if not key else repr(key)
        _invalid(f"{field} must not be {what}: Workers KV refuses '', '.' and '..' as keys", field, op)
    return key


def check_keys(keys: object, op: str) -> list[str]:
    """A list of valid keys from any iterable of strings (a lone ``str`` is refused, not split)."""
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
        _invalid(f"keys must be a list (or other iterable) of str, got {_kind(keys)}", "keys", op)
    checked = []
    for i, key in enumerate(keys):
        checked.append(check_key(key, op, field=f"keys[{i}]"))
    return checked


def _optional_str(value: object, field: str, op: str) -> str | None:
    """``None`` for ``None`` or the empty string (both mean "none"), else a ``str``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        _invalid(f"{field} must be a str or None, got {_kind(value)}", field, op)
    return value


def check_prefix(prefix: object, op: str) -> str | None:
    """``None`` or a key prefix; the empty prefix means no prefix."""
    if (prefix := _optional_str(prefix, "prefix", op)) is None:
        return None
    check_utf8_size(
        prefix,
        field="prefix",
        high=_KEY_MAX,
        limit="kv.key_bytes",
        why=f"no key is longer than {_KEY_MAX} bytes",
        capability=_CAPABILITY,
        operation=op,
    )
    return prefix


def check_cursor(cursor: object, op: str) -> str | None:
    """``None`` or the cursor a previous page returned (the empty string means none)."""
    return _optional_str(cursor, "cursor", op)


def check_list_limit(limit: object, op: str) -> int:
    """``list``'s page size: an int from 1 to 1000."""
    return check_int_range(
        limit,
        field="limit",
        low=limits.LIST_LIMIT_MIN,
        high=limits.LIST_LIMIT_MAX,
        capability=_CAPABILITY,
        operation=op,
    )


# --- reads -----------------------------------------------------------------------------------


def check_type(value_type: object, op: str, *, allowed: tuple[str, ...] = VALUE_TYPES) -> ValueType:
    """One of ``text``, ``bytes``, ``json``, ``stream`` (``get_many`` takes only text and json)."""
    if value_type in allowed and isinstance(value_type, str):
        return value_type  # type: ignore[return-value]
    names = ", ".join(repr(t) for t in allowed)
    extra = ""
    if op == "get_many" and value_type in VALUE_TYPES:
        extra = " (Workers KV reads several keys at once only as text or json)"
    _invalid(f"type must be one of {names}, got {show(value_type)}{extra}", "type", op)


def check_cache_ttl(cache_ttl: object, op: str, key: str | None = None) -> int | None:
    """``cacheTtl`` in seconds (int, float or timedelta), at least 30; None leaves the default."""
    if cache_ttl is None:
        return None
    seconds = _seconds(cache_ttl, "cache_ttl", op, key)
    if not limits.CACHE_TTL_MIN_SECONDS <= seconds <= limits.EXPIRATION_MAX_EPOCH:
        _invalid(
            f"cache_ttl must be from {limits.CACHE_TTL_MIN_SECONDS} to {limits.EXPIRATION_MAX_EPOCH} "
            f"seconds, got {seconds}",
            "cache_ttl",
            op,
            key,
        )
    return seconds


def _seconds(value: object, field: str, op: str, key: str | None) -> int:
    import datetime as _dt  # lazy: most callers pass numbers, and a Worker pays for every import

    if is_number(value):
        number = _float(value, field, op, key)
    elif isinstance(value, _dt.timedelta):
        number = value.total_seconds()
    else:
        _invalid(f"{field} must be a number of seconds or a timedelta, got {_kind(value)}", field, op, key)
    if not math.isfinite(number):
        _invalid(f"{field} must be a finite number of seconds", field, op, key)
    return math.floor(number)


def _float(value: Any, field: str, op: str, key: str | None) -> float:
    """``value`` (an int or float) as a float; an int too large for one is out of every range."""
    try:
        return float(value)
    except OverflowError:
        _invalid(f"{field} is too large: no number of seconds that size is valid", field, op, key)


# --- writes ----------------------------------------------------------------------------------


def check_value(value: object, op: str, key: str | None, field: str = "value") -> tuple[bytes, str | None]:
    """The value's bytes (and the ``str`` itself when it was one), at most 25 MiB."""
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            _invalid(f"{field} is not valid Unicode text (it holds a lone surrogate)", field, op, key)
        text: str | None = value
    elif isinstance(value, bytes):
        data, text = value, None
    elif isinstance(value, bytearray | memoryview):
        data, text = bytes(value), None
    else:
        _invalid(
            f"{field} must be str, bytes or an async iterable of bytes, got {_kind(value)}", field, op, key
        )
    if (size := len(data)) > limits.VALUE_MAX_BYTES:
        _too_large(
            f"value is {size} bytes; Workers KV values are at most {limits.VALUE_MAX_BYTES} bytes (25 MiB)",
            size,
            op,
            key,
        )
    return data, text


def _too_large(message: str, size: int, op: str, key: str | None) -> NoReturn:
    """Workers KV's value limit (25 MiB), passed as ``message`` says."""
    raise LimitExceeded(
        message,
        limit="kv.value_bytes",
        value=size,
        maximum=limits.VALUE_MAX_BYTES,
        capability=_CAPABILITY,
        operation=op,
        key=key,
    )


async def collect_stream(stream: AsyncIterable[Any], op: str, key: str) -> bytes:
    """Read an async iterable of bytes into one value, stopping with ``LimitExceeded`` past 25 MiB.

    Nothing is stored until the whole value is in hand, so a stream that grows too large (or fails)
    leaves the key as it was. The iterator is closed when reading stops early.
    """
    parts: list[bytes] = []
    size = 0
    iterator = stream.__aiter__()
    try:
        async for chunk in iterator:
            if isinstance(chunk, bytes):
                part = chunk
            elif isinstance(chunk, bytearray | memoryview):
                part = bytes(chunk)
            else:
                _invalid(f"the value stream yielded {_kind(chunk)}; it must yield bytes", "value", op, key)
            size += len(part)
            if size > limits.VALUE_MAX_BYTES:
                _too_large(
                    f"the value stream passed {limits.VALUE_MAX_BYTES} bytes (25 MiB, Workers KV's "
                    "largest value); nothing was stored",
                    size,
                    op,
                    key,
                )
            parts.append(part)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
    return b"".join(parts)


def check_metadata(metadata: object, op: str, key: str | None) -> str | None:
    """Compact JSON for ``metadata`` (what Cloudflare measures), at most 1024 bytes; None for none."""
    if metadata is None:
        return None
    import json  # lazy: only writes with metadata need it

    try:
        encoded = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, RecursionError):
            reason = "it nests too deeply"
        elif isinstance(exc, ValueError):
            reason = "NaN and Infinity have no JSON form" if "float" in str(exc) else str(exc)
        else:
            reason = str(exc)
        _invalid(f"metadata must be JSON-serialisable: {reason}", "metadata", op, key)
    # Cloudflare parses metadata in JavaScript: an int past 2**53 would come back rounded
    check_js_safe(metadata, field="metadata", capability=_CAPABILITY, operation=op, key=key)
    try:
        size = len(encoded.encode("utf-8"))
    except UnicodeEncodeError:  # every backend stores metadata as UTF-8, which cannot hold one
        _invalid("metadata holds a string that is not valid Unicode (a lone surrogate)", "metadata", op, key)
    check_at_most(
        size,
        limits.METADATA_MAX_BYTES,
        limit="kv.metadata_bytes",
        message=f"metadata is {size} bytes as JSON; Workers KV allows at most {limits.METADATA_MAX_BYTES}",
        capability=_CAPABILITY,
        operation=op,
        key=key,
    )
    return encoded


def check_expiration(
    expiration: object, expiration_ttl: object, clock: Callable[[], float], op: str, key: str | None
) -> tuple[int | None, int | None, int | None]:
    """``(expiration, expiration_ttl, expires_at)`` in whole seconds, each at least 60 s ahead.

    ``expiration`` is absolute (epoch seconds, or an aware ``datetime``), ``expiration_ttl`` relative
    (seconds or a ``timedelta``). When both are given the TTL decides when the key expires, as on
    Cloudflare; both must still be valid. ``clock`` is the capability's (epoch seconds).
    """
    if expiration is None and expiration_ttl is None:
        return None, None, None
    floor_now = math.floor(clock())
    minimum = limits.EXPIRATION_MIN_SECONDS
    absolute: int | None = None
    ttl: int | None = None
    if expiration is not None:
        import datetime as _dt

        if isinstance(expiration, _dt.datetime):
            if expiration.tzinfo is None or expiration.utcoffset() is None:
                _invalid(
                    "expiration must be a timezone-aware datetime (or epoch seconds); a naive datetime "
                    "has no fixed moment",
                    "expiration",
                    op,
                    key,
                )
            moment = expiration.timestamp()
        elif is_number(expiration):
            moment = _float(expiration, "expiration", op, key)
        else:
            _invalid(
                f"expiration must be epoch seconds or an aware datetime, got {_kind(expiration)}",
                "expiration",
                op,
                key,
            )
        if not math.isfinite(moment):
            _invalid("expiration must be a finite number of epoch seconds", "expiration", op, key)
        absolute = math.floor(moment)  # whole seconds, as the binding truncates them
        if absolute < floor_now + minimum:
            _invalid(
                f"expiration must be at least {minimum} seconds in the future; it is "
                f"{absolute - floor_now} s from now",
                "expiration",
                op,
                key,
            )
    if expiration_ttl is not None:
        ttl = _seconds(expiration_ttl, "expiration_ttl", op, key)
        if ttl < minimum:
            _invalid(
                f"expiration_ttl must be at least {minimum} seconds, got {ttl}", "expiration_ttl", op, key
            )
    expires_at = floor_now + ttl if ttl is not None else absolute
    latest = limits.EXPIRATION_MAX_EPOCH
    late = None
    if absolute is not None and absolute > latest:
        late = "expiration"
    elif ttl is not None and expires_at is not None and expires_at > latest:
        late = "expiration_ttl"
    if late is not None:
        _invalid(
            f"{late} reaches past {latest} (2038-01-19T03:14:07Z): Workers KV takes expirations "
            "as 32-bit epoch seconds",
            late,
            op,
            key,
        )
    return absolute, ttl, expires_at


def prepare_write(
    key: object,
    data: bytes,
    text: str | None,
    expiration: object,
    expiration_ttl: object,
    metadata: object,
    clock: Callable[[], float],
    op: str,
) -> PreparedWrite:
    """Everything about one write except its value, checked; the value was checked by the caller."""
    absolute, ttl, expires_at = check_expiration(expiration, expiration_ttl, clock, op, key)  # type: ignore[arg-type]
    metadata_json = check_metadata(metadata, op, key)  # type: ignore[arg-type]
    return PreparedWrite(
        key=key,  # type: ignore[arg-type]
        data=data,
        text=text,
        expiration=absolute,
        expiration_ttl=ttl,
        expires_at=expires_at,
        metadata=metadata,
        metadata_json=metadata_json,
    )


def prepare_writes(items: object, clock: Callable[[], float], op: str) -> list[PreparedWrite]:
    """``put_many``'s items: a mapping of key to value, or an iterable of :class:`KvWrite` or
    ``(key, value)`` pairs. Every item is checked before anything is written."""
    if isinstance(items, Mapping):
        entries: Iterable[Any] = items.items()
    elif isinstance(items, str | bytes) or not isinstance(items, Iterable):
        _invalid(
            f"items must be a mapping of key to value or an iterable of KvWrite, got {_kind(items)}",
            "items",
            op,
        )
    else:
        entries = items
    prepared: list[PreparedWrite] = []
    for i, item in enumerate(entries):
        where = f"items[{i}]"
        if isinstance(item, KvWrite):
            key, value = item.key, item.value
            expiration, ttl, metadata = item.expiration, item.expiration_ttl, item.metadata
        elif isinstance(item, tuple) and len(item) == 2:
            (key, value), expiration, ttl, metadata = item, None, None, None
        else:
            _invalid(f"{where} must be a KvWrite or a (key, value) pair, got {_kind(item)}", where, op)
        check_key(key, op, field=f"{where}.key")
        data, text = check_value(value, op, key, field=f"{where}.value")
        prepared.append(prepare_write(key, data, text, expiration, ttl, metadata, clock, op))
    return prepared
