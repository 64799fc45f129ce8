"""Argument checks against R2's documented limits, run before any I/O on every backend.

Each check raises :class:`~cap_opendal_core.errors.InvalidInput` (malformed: ``field`` names the
argument) or :class:`~cap_opendal_core.errors.LimitExceeded` (a documented limit: ``limit`` names it,
``value`` and ``maximum`` say by how much). Messages name what was wrong but never echo values that
may be large or private (object bodies, metadata values).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from cap_opendal_core.checks import check_at_most, check_utf8_size, is_int, utf8_size
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.show import show

from . import limits
from .conditions import normalize_etag
from .models import (
    CHECKSUM_ALGORITHMS,
    CRC_CHECKSUM_ALGORITHMS,
    HTTP_METADATA_FIELDS,
    R2Conditional,
    R2HttpMetadata,
    R2Range,
    R2UploadedPart,
)
from .options import ListOptions

__all__ = [
    "check_checksums",
    "check_conditional",
    "check_custom_metadata",
    "check_delete_keys",
    "check_http_metadata",
    "check_key",
    "check_list_options",
    "check_part_number",
    "check_parts",
    "check_presign",
    "check_range",
    "check_upload_id",
]

CAPABILITY: Final = "r2"
_DIGEST_HEX_LENGTH: Final = {"md5": 32, "sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}
_HEX: Final = re.compile(r"[0-9a-fA-F]*")
_BASE64_4: Final = re.compile(r"[A-Za-z0-9+/]{5}[AQgw]==")  # exactly 4 bytes, canonical
_HEADER_UNSAFE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_INCLUDE: Final = {"http_metadata": "http_metadata", "custom_metadata": "custom_metadata"}


def _invalid(message: str, field: str, operation: str | None, key: str | None = None) -> InvalidInput:
    return InvalidInput(message, field=field, capability=CAPABILITY, operation=operation, key=key)


def _utf8_len(text: str, field: str, operation: str | None) -> int:
    return utf8_size(text, field=field, capability=CAPABILITY, operation=operation)


def check_key(key: object, *, operation: str | None = None, field: str = "key") -> str:
    """A key is a non-empty ``str`` of at most 1024 UTF-8 bytes."""
    if not isinstance(key, str):
        raise _invalid(f"{field} must be a str, got {type(key).__name__}", field, operation)
    if not key:
        raise _invalid(f"{field} must not be empty", field, operation)
    check_utf8_size(
        key,
        field=field,
        high=limits.KEY_MAX_BYTES,
        limit="r2.key_bytes",
        why=f"R2 keys are at most {limits.KEY_MAX_BYTES} bytes",
        capability=CAPABILITY,
        operation=operation,
    )
    return key


def check_custom_metadata(value: object, *, operation: str | None = None) -> dict[str, str]:
    """Custom metadata: a mapping of non-empty ``str`` names to ``str`` values, ≤ 8192 bytes in all."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(
            f"custom_metadata must be a mapping of str to str, got {type(value).__name__}",
            "custom_metadata",
            operation,
        )
    total = 0
    out: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise _invalid(
                f"custom_metadata names must be non-empty str, got {show(name)}", "custom_metadata", operation
            )
        if not isinstance(item, str):
            raise _invalid(
                f"custom_metadata[{name!r}] must be a str, got {type(item).__name__} "
                "(R2 stores metadata values as text: convert it yourself)",
                "custom_metadata",
                operation,
            )
        total += _utf8_len(name, "custom_metadata", operation) + _utf8_len(item, "custom_metadata", operation)
        out[name] = item
    check_at_most(
        total,
        limits.CUSTOM_METADATA_MAX_BYTES,
        limit="r2.custom_metadata_bytes",
        message=(
            f"custom_metadata is {total} bytes (names and values, UTF-8); R2 allows at most "
            f"{limits.CUSTOM_METADATA_MAX_BYTES}"
        ),
        capability=CAPABILITY,
        operation=operation,
    )
    return out


def check_http_metadata(value: object, *, operation: str | None = None) -> R2HttpMetadata:
    """``R2HttpMetadata`` or a mapping of its field names (snake_case or R2's camelCase)."""
    if value is None:
        return R2HttpMetadata()
    if isinstance(value, R2HttpMetadata):
        metadata = value
    elif isinstance(value, Mapping):
        known = {name for pair in HTTP_METADATA_FIELDS for name in pair}
        unknown = sorted(str(k) for k in value if k not in known)
        if unknown:
            names = ", ".join(name for name, _ in HTTP_METADATA_FIELDS)
            raise _invalid(
                f"http_metadata has unknown field(s) {', '.join(unknown)} (known: {names})",
                "http_metadata",
                operation,
            )
        values: dict[str, Any] = {}
        for name, js_name in HTTP_METADATA_FIELDS:
            if name in value and js_name in value:
                raise _invalid(f"http_metadata gives {name} twice", "http_metadata", operation)
            if name in value or js_name in value:
                values[name] = value[name] if name in value else value[js_name]
        try:
            metadata = R2HttpMetadata(**values)
        except TypeError as exc:  # pragma: no cover - names were checked above
            raise _invalid(str(exc), "http_metadata", operation) from None
    else:
        raise _invalid(
            f"http_metadata must be an R2HttpMetadata or a mapping, got {type(value).__name__}",
            "http_metadata",
            operation,
        )
    for name, _ in HTTP_METADATA_FIELDS:
        item = getattr(metadata, name)
        if item is None:
            continue
        if name == "cache_expiry":
            if not isinstance(item, _dt.datetime):
                raise _invalid(
                    f"http_metadata.cache_expiry must be a datetime, got {type(item).__name__}",
                    "http_metadata",
                    operation,
                )
            continue
        if not isinstance(item, str):
            raise _invalid(
                f"http_metadata.{name} must be a str, got {type(item).__name__}", "http_metadata", operation
            )
        if _HEADER_UNSAFE.search(item):
            raise _invalid(
                f"http_metadata.{name} holds a control character (line breaks cannot go in an HTTP header)",
                "http_metadata",
                operation,
            )
    return metadata


def _non_negative_int(value: object, name: str, operation: str | None, *, minimum: int) -> int:
    if not is_int(value) or value < minimum:
        raise _invalid(f"range.{name} must be an int >= {minimum}, got {show(value)}", "range", operation)
    return value


def check_range(value: object, *, operation: str | None = "get") -> R2Range | None:
    """``R2Range`` or a mapping: ``offset`` (≥ 0) with optional ``length`` (≥ 1), or ``suffix`` (≥ 1)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in ("offset", "length", "suffix"))
        if unknown:
            raise _invalid(
                f"range has unknown field(s) {', '.join(unknown)} (offset, length, suffix)",
                "range",
                operation,
            )
        value = R2Range(offset=value.get("offset"), length=value.get("length"), suffix=value.get("suffix"))
    if not isinstance(value, R2Range):
        raise _invalid(
            f"range must be an R2Range or a mapping, got {type(value).__name__}", "range", operation
        )
    if value.suffix is not None:
        if value.offset is not None or value.length is not None:
            raise _invalid("range takes either suffix or offset/length, not both", "range", operation)
        _non_negative_int(value.suffix, "suffix", operation, minimum=1)
        return value
    if value.offset is None and value.length is None:
        raise _invalid("range needs offset, length or suffix", "range", operation)
    if value.offset is not None:
        _non_negative_int(value.offset, "offset", operation, minimum=0)
    if value.length is not None:
        _non_negative_int(value.length, "length", operation, minimum=1)
    return value


def _check_etag_condition(value: object, name: str, operation: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"only_if.{name} must be a str, got {type(value).__name__}", "only_if", operation)
    try:
        normalize_etag(value)
    except ValueError as exc:
        raise _invalid(f"only_if.{name}: {exc}", "only_if", operation) from None
    return value


def check_conditional(value: object, *, operation: str | None = None) -> R2Conditional | None:
    """``R2Conditional`` or a mapping of its field names; None (or an empty one) means no condition."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        names = {
            "etag_matches": "etagMatches",
            "etag_does_not_match": "etagDoesNotMatch",
            "uploaded_before": "uploadedBefore",
            "uploaded_after": "uploadedAfter",
            "seconds_granularity": "secondsGranularity",
        }
        accepted = set(names) | set(names.values())
        unknown = sorted(str(k) for k in value if k not in accepted)
        if unknown:
            raise _invalid(
                f"only_if has unknown field(s) {', '.join(unknown)} (known: {', '.join(names)})",
                "only_if",
                operation,
            )
        fields = {py: value.get(py, value.get(js)) for py, js in names.items()}
        fields["seconds_granularity"] = bool(fields["seconds_granularity"] or False)
        value = R2Conditional(**fields)
    if not isinstance(value, R2Conditional):
        raise _invalid(
            f"only_if must be an R2Conditional or a mapping, got {type(value).__name__}", "only_if", operation
        )
    _check_etag_condition(value.etag_matches, "etag_matches", operation)
    _check_etag_condition(value.etag_does_not_match, "etag_does_not_match", operation)
    for name in ("uploaded_before", "uploaded_after"):
        moment = getattr(value, name)
        if moment is not None and not isinstance(moment, _dt.datetime):
            raise _invalid(
                f"only_if.{name} must be a datetime, got {type(moment).__name__}", "only_if", operation
            )
    if not isinstance(value.seconds_granularity, bool):
        raise _invalid("only_if.seconds_granularity must be a bool", "only_if", operation)
    return None if value.is_empty() else value


def _check_crc(name: str, value: object, operation: str | None) -> str:
    """A CRC as S3 takes it (the base64 of the big-endian 4 bytes, e.g. ``"4waSgw=="``), as 8 hex
    digits, or as the 4 raw bytes → 8 lower-case hex digits."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) != 4:
            raise _invalid(
                f"{name} must be 4 CRC bytes, 8 hex digits or their base64, got {len(raw)} bytes",
                name,
                operation,
            )
        return raw.hex()
    if isinstance(value, str):
        if len(value) == 8 and _HEX.fullmatch(value):
            return value.lower()
        if len(value) == 8 and _BASE64_4.fullmatch(value):
            import base64

            return base64.b64decode(value, validate=True).hex()
        raise _invalid(
            f"{name} must be the base64 of the 4-byte big-endian CRC (8 characters ending '=='), "
            "8 hex digits, or the 4 raw bytes",
            name,
            operation,
        )
    raise _invalid(
        f"{name} must be a base64 or hex str, or 4 CRC bytes, got {type(value).__name__}", name, operation
    )


def check_checksums(given: Mapping[str, object], *, operation: str | None = "put") -> dict[str, str]:
    """At most one of md5/sha1/sha256/sha384/sha512 (hex text or raw digest bytes) or crc32/crc32c
    (base64 as S3 takes it, hex, or the 4 raw bytes) → lower-case hex."""
    out: dict[str, str] = {}
    for name in CHECKSUM_ALGORITHMS:
        value = given.get(name)
        if value is None:
            continue
        expected = _DIGEST_HEX_LENGTH[name]
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            if len(raw) * 2 != expected:
                raise _invalid(
                    f"{name} must be {expected // 2} digest bytes or {expected} hex digits, "
                    f"got {len(raw)} bytes",
                    name,
                    operation,
                )
            text = raw.hex()
        elif isinstance(value, str):
            if len(value) != expected or not _HEX.fullmatch(value):
                raise _invalid(f"{name} must be {expected} hex digits", name, operation)
            text = value.lower()
        else:
            raise _invalid(
                f"{name} must be hex str or digest bytes, got {type(value).__name__}", name, operation
            )
        out[name] = text
    for name in CRC_CHECKSUM_ALGORITHMS:
        value = given.get(name)
        if value is not None:
            out[name] = _check_crc(name, value, operation)
    if len(out) > 1:
        raise _invalid(
            f"give at most one checksum; got {', '.join(out)} (R2 verifies a single algorithm per put)",
            next(iter(out)),
            operation,
        )
    return out


def check_storage_class(value: object, *, operation: str | None = "put") -> str | None:
    """``Standard`` or ``InfrequentAccess`` (R2's names; None: the bucket's default)."""
    from .models import STORAGE_CLASSES

    if value is None or (isinstance(value, str) and value in STORAGE_CLASSES):
        return value
    raise _invalid(
        f"storage_class must be one of {', '.join(STORAGE_CLASSES)} (R2's names), got {show(value)}",
        "storage_class",
        operation,
    )


def check_progress(value: object, *, operation: str | None = "put") -> Any:
    """A callable taking (bytes so far, total or None), or None."""
    if value is None or callable(value):
        return value
    raise _invalid(
        f"on_progress must be a callable taking (bytes so far, total or None), got {type(value).__name__}",
        "on_progress",
        operation,
    )


def check_delete_keys(keys: object) -> list[str]:
    """One key, or a list/tuple of at most 1000 keys (an empty list is a no-op)."""
    if isinstance(keys, str):
        return [check_key(keys, operation="delete")]
    if isinstance(keys, Mapping) or not isinstance(keys, Iterable) or isinstance(keys, bytes | bytearray):
        raise _invalid(f"delete takes a key or a list of keys, got {type(keys).__name__}", "keys", "delete")
    out = list(keys)
    check_at_most(
        len(out),
        limits.DELETE_MAX_KEYS,
        limit="r2.delete_keys",
        message=f"delete got {len(out)} keys; R2 deletes at most {limits.DELETE_MAX_KEYS} per call",
        capability=CAPABILITY,
        operation="delete",
    )
    return [check_key(key, operation="delete", field=f"keys[{i}]") for i, key in enumerate(out)]


def _optional_str(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a str, got {type(value).__name__}", name, "list")
    _utf8_len(value, name, "list")
    return value


def check_list_options(
    *,
    prefix: object = None,
    delimiter: object = None,
    cursor: object = None,
    limit: object = limits.LIST_LIMIT_MAX,
    start_after: object = None,
    include: object = (),
) -> ListOptions:
    """``list`` arguments: ``limit`` 1-1000; ``include`` of ``http_metadata`` / ``custom_metadata``."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise _invalid(f"limit must be an int, got {type(limit).__name__}", "limit", "list")
    if not limits.LIST_LIMIT_MIN <= limit <= limits.LIST_LIMIT_MAX:
        raise _invalid(
            f"limit must be between {limits.LIST_LIMIT_MIN} and {limits.LIST_LIMIT_MAX}, got {show(limit)}",
            "limit",
            "list",
        )
    if include is None:
        include = ()
    if isinstance(include, str) or not isinstance(include, Iterable):
        raise _invalid(
            "include must be a collection such as ('http_metadata', 'custom_metadata')", "include", "list"
        )
    wanted = set()
    for item in include:
        if item not in _INCLUDE:
            raise _invalid(
                f"include accepts 'http_metadata' and 'custom_metadata', got {show(item)}", "include", "list"
            )
        wanted.add(_INCLUDE[item])
    delimiter_text = _optional_str(delimiter, "delimiter")
    return ListOptions(
        prefix=_optional_str(prefix, "prefix") or "",
        delimiter=delimiter_text or None,
        cursor=_optional_str(cursor, "cursor") or None,
        start_after=_optional_str(start_after, "start_after"),
        limit=limit,
        include_http_metadata="http_metadata" in wanted,
        include_custom_metadata="custom_metadata" in wanted,
    )


def check_part_number(value: object, *, operation: str = "upload_part", field: str = "part_number") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{field} must be an int, got {type(value).__name__}", field, operation)
    if not limits.PART_NUMBER_MIN <= value <= limits.PART_NUMBER_MAX:
        raise _invalid(
            f"{field} must be between {limits.PART_NUMBER_MIN} and {limits.PART_NUMBER_MAX}, "
            f"got {show(value)}",
            field,
            operation,
        )
    return value


def check_parts(parts: object) -> list[R2UploadedPart]:
    """``complete``'s parts: 1-10,000 ``R2UploadedPart`` (or ``{part_number, etag}``), numbers unique;
    returned in ascending part-number order (the order S3 requires and R2 assembles in)."""
    if isinstance(parts, str | bytes | Mapping) or not isinstance(parts, Iterable):
        raise _invalid("parts must be a list of R2UploadedPart", "parts", "complete")
    out: list[R2UploadedPart] = []
    for i, part in enumerate(parts):
        if isinstance(part, Mapping):
            number = part.get("part_number", part.get("partNumber"))
            etag = part.get("etag")
        elif isinstance(part, R2UploadedPart):
            number, etag = part.part_number, part.etag
        else:
            raise _invalid(
                f"parts[{i}] must be an R2UploadedPart, got {type(part).__name__}", "parts", "complete"
            )
        check_part_number(number, operation="complete", field=f"parts[{i}].part_number")
        if not isinstance(etag, str) or not etag:
            raise _invalid(f"parts[{i}].etag must be a non-empty str", "parts", "complete")
        out.append(R2UploadedPart(part_number=number, etag=etag))
    if not out:
        raise _invalid("complete needs at least one part", "parts", "complete")
    check_at_most(
        len(out),
        limits.MULTIPART_MAX_PARTS,
        limit="r2.multipart_parts",
        message=f"complete got {len(out)} parts; a multipart upload has at most {limits.MULTIPART_MAX_PARTS}",
        capability=CAPABILITY,
        operation="complete",
    )
    numbers = [p.part_number for p in out]
    if len(set(numbers)) != len(numbers):
        duplicated = sorted({n for n in numbers if numbers.count(n) > 1})
        raise _invalid(f"parts lists part number(s) {duplicated} more than once", "parts", "complete")
    return sorted(out, key=lambda p: p.part_number)


def check_upload_id(value: object, *, operation: str) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid("upload_id must be a non-empty str", "upload_id", operation)
    return value


def check_presign(method: object, expires_in: object) -> tuple[str, int]:
    if method not in ("GET", "PUT"):
        raise _invalid(f"method must be 'GET' or 'PUT', got {show(method)}", "method", "presign")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int):
        raise _invalid(
            f"expires_in must be an int (seconds), got {show(expires_in)}", "expires_in", "presign"
        )
    if not limits.PRESIGN_MIN_SECONDS <= expires_in <= limits.PRESIGN_MAX_SECONDS:
        raise _invalid(
            f"expires_in must be between {limits.PRESIGN_MIN_SECONDS} and {limits.PRESIGN_MAX_SECONDS} "
            f"seconds, got {show(expires_in)}",
            "expires_in",
            "presign",
        )
    return str(method), expires_in
