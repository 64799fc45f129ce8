"""HTTP status + Cloudflare API envelope → :class:`CapabilityError`.

The status decides first; a known error code in the body then refines it, because the same status
means different things (a 404 for a missing *key* is data, a 404 for a missing *namespace* is a
broken configuration — and a KV backend that turns ``NotFound`` into ``None`` must not swallow the
second).

Status table (``retryable`` is the class default unless noted):

========================  =====================================================
status                    error
========================  =====================================================
304                       PreconditionFailed (an ``If-None-Match`` held)
400, 406, 411, 415, 422   InvalidInput (416: ``field="range"``)
401                       Unauthorized
402, 403                  Forbidden
404, 410                  NotFound
405, 501                  Unsupported
408, 425                  Unavailable, retryable
409                       AlreadyExists (a Cloudflare code may say PreconditionFailed)
412, 428                  PreconditionFailed
413 / 414 / 431           LimitExceeded (request / URI / header size)
429                       RateLimited, ``retry_after`` from ``Retry-After``
500, 502-504, other 5xx   Unavailable, retryable, ``retry_after`` from ``Retry-After``
anything else             BackendError, not retryable
========================  =====================================================

Cloudflare error codes (``errors[].code``, also inside ``error_chain``) are looked up per service,
because the numbers overlap: ``10009`` is "key not found" for KV but "TooManyBuckets" for R2. Each
service's table lives in its capability package and is registered through
:mod:`~cap_opendal_core.translate.services`; this module keeps only the account-wide codes (10000,
7000/7003, 6003/6103/6111, 9109, as seen in Cloudflare API responses).
Unknown codes leave the status decision alone. S3-style XML bodies (``<Code>NoSuchKey</Code>``)
are understood too, for R2's S3 API.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from .. import errors
from ._common import UNAVAILABLE, LazyPattern, Spec, build, limit_numbers, refine_limit
from .services import registered_services, service_of

__all__ = [
    "COMMON_CODES",
    "S3_CODES",
    "STATUS_SPECS",
    "cloudflare_code_spec",
    "from_http",
    "header",
    "parse_retry_after",
    "s3_code_spec",
    "status_spec",
]

# --- Retry-After ------------------------------------------------------------------------------

_SECONDS: Final = LazyPattern(r"^\d+(?:\.\d+)?$")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value: delta-seconds or an HTTP date.

    A date in the past gives ``0.0``; anything unparsable (or negative) gives ``None``.
    ``now`` (epoch seconds) is for tests.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if _SECONDS.match(text):
        return float(text)
    from email.utils import parsedate_to_datetime  # lazy: only when a server sent a date

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means "no zone given"
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def header(headers: Mapping[str, str] | Any | None, name: str) -> str | None:
    """A header value by case-insensitive name from a plain dict or an httpx-style ``Headers``."""
    if headers is None:
        return None
    wanted = name.lower()
    try:
        items: Iterable[tuple[Any, Any]] = headers.items()
    except AttributeError:
        return None
    for key, value in items:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if isinstance(key, str) and key.lower() == wanted:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


# --- statuses ---------------------------------------------------------------------------------


STATUS_SPECS: Final[Mapping[int, Spec]] = {
    304: Spec(errors.PreconditionFailed),
    400: Spec(errors.InvalidInput),
    401: Spec(errors.Unauthorized),
    402: Spec(errors.Forbidden),
    403: Spec(errors.Forbidden),
    404: Spec(errors.NotFound),
    405: Spec(errors.Unsupported),
    406: Spec(errors.InvalidInput),
    408: UNAVAILABLE,
    409: Spec(errors.AlreadyExists),
    410: Spec(errors.NotFound),
    411: Spec(errors.InvalidInput),
    412: Spec(errors.PreconditionFailed),
    413: Spec(errors.LimitExceeded, limit="{capability}.request_bytes"),
    414: Spec(errors.LimitExceeded, limit="{capability}.uri_length"),
    415: Spec(errors.InvalidInput),
    416: Spec(errors.InvalidInput, field="range"),
    422: Spec(errors.InvalidInput),
    425: UNAVAILABLE,
    428: Spec(errors.PreconditionFailed),
    429: Spec(errors.RateLimited, retryable=True),
    431: Spec(errors.LimitExceeded, limit="{capability}.header_bytes"),
    500: UNAVAILABLE,
    501: Spec(errors.Unsupported),
    502: UNAVAILABLE,
    503: UNAVAILABLE,
    504: UNAVAILABLE,
}


def status_spec(status: int) -> Spec:
    """The row of the status table for ``status`` (see the module docstring)."""
    spec = STATUS_SPECS.get(status)
    if spec is not None:
        return spec
    if 500 <= status <= 599:  # includes Cloudflare's 520-530 origin errors
        return UNAVAILABLE
    return Spec(errors.BackendError, retryable=False)


# --- Cloudflare error codes -------------------------------------------------------------------

COMMON_CODES: Final[Mapping[int, Spec]] = {
    7000: Spec(errors.Misconfigured),  # "No route for that URI" (wrong account id / path)
    7003: Spec(errors.Misconfigured),  # "No route for the URI"
    6003: Spec(errors.InvalidInput),  # "Invalid request headers" (its error_chain says which)
    6103: Spec(errors.Unauthorized),  # "Invalid format for X-Auth-Key header"
    6111: Spec(errors.Unauthorized),  # "Invalid format for Authorization header"
    # "Unauthorized to access requested resource" (the token lacks the permission)
    9109: Spec(errors.Forbidden),
    10000: Spec(errors.Unauthorized),  # "Authentication error"
}


def cloudflare_code_spec(service: str | None, code: int) -> Spec | None:
    """The mapping for a Cloudflare error ``code`` of ``service`` (a registered service's table,
    see :mod:`.services`), else the account-wide codes every service shares."""
    table = registered_services().get(service) if service is not None else None
    if table is not None and code in table.codes:
        return table.codes[code]
    return COMMON_CODES.get(code)


# --- S3 error codes (R2's S3 API, OpenDAL's s3 service) ------------------------------------------

S3_CODES: Final[Mapping[str, Spec]] = {
    "NoSuchKey": Spec(errors.NotFound),
    "NoSuchUpload": Spec(errors.NotFound),
    "NoSuchVersion": Spec(errors.NotFound),
    "NoSuchBucket": Spec(errors.Misconfigured),
    "InvalidBucketName": Spec(errors.Misconfigured),
    "AccessDenied": Spec(errors.Forbidden),
    "AllAccessDisabled": Spec(errors.Forbidden),
    "InvalidAccessKeyId": Spec(errors.Unauthorized),
    "SignatureDoesNotMatch": Spec(errors.Unauthorized),
    "ExpiredToken": Spec(errors.Unauthorized),
    "InvalidToken": Spec(errors.Unauthorized),
    "ExpiredRequest": Spec(errors.Unauthorized),
    "Unauthorized": Spec(errors.Unauthorized),
    "RequestTimeTooSkewed": Spec(errors.Misconfigured),
    "PreconditionFailed": Spec(errors.PreconditionFailed),
    "ConditionalRequestConflict": Spec(errors.PreconditionFailed, retryable=True),
    "OperationAborted": Spec(errors.PreconditionFailed, retryable=True),
    "BucketAlreadyExists": Spec(errors.AlreadyExists),
    "BucketAlreadyOwnedByYou": Spec(errors.AlreadyExists),
    "EntityTooLarge": Spec(errors.LimitExceeded, limit="{capability}.object_bytes"),
    "MetadataTooLarge": Spec(errors.LimitExceeded, limit="{capability}.metadata_bytes"),
    "KeyTooLongError": Spec(errors.LimitExceeded, limit="{capability}.key_bytes"),
    "EntityTooSmall": Spec(errors.InvalidInput, field="parts"),  # as complete()'s argument is named
    "InvalidArgument": Spec(errors.InvalidInput),
    "InvalidRequest": Spec(errors.InvalidInput),
    "InvalidPart": Spec(errors.InvalidInput, field="parts"),
    "InvalidPartOrder": Spec(errors.InvalidInput, field="parts"),
    "InvalidDigest": Spec(errors.InvalidInput, field="checksum"),
    "BadDigest": Spec(errors.InvalidInput, field="checksum"),
    "MalformedXML": Spec(errors.InvalidInput),
    "InvalidObjectName": Spec(errors.InvalidInput, field="key"),
    "InvalidRange": Spec(errors.InvalidInput, field="range"),
    "MissingContentLength": Spec(errors.InvalidInput),
    "SlowDown": Spec(errors.RateLimited, retryable=True),
    "TooManyRequests": Spec(errors.RateLimited, retryable=True),
    "InternalError": UNAVAILABLE,
    "ServiceUnavailable": UNAVAILABLE,
    "RequestTimeout": UNAVAILABLE,
    "IncompleteBody": UNAVAILABLE,
    "NotImplemented": Spec(errors.Unsupported),
}


def s3_code_spec(code: str | None) -> Spec | None:
    """The mapping for an S3 error code (``NoSuchKey``, ``SlowDown`` …), if known."""
    return S3_CODES.get(code) if code else None


# --- bodies -----------------------------------------------------------------------------------

_JSON_LIMIT: Final = 1024 * 1024  # parse envelopes up to 1 MiB; a bigger error body is just text
_DETAIL_CHARS: Final = 300  # how much of a non-envelope body goes into the message
_XML_CODE: Final = LazyPattern(r"<Code>\s*([^<]{1,128}?)\s*</Code>", re.IGNORECASE)
_XML_MESSAGE: Final = LazyPattern(r"<Message>\s*([^<]{0,512}?)\s*</Message>", re.IGNORECASE)
_HTML_TITLE: Final = LazyPattern(r"<title[^>]*>\s*([^<]{0,300}?)\s*</title>", re.IGNORECASE)
_SPACE: Final = LazyPattern(r"\s+")


class _Body:
    """What a response body says: Cloudflare ``(code, message)`` pairs, an S3 code, plain text."""

    __slots__ = ("errors", "s3_code", "text")

    def __init__(self) -> None:
        self.errors: list[tuple[int | None, str]] = []
        self.s3_code: str | None = None
        self.text = ""


def _as_code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _walk_errors(items: object, out: list[tuple[int | None, str]], depth: int = 0) -> None:
    """Collect ``(code, message)`` from ``errors`` lists, innermost ``error_chain`` entries first."""
    if depth > 8 or not isinstance(items, list):
        return
    for item in items:
        if isinstance(item, Mapping):
            _walk_errors(item.get("error_chain"), out, depth + 1)
            message = item.get("message")
            out.append((_as_code(item.get("code")), message if isinstance(message, str) else ""))
        elif isinstance(item, str):
            out.append((None, item))


def _from_envelope(data: Mapping[Any, Any], body: _Body) -> None:
    _walk_errors(data.get("errors"), body.errors)
    if not body.errors:
        for name in ("error", "message"):  # non-envelope JSON errors: {"error": "..."}
            value = data.get(name)
            if isinstance(value, str) and value:
                body.errors.append((None, value))
                break
    if not body.errors:
        messages = data.get("messages")
        if isinstance(messages, list):
            body.text = "; ".join(
                m["message"] if isinstance(m, Mapping) and isinstance(m.get("message"), str) else str(m)
                for m in messages[:5]
            )


def _parse_body(raw: bytes | bytearray | memoryview | str | Mapping[Any, Any] | None) -> _Body:
    body = _Body()
    if raw is None:
        return body
    if isinstance(raw, Mapping):
        _from_envelope(raw, body)
        return body
    unit = "bytes"
    if isinstance(raw, bytes | bytearray | memoryview):
        size = len(raw)
        text = bytes(raw[:_JSON_LIMIT]).decode("utf-8", errors="replace")
    else:
        text = str(raw)
        size, unit = len(text), "characters"
        text = text[:_JSON_LIMIT]
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")) and size <= _JSON_LIMIT:
        import json  # lazy: only for error bodies that look like JSON

        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, Mapping):
            _from_envelope(data, body)
            if body.errors or body.text:
                return body
    elif stripped.startswith("<"):
        code = _XML_CODE.search(stripped)
        if code is not None:
            body.s3_code = code.group(1)
            message = _XML_MESSAGE.search(stripped)
            text = message.group(1) if message is not None else ""
            body.errors.append((None, f"{body.s3_code}: {text}" if text else body.s3_code))
            return body
        title = _HTML_TITLE.search(stripped)
        if title is not None:
            body.text = title.group(1)
            return body
    head = _SPACE.sub(" ", stripped[: _DETAIL_CHARS * 4]).strip()
    if len(head) > _DETAIL_CHARS or len(stripped) > _DETAIL_CHARS * 4 or size > _JSON_LIMIT:
        head = f"{head[:_DETAIL_CHARS]}… [{size} {unit} in all]"
    body.text = head
    return body


def _reason(status: int) -> str:
    from http import HTTPStatus  # the standard library's, not this module

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


# --- the translator ---------------------------------------------------------------------------


def from_http(
    status: int,
    body: bytes | str | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    capability: str | None,
    operation: str | None,
    key: str | None = None,
    cause: BaseException | None = None,
) -> errors.CapabilityError:
    """Translate an HTTP error response (status, body, headers) into a :class:`CapabilityError`.

    ``body`` may be raw bytes, text or an already-decoded Cloudflare envelope
    ``{success, errors: [{code, message}], messages, result}``. The message names the status and
    the Cloudflare codes and messages (scrubbed of secrets, clipped); ``retry_after`` comes from
    ``Retry-After`` (seconds or an HTTP date).
    """
    if isinstance(status, bool) or not isinstance(status, int):
        return build(
            Spec(errors.BackendError, retryable=False),
            f"invalid HTTP status {status!r} in an error response",
            capability=capability,
            operation=operation,
            key=key,
            cause=cause,
        )
    parsed = _parse_body(body)
    spec = status_spec(status)
    from_status = True
    service = service_of(capability)
    for code, _message in parsed.errors:
        by_code = cloudflare_code_spec(service, code) if code is not None else None
        if by_code is not None:
            spec, from_status = by_code, False
            break
    else:
        by_s3 = s3_code_spec(parsed.s3_code)
        if by_s3 is not None:
            spec, from_status = by_s3, False

    details = "; ".join(
        f"[{code}] {message}" if code is not None else message
        for code, message in parsed.errors
        if message or code
    )
    if not details:
        details = parsed.text
    reason = _reason(status)
    message = f"HTTP {status}{' ' + reason if reason else ''}" + (f": {details}" if details else "")

    value: int | None = None
    maximum: int | None = None
    if issubclass(spec.kind, errors.LimitExceeded):
        if from_status:  # the status only says "too large"; the text may say what was
            spec = spec.but(limit=refine_limit(details, spec.limit))
        value, maximum = limit_numbers(details)
    return build(
        spec,
        message,
        capability=capability,
        operation=operation,
        key=key,
        cause=cause,
        retry_after=parse_retry_after(header(headers, "retry-after")),
        value=value,
        maximum=maximum,
    )
