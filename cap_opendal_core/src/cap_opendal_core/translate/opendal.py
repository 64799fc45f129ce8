"""OpenDAL exceptions → :class:`CapabilityError`.

The classes in ``opendal.exceptions`` (0.47) share no useful base class and expose no "temporary"
flag; the message does: ``"Kind (temporary|permanent|persistent) at op => message"``, followed by
``Context:`` lines (``service``, ``path``, for HTTP services ``uri`` and ``response: Parts { status:
NNN, … headers … }``), a ``Source:`` and a ``Backtrace:``. This module reads the class *name* (so
opendal is never imported) and that text. OpenDAL's own meaning of the status: *temporary* may be
retried, *permanent* must not, *persistent* was temporary but OpenDAL's retry layer already gave up.

==================  ========================================================================
OpenDAL class       error (retryable)
==================  ========================================================================
NotFound            NotFound
AlreadyExists       AlreadyExists
ConditionNotMatch   PreconditionFailed (conditional write/read did not hold)
Conflict            PreconditionFailed; retryable unless permanent (S3 409: a conflicting
                    conditional request is in flight)
PermissionDenied    Forbidden; Unauthorized when the S3 code says the credentials were
                    rejected (``SignatureDoesNotMatch``, ``InvalidAccessKeyId`` …)
RateLimited         RateLimited, retryable; ``retry_after`` from the
                    response's ``retry-after`` header when OpenDAL kept it
Unsupported         Unsupported; Misconfigured for "scheme is not registered"
ConfigInvalid       Misconfigured
IsADirectory,       InvalidInput (the key names a directory / goes through a file)
NotADirectory
IsSameFile          InvalidInput (copy/rename onto itself)
RangeNotSatisfied   InvalidInput (``field="range"``)
Unexpected, Error   refined, in order, by: the S3 error code in the message; the HTTP status in
(and any class      ``response: Parts { status: … }`` (the HTTP table of
added later)        :mod:`~cap_opendal_core.translate.http`); the OS error in ``Source:``
                    (ENOTDIR → InvalidInput, ENOSPC → LimitExceeded …); a transport failure
                    ("error sending request", connection refused/reset) → Unavailable.
                    Otherwise: temporary or persistent → Unavailable (retryable),
                    permanent → BackendError.
==================  ========================================================================

For every class an S3 error code in the message (``S3Error { code: "NoSuchBucket" … }``) takes
precedence, so a missing bucket is ``Misconfigured`` rather than a ``NotFound`` a KV-style ``get``
would turn into ``None``. "persistent" is judged like "temporary" — the fault was transient, so
trying again later may still help (as for any other backend once its retries are spent; capabilities
on OpenDAL turn the pipeline's own retry off, so nothing retries twice) — and the error gets a note
that OpenDAL's retries are spent, so a 503 outage is transient on R2 as on KV's REST backend. The
message keeps OpenDAL's first line and context (scrubbed: a presigned URL in ``uri`` loses its
signature) and drops the backtrace.
"""

from __future__ import annotations

import re
from typing import Final

from .. import errors
from ._common import UNAVAILABLE, LazyPattern, Spec, build
from .http import parse_retry_after, s3_code_spec, status_spec

__all__ = ["OPENDAL_CLASS_SPECS", "from_opendal", "is_opendal_exception"]

# Classes whose meaning does not depend on the temporary/permanent status.
OPENDAL_CLASS_SPECS: Final = {
    "NotFound": Spec(errors.NotFound),
    "AlreadyExists": Spec(errors.AlreadyExists),
    "ConditionNotMatch": Spec(errors.PreconditionFailed),
    "PermissionDenied": Spec(errors.Forbidden),
    "Unsupported": Spec(errors.Unsupported),
    "ConfigInvalid": Spec(errors.Misconfigured),
    "IsADirectory": Spec(errors.InvalidInput, field="key"),
    "NotADirectory": Spec(errors.InvalidInput, field="key"),
    "IsSameFile": Spec(errors.InvalidInput),
    "RangeNotSatisfied": Spec(errors.InvalidInput, field="range"),
    "InvalidInput": Spec(errors.InvalidInput),  # newer OpenDAL releases
}

# The OS error texts (Rust's io::Error display, i.e. strerror) OpenDAL's fs service reports as
# "Unexpected (temporary)" although retrying cannot help.
_OS_ERRORS: Final = (
    ("Not a directory", Spec(errors.InvalidInput, field="key")),
    ("Is a directory", Spec(errors.InvalidInput, field="key")),
    ("No such file or directory", Spec(errors.NotFound)),
    ("File exists", Spec(errors.AlreadyExists)),
    ("Permission denied", Spec(errors.Forbidden)),
    ("Operation not permitted", Spec(errors.Forbidden)),
    ("Read-only file system", Spec(errors.Forbidden)),
    ("No space left on device", Spec(errors.LimitExceeded, limit="{capability}.storage_bytes")),
    ("Disk quota exceeded", Spec(errors.LimitExceeded, limit="{capability}.storage_bytes")),
    ("File too large", Spec(errors.LimitExceeded, limit="{capability}.object_bytes")),
    ("File name too long", Spec(errors.LimitExceeded, limit="{capability}.key_bytes")),
    ("Directory not empty", Spec(errors.PreconditionFailed)),
)

_TRANSPORT: Final = LazyPattern(
    r"error sending request|connection (?:refused|reset|closed|aborted)|broken pipe|dns error|"
    r"timed out|network is unreachable|no route to host|incomplete message|unexpected eof",
    re.IGNORECASE,
)
_STATUS_WORD: Final = LazyPattern(r"\((temporary|permanent|persistent)\)")
_TRANSIENT_WORDS: Final = ("temporary", "persistent")
"""OpenDAL's words for a transient fault: persistent is temporary after its retry layer gave up."""
_HTTP_STATUS: Final = LazyPattern(r"\bstatus: (\d{3})\b")
_S3_CODE: Final = LazyPattern(r'S3Error \{ code: "(\w+)"|<Code>(\w+)</Code>')
_RETRY_AFTER: Final = LazyPattern(r'"retry-after": "([^"]*)"', re.IGNORECASE)
_SCHEME_UNKNOWN: Final = "scheme is not registered"


def is_opendal_exception(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by OpenDAL (judged by its module; opendal is not imported)."""
    return (type(exc).__module__ or "").partition(".")[0] == "opendal"


class _Parsed:
    """An OpenDAL message taken apart: head line, status word, context, source, HTTP details."""

    __slots__ = ("context", "head", "http_status", "retry_after", "s3_code", "source", "status")

    def __init__(self, head: str, status: str | None) -> None:
        self.head = head
        self.status = status
        self.context: list[tuple[str, str]] = []
        self.source = ""
        self.http_status: int | None = None
        self.s3_code: str | None = None
        self.retry_after: float | None = None

    def summary(self) -> str:
        parts = [self.head]
        shown = [f"{k}: {v}" for k, v in self.context if k != "response"]
        if self.http_status is not None:
            shown.append(f"http_status: {self.http_status}")
        if shown:
            parts.append(f" ({', '.join(shown)})")
        if self.source:
            parts.append(f"; source: {self.source}")
        return "".join(parts)


def _parse(text: str) -> _Parsed:
    """Split an OpenDAL message into its head line, context, source and HTTP details."""
    body = text.split("\nBacktrace:", 1)[0]
    lines = body.splitlines() or [""]
    status = _STATUS_WORD.search(lines[0])
    parsed = _Parsed(head=lines[0].strip(), status=status.group(1) if status else None)
    section = None
    source: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if not stripped:
            section = None
        elif stripped in ("Context:", "Source:"):
            section = stripped
        elif section == "Context:":
            name, _, value = stripped.partition(": ")
            parsed.context.append((name, value))
        elif section == "Source:":
            source.append(stripped)
    parsed.source = " ".join(source)
    http = _HTTP_STATUS.search(body)
    parsed.http_status = int(http.group(1)) if http else None
    s3 = _S3_CODE.search(body)
    parsed.s3_code = (s3.group(1) or s3.group(2)) if s3 else None
    retry_after = _RETRY_AFTER.search(body)
    parsed.retry_after = parse_retry_after(retry_after.group(1)) if retry_after else None
    return parsed


def _by_status_word(parsed: _Parsed) -> Spec:
    if parsed.status in _TRANSIENT_WORDS:
        return UNAVAILABLE
    return Spec(errors.BackendError, retryable=False)


def _refine_unexpected(parsed: _Parsed, text: str) -> Spec:
    """Decide for ``Unexpected``/``Error``/unknown classes, most specific evidence first."""
    if parsed.http_status is not None and parsed.http_status >= 300:
        spec = status_spec(parsed.http_status)
        if parsed.status in _TRANSIENT_WORDS and spec.kind in (errors.Unavailable, errors.BackendError):
            return spec.but(retryable=True)
        return spec
    for strerror, spec in _OS_ERRORS:
        if strerror in parsed.source:
            return spec
    if _TRANSPORT.search(parsed.source) or _TRANSPORT.search(parsed.head):
        return UNAVAILABLE
    return _by_status_word(parsed)


def _decide(name: str, parsed: _Parsed, text: str) -> Spec:
    by_s3 = s3_code_spec(parsed.s3_code)
    if by_s3 is not None:
        return by_s3
    fixed = OPENDAL_CLASS_SPECS.get(name)
    if fixed is not None:
        if name == "Unsupported" and _SCHEME_UNKNOWN in text:
            return Spec(errors.Misconfigured)
        return fixed
    if name == "RateLimited":
        return Spec(errors.RateLimited, retryable=True)
    if name == "Conflict":
        return Spec(errors.PreconditionFailed, retryable=parsed.status in _TRANSIENT_WORDS)
    return _refine_unexpected(parsed, text)


def from_opendal(
    exc: BaseException,
    *,
    capability: str | None,
    operation: str | None,
    key: str | None = None,
) -> errors.CapabilityError:
    """Translate any ``opendal.exceptions`` error; other exceptions go to :func:`from_exception`."""
    if not is_opendal_exception(exc):
        from . import from_exception

        return from_exception(exc, capability=capability, operation=operation, key=key)
    try:
        text = str(exc)
    except Exception:  # pragma: no cover - a native exception whose str() fails
        text = type(exc).__name__
    parsed = _parse(text)
    spec = _decide(type(exc).__name__, parsed, text)
    error = build(
        spec,
        parsed.summary(),
        capability=capability,
        operation=operation,
        key=key,
        cause=exc,
        retry_after=parsed.retry_after,
    )
    if parsed.status == "persistent" and error.retryable:
        error.add_note("OpenDAL's retry layer already retried this call and gave up")
    return error
