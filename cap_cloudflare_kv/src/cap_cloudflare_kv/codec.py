"""Turning stored bytes into what a read asked for, the same way on every backend.

Why one codec: Workers KV stores bytes and decodes on read. If each backend decoded its own way (the
binding parses JSON in JavaScript, where ``1.0`` becomes ``1`` and big integers lose precision), the
same value would read differently on Workers and locally. So every backend fetches text or bytes and
this module decodes: text as UTF-8 with U+FFFD for invalid bytes (what the binding's ``TextDecoder``
does), JSON with Python's parser.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cap_opendal_core.errors import InvalidInput

if TYPE_CHECKING:
    from .models import ValueType

__all__ = ["decode_metadata", "decode_text", "decode_value", "parse_json"]


def decode_value(data: bytes, value_type: ValueType, *, operation: str, key: str | None) -> Any:
    """``data`` as ``text`` (str), ``bytes`` or ``json``; ``stream`` is the backends' business."""
    if value_type == "bytes":
        return data
    text = data.decode("utf-8", errors="replace")
    if value_type == "json":
        return parse_json(text, operation=operation, key=key)
    return text


def decode_text(text: str, value_type: ValueType, *, operation: str, key: str | None) -> Any:
    """A value the backend already holds as text (the binding and the bulk API return strings)."""
    if value_type == "json":
        return parse_json(text, operation=operation, key=key)
    if value_type == "bytes":
        return text.encode("utf-8")
    return text


def parse_json(text: str, *, operation: str, key: str | None) -> Any:
    """Parse a stored value as JSON; a value that is not JSON is the caller's wrong ``type``."""
    try:
        return json.loads(text)
    except ValueError as exc:
        detail = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidInput(
            f'the stored value is not valid JSON ({detail}); read it with type="text" or type="bytes"',
            field="type",
            capability="kv",
            operation=operation,
            key=key,
        ) from None


def decode_metadata(raw: str | bytes | None) -> Any:
    """Stored metadata JSON back into Python (None when there is none)."""
    if raw is None or raw == b"" or raw == "":
        return None
    return json.loads(raw)
