"""Checks every backend shares, run before any I/O: bad input fails here with a message naming it.

Limits come from :mod:`cap_cloudflare_do.limits`; value support from :mod:`cap_cloudflare_do.codec`.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from cap_opendal_core.checks import check_at_most, check_utf8_size
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.show import show

from . import codec
from .limits import ALARM_MAX_EPOCH_MS, LIST_LIMIT_MAX, MAX_BATCH_KEYS, MAX_ENTRY_BYTES
from .models import HeadersInit, Request, normalise_headers

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)

__all__ = [
    "RESERVED_NAMES",
    "Encoded",
    "ListOptions",
    "check_alarm_time",
    "check_entries",
    "check_entry",
    "check_fetch",
    "check_key",
    "check_keys",
    "check_list_options",
    "check_rpc_args",
    "check_rpc_name",
]

RESERVED_NAMES: Final = frozenset(
    {
        "fetch",
        "alarm",
        "constructor",
        "connect",
        "dup",
        "then",
        "webSocketMessage",
        "webSocketClose",
        "webSocketError",
        "web_socket_message",
        "web_socket_close",
        "web_socket_error",
    }
)
"""Names a Durable Object answers outside RPC (``fetch``, ``alarm``, WebSocket handlers) or that RPC
itself reserves (``then`` would make a stub look like a promise; ``dup``/``connect`` are stub methods)."""

_TOKEN: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP method is a token (RFC 9110)


class Encoded(NamedTuple):
    """A value validated for storage: the value itself and its encoded form (used for its size, and
    stored as is by the local runtime)."""

    value: Any
    blob: bytes


class ListOptions(NamedTuple):
    prefix: str | None = None
    start: str | None = None
    start_after: str | None = None
    end: str | None = None
    limit: int | None = None
    reverse: bool = False

    def to_js(self) -> dict[str, Any]:
        """The options object ``storage.list`` takes in JS (unset options left out)."""
        out: dict[str, Any] = {}
        for name, js_name in (
            ("prefix", "prefix"),
            ("start", "start"),
            ("start_after", "startAfter"),
            ("end", "end"),
        ):
            value = getattr(self, name)
            if value is not None:
                out[js_name] = value
        if self.limit is not None:
            out["limit"] = self.limit
        if self.reverse:
            out["reverse"] = True
        return out


def check_key(key: object, *, field: str = "key") -> str:
    """A storage key: a str that encodes as UTF-8 (keys order by their UTF-8 bytes)."""
    if type(key) is not str:
        if isinstance(key, str):
            return check_key(str(key), field=field)
        raise InvalidInput(f"{field} must be a str, not {type(key).__name__}", field=field)
    check_utf8_size(
        key,
        field=field,
        high=MAX_ENTRY_BYTES,
        limit="do.entry_bytes",
        why=f"key and value together may be at most {MAX_ENTRY_BYTES} bytes",
    )
    return key


def check_keys(keys: object, *, field: str = "keys") -> list[str]:
    """A batch of keys (a list or tuple of str), at most :data:`MAX_BATCH_KEYS`."""
    if not isinstance(keys, list | tuple):
        raise InvalidInput(f"{field} must be a str or a list of str, not {type(keys).__name__}", field=field)
    check_at_most(
        len(keys),
        MAX_BATCH_KEYS,
        limit="do.batch_keys",
        message=f"{field} holds {len(keys)} keys; one call may handle at most {MAX_BATCH_KEYS}",
    )
    return [check_key(k, field=f"{field}[{i}]") for i, k in enumerate(keys)]


def check_entry(key: str, value: Any, *, field: str = "value") -> Encoded:
    """``value`` validated for ``key``: supported types only, key + value within :data:`MAX_ENTRY_BYTES`."""
    blob = codec.encode(value, field=field)
    size = len(key.encode("utf-8")) + codec.encoded_size(blob)
    check_at_most(
        size,
        MAX_ENTRY_BYTES,
        limit="do.entry_bytes",
        message=(
            f"key {key[:60]!r} and its value take {size} bytes; key and value together may be at most "
            f"{MAX_ENTRY_BYTES} bytes"
        ),
        key=key,
    )
    return Encoded(value, blob)


def check_entries(entries: object, *, field: str = "entries") -> dict[str, Encoded]:
    """A batch of entries (a mapping of str to value), at most :data:`MAX_BATCH_KEYS`."""
    if not isinstance(entries, Mapping):
        raise InvalidInput(
            f"{field} must be a mapping of str to value, not {type(entries).__name__}", field=field
        )
    check_at_most(
        len(entries),
        MAX_BATCH_KEYS,
        limit="do.batch_keys",
        message=f"{field} holds {len(entries)} entries; one put may write at most {MAX_BATCH_KEYS}",
    )
    out: dict[str, Encoded] = {}
    for key, value in entries.items():
        checked = check_key(key, field=f"{field} key")
        out[checked] = check_entry(checked, value, field=f"{field}[{checked!r}]")
    return out


def check_list_options(
    prefix: object,
    start: object,
    start_after: object,
    end: object,
    limit: object,
    reverse: object,
) -> ListOptions:
    """``list`` options as Workers defines them: ``start`` inclusive, ``start_after`` and ``end``
    exclusive, ``start`` and ``start_after`` not together, ``limit`` a positive int."""
    checked: dict[str, str | None] = {}
    for name, value in (("prefix", prefix), ("start", start), ("start_after", start_after), ("end", end)):
        checked[name] = None if value is None else check_key(value, field=name)
    if start is not None and start_after is not None:
        raise InvalidInput("give start (inclusive) or start_after (exclusive), not both", field="start_after")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIST_LIMIT_MAX
    ):
        raise InvalidInput(
            f"limit must be an int from 1 to {LIST_LIMIT_MAX}, got {show(limit)}", field="limit"
        )
    if not isinstance(reverse, bool):
        raise InvalidInput(f"reverse must be a bool, got {show(reverse)}", field="reverse")
    return ListOptions(
        checked["prefix"], checked["start"], checked["start_after"], checked["end"], limit, reverse
    )


def check_alarm_time(when: object) -> int:
    """An alarm time as epoch milliseconds: a ``datetime`` (naive means UTC) or a number of epoch
    milliseconds, as ``setAlarm`` takes in JS — at most :data:`ALARM_MAX_EPOCH_MS` (the runtime's
    bound). A datetime is floored to whole milliseconds, exactly (no float on the way)."""
    if isinstance(when, _dt.datetime):
        moment = when if when.tzinfo is not None else when.replace(tzinfo=_dt.UTC)
        when = (moment - _EPOCH) // _dt.timedelta(milliseconds=1)
    if isinstance(when, bool) or not isinstance(when, int | float) or when < 0 or when != when:
        raise InvalidInput(
            f"the alarm time must be a datetime or epoch milliseconds (a number >= 0), got {show(when)}",
            field="scheduled_time",
        )
    if when > ALARM_MAX_EPOCH_MS:  # also infinity, and ints too large for a float or for SQLite
        raise InvalidInput(
            f"the alarm time {show(when)} is past the latest the Workers runtime accepts "
            f"({ALARM_MAX_EPOCH_MS} ms after the epoch, 2262-04-11T23:47:16.854Z)",
            field="scheduled_time",
        )
    return int(when)


def check_rpc_name(method: object, allowed: frozenset[str] | None) -> str:
    """An RPC method name: public (no leading underscore), not reserved, and — when the object's
    class is known — one of its RPC methods."""
    if not isinstance(method, str) or not method.isidentifier():
        raise InvalidInput(f"the RPC method name must be an identifier, got {show(method)}", field="method")
    if method.startswith("_"):
        raise InvalidInput(
            f"{method!r} is private (leading underscore); RPC reaches public methods only", field="method"
        )
    if method in RESERVED_NAMES:
        raise InvalidInput(
            f"{method!r} is not callable over RPC (use stub.fetch for fetch; alarm runs on its own)",
            field="method",
        )
    if allowed is not None and method not in allowed:
        known = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(f"the object has no RPC method {method!r} (it has: {known})", field="method")
    return method


def check_rpc_args(args: tuple[Any, ...]) -> list[Any]:
    """RPC arguments in tagged form (validated: each must be a value a Durable Object can receive)."""
    tagged = list(args)
    for i, arg in enumerate(args):
        kind = type(arg)
        if kind is str or kind is bool or arg is None:  # sent as they are: no path to format
            continue
        tagged[i] = codec.to_tagged(arg, field="args", path=f"args[{i}]")
    return tagged


def check_fetch(url: object, method: object, headers: HeadersInit | None, body: object) -> Request:
    """A stub ``fetch`` request, checked as the JS ``Request`` constructor would check it."""
    if not isinstance(url, str) or not url:
        raise InvalidInput(f"url must be a non-empty str, got {show(url)}", field="url")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise InvalidInput(f"url must be an absolute http(s) URL, got {show(url)}", field="url")
    if not isinstance(method, str) or _TOKEN.match(method) is None:
        raise InvalidInput(f"method must be an HTTP method name, got {show(method)}", field="method")
    if body is not None and not isinstance(body, bytes | bytearray | memoryview | str):
        raise InvalidInput(f"body must be bytes, str or None, not {type(body).__name__}", field="body")
    if isinstance(body, str):
        try:
            body = body.encode("utf-8")  # what the object receives: a str body is sent as UTF-8
        except UnicodeEncodeError:
            raise InvalidInput(
                "body is a str that is not valid Unicode (a lone surrogate)", field="body"
            ) from None
    if body is not None and method.upper() in ("GET", "HEAD") and len(body) > 0:
        raise InvalidInput(f"a {method.upper()} request cannot have a body", field="body")
    try:
        pairs = [] if headers is None else list(headers.items() if isinstance(headers, Mapping) else headers)
        normalised = normalise_headers(pairs)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidInput(f"headers must be a mapping or pairs of str: {exc}", field="headers") from None
    if any(not isinstance(value, str) for _, value in pairs):  # a repeated name joins values into a str
        raise InvalidInput("headers must be a mapping or pairs of str: a value is not a str", field="headers")
    for name, value in normalised.items():
        if not isinstance(name, str) or _TOKEN.match(name) is None:
            raise InvalidInput(f"header name {name!r} is not a valid HTTP header name", field="headers")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise InvalidInput(f"header {name!r} must have a str value without line breaks", field="headers")
    payload = bytes(body) if isinstance(body, bytearray | memoryview) else body
    return Request(url, method=method, headers=normalised, body=payload)
