"""Durable Object ids: what names an object, the same shape on every backend.

On Workers an id is 256 bits written as 64 hex characters; ``idFromName`` derives it from a name
with a key private to the namespace, ``newUniqueId`` draws it at random, and ``idFromString`` refuses
strings that are not ids *of that namespace*. The local runtime does the same with a random salt kept
in its database: the first 24 bytes are an HMAC of the name (or random), the last 8 an HMAC tag of the
first 24, so an id from another namespace — or a typo — is refused rather than silently creating an
empty object.

A gateway client cannot derive ids itself (the key lives in Cloudflare); its ids from names carry the
name only until :meth:`DurableObjectNamespace.resolve_id` asks the gateway for the hex form.
"""

from __future__ import annotations

import os
import re
from typing import Any, Final

from cap_opendal_core.errors import InvalidInput, Unsupported

from .limits import ID_HEX_LENGTH

__all__ = ["DurableObjectId", "check_hex_id", "local_id_from_name", "local_id_is_valid", "local_unique_id"]

_HEX: Final = re.compile(rf"[0-9a-fA-F]{{{ID_HEX_LENGTH}}}")
_BODY_BYTES: Final = 24
_TAG_BYTES: Final = 8


class DurableObjectId:
    """One object's id. ``hex`` is its 64-character string form (``None`` only for a gateway id
    made from a name and not yet resolved); ``name`` is the name it was derived from, if any.

    Ids compare equal when their hex forms are equal (or, while unresolved, their names are).
    """

    __slots__ = ("_raw", "hex", "name")

    def __init__(self, hex: str | None, name: str | None = None, *, raw: Any = None) -> None:
        self.hex = hex
        self.name = name
        self._raw = raw  # the backend's own id object (a JS DurableObjectId on Workers)

    def to_string(self) -> str:
        """The 64 hex characters (``id.toString()`` in JS)."""
        if self.hex is None:
            raise Unsupported(
                f"the id of {self.name!r} is derived inside Cloudflare; "
                "`await namespace.resolve_id(oid)` asks the gateway for it",
                capability="do",
                operation="id",
            )
        return self.hex

    def equals(self, other: DurableObjectId) -> bool:
        """``id.equals(other)`` in JS."""
        return self == other

    def _identity(self) -> tuple[str, str | None]:
        return ("hex", self.hex) if self.hex is not None else ("name", self.name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DurableObjectId):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __str__(self) -> str:
        return self.hex if self.hex is not None else f"<unresolved id of name {self.name!r}>"

    def __repr__(self) -> str:
        if self.name is None:
            return f"DurableObjectId({self.hex!r})"
        return f"DurableObjectId({self.hex!r}, name={self.name!r})"


def check_hex_id(value: object, *, field: str = "id") -> str:
    """``value`` as a lower-case 64-hex id string, or :class:`InvalidInput` saying what is wrong."""
    if not isinstance(value, str):
        raise InvalidInput(
            f"{field} must be a string of {ID_HEX_LENGTH} hex characters, not {type(value).__name__}",
            field=field,
        )
    if _HEX.fullmatch(value) is None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise InvalidInput(
            f"{field} must be {ID_HEX_LENGTH} hex characters, got {len(value)} characters: {shown!r}",
            field=field,
        )
    return value.lower()


def check_name(value: object, *, field: str = "name") -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a str, not {type(value).__name__}", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} is not valid Unicode (a lone surrogate)", field=field) from None
    return value


def _tag(salt: bytes, body: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(salt, b"id:" + body, hashlib.sha256).digest()[:_TAG_BYTES]


def local_id_from_name(salt: bytes, name: str) -> str:
    """The local runtime's deterministic id for ``name`` in the namespace keyed by ``salt``."""
    import hashlib
    import hmac

    body = hmac.new(salt, b"name:" + name.encode("utf-8"), hashlib.sha256).digest()[:_BODY_BYTES]
    return (body + _tag(salt, body)).hex()


def local_unique_id(salt: bytes) -> str:
    """A random id that :func:`local_id_is_valid` accepts for the same ``salt``."""
    body = os.urandom(_BODY_BYTES)
    return (body + _tag(salt, body)).hex()


def local_id_is_valid(salt: bytes, hex_id: str) -> bool:
    import hmac

    raw = bytes.fromhex(hex_id)
    return hmac.compare_digest(raw[_BODY_BYTES:], _tag(salt, raw[:_BODY_BYTES]))
