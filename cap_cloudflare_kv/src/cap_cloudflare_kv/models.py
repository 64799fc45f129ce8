"""What KV calls take and return, as plain frozen records (no pydantic: these are on the Workers path).

Names follow the JS binding's results in Python spelling: ``getWithMetadata`` gives
:class:`KvValueWithMetadata`, ``list`` gives :class:`KvListResult` of :class:`KvKey`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    import datetime as _dt

__all__ = [
    "VALUE_TYPES",
    "KvKey",
    "KvListResult",
    "KvValueWithMetadata",
    "KvWrite",
    "PreparedWrite",
    "ValueType",
    "WriteValue",
]

ValueType: TypeAlias = Literal["text", "bytes", "json", "stream"]
"""How a read returns the value: ``str``, ``bytes``, parsed JSON, or an async iterator of chunks."""

VALUE_TYPES: tuple[ValueType, ...] = ("text", "bytes", "json", "stream")

WriteValue: TypeAlias = str | bytes | bytearray | memoryview
"""What ``put_many`` accepts as a value (``put`` also takes an async iterable of bytes)."""


@dataclass(frozen=True, slots=True)
class KvValueWithMetadata:
    """``get_with_metadata``'s result: both fields are None when the key is missing."""

    value: Any
    metadata: Any


@dataclass(frozen=True, slots=True)
class KvKey:
    """One key of a listing: its name, its expiration (epoch seconds) and metadata, when set."""

    name: str
    expiration: int | None = None
    metadata: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The binding's JSON shape: ``expiration`` and ``metadata`` only when present."""
        out: dict[str, Any] = {"name": self.name}
        if self.expiration is not None:
            out["expiration"] = self.expiration
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


@dataclass(frozen=True, slots=True)
class KvListResult:
    """One page of ``list``: ``cursor`` continues the listing, and is None once ``list_complete``."""

    keys: tuple[KvKey, ...]
    list_complete: bool
    cursor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "keys": [k.to_dict() for k in self.keys],
            "list_complete": self.list_complete,
        }
        if self.cursor is not None:
            out["cursor"] = self.cursor
        return out


@dataclass(frozen=True, slots=True)
class KvWrite:
    """One item for :meth:`~cap_cloudflare_kv.KvNamespace.put_many`: the arguments of one ``put``."""

    key: str
    value: WriteValue
    expiration: int | float | _dt.datetime | None = None
    expiration_ttl: int | float | _dt.timedelta | None = None
    metadata: Any = None


@dataclass(slots=True)  # not frozen: built on every put, and a frozen __init__ costs twice as much
class PreparedWrite:
    """A write that passed validation; what backends receive (never built by users).

    ``text`` is the value when it was given as a ``str`` (the binding and the bulk API take strings
    as they are); ``data`` is always its bytes. ``expiration`` is absolute epoch seconds and
    ``expiration_ttl`` relative seconds, as given (Cloudflare lets the TTL win when both are set);
    ``expires_at`` is the absolute time the write expires, resolved with the capability's clock.
    ``metadata_json`` is the compact JSON whose size was checked.
    """

    key: str
    data: bytes
    text: str | None = None
    expiration: int | None = None
    expiration_ttl: int | None = None
    expires_at: int | None = None
    metadata: Any = None
    metadata_json: str | None = field(default=None)
