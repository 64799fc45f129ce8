"""Bodies to bytes and back, per content type — the rules every backend shares.

Why encode before any I/O: the limits are on the *encoded* size, and a body its content type cannot
carry (bytes as ``json``, a dict as ``text``) must fail with ``InvalidInput`` naming the message, not
halfway through a batch. JSON is written the way ``JSON.stringify`` writes it (no spaces, UTF-8,
no ``NaN``), so the size we check is the size Cloudflare counts.

``v8`` is the Workers runtime's structured clone: only the runtime can encode it, so off-Worker it is
refused (:class:`~cap_opendal_core.errors.Unsupported`), and on a Worker its size is estimated here
(the runtime's own check is the backstop).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.errors import InvalidInput, Unsupported
from cap_opendal_core.jsnumbers import check_js_safe

if TYPE_CHECKING:
    from .limits import ContentType


__all__ = ["decode_body", "encode_body", "estimate_v8_size"]

_BYTES_LIKE: Final = (bytes, bytearray, memoryview)


def encode_body(body: Any, content_type: ContentType, *, field: str = "body") -> bytes:
    """``body`` encoded as ``content_type`` (not ``v8``); ``InvalidInput`` when it cannot be."""
    if content_type == "json":
        if isinstance(body, _BYTES_LIKE):
            raise InvalidInput(
                f"{field}: {type(body).__name__} cannot be sent as content_type='json'; "
                "use content_type='bytes'",
                field=field,
            )
        try:
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidInput(
                f"{field}: not JSON-serialisable for content_type='json' ({exc})", field=field
            ) from None
        check_js_safe(body, field=field)  # the consumer parses it in JavaScript
        return _utf8(text, field)
    if content_type == "text":
        if not isinstance(body, str):
            raise InvalidInput(
                f"{field}: content_type='text' needs a str, got {type(body).__name__}", field=field
            )
        if "\x00" in body:  # the Workers runtime cuts a text body at its first NUL
            raise InvalidInput(
                f"{field}: a text body cannot hold U+0000 (NUL), which Workers would cut it at (offset "
                f"{body.index(chr(0))}); send it as json or bytes",
                field=field,
            )
        return _utf8(body, field)
    if content_type == "bytes":
        if not isinstance(body, _BYTES_LIKE):
            raise InvalidInput(
                f"{field}: content_type='bytes' needs bytes, bytearray or memoryview, "
                f"got {type(body).__name__}",
                field=field,
            )
        return bytes(body)
    raise Unsupported(
        "content_type='v8' is the Workers runtime's structured clone; only a Worker can encode it. "
        "Use 'json' (or 'bytes' for binary data) outside a Worker",
    )


def _utf8(text: str, field: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{field}: text is not encodable as UTF-8 (lone surrogate at position {exc.start})", field=field
        ) from None


def decode_body(data: bytes, content_type: str, *, message_id: str | None = None) -> Any:
    """The Python value of a stored body: JSON parsed, text decoded, bytes as they are."""
    if content_type == "json":
        return json.loads(data)
    if content_type == "text":
        return data.decode("utf-8")
    if content_type == "bytes":
        return bytes(data)
    where = f" (message {message_id})" if message_id else ""
    raise Unsupported(f"cannot decode a body of content type {content_type!r}{where} outside a Worker")


def estimate_v8_size(value: Any, *, _depth: int = 0) -> int:
    """A rough size of ``value`` once structured-cloned: strings and buffers by length, containers
    summed. Good enough to refuse bodies that are clearly too large before the runtime does."""
    if _depth > 64:
        raise InvalidInput("body: nested too deeply to send", field="body")
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 9
    if isinstance(value, str):
        return len(value.encode("utf-8", errors="surrogatepass")) + 5
    if isinstance(value, _BYTES_LIKE):
        return len(memoryview(value).cast("B")) + 5
    if isinstance(value, _dt.datetime | _dt.date):
        return 9
    if isinstance(value, Mapping):
        return 3 + sum(
            estimate_v8_size(str(k), _depth=_depth + 1) + estimate_v8_size(v, _depth=_depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(estimate_v8_size(v, _depth=_depth + 1) for v in value)
    return 16  # a JS proxy or another value the FFI converts; the runtime measures the real thing
