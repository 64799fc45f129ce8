"""Error translation: the one home for turning whatever a backend's client raised into a
:class:`~cap_opendal_core.errors.CapabilityError`.

Backends call :func:`from_exception` in their ``except`` clause (``raise from_exception(exc, …) from
exc``); the specialised translators are public for backends that know what they hold:

* :func:`from_opendal` — every class of ``opendal.exceptions`` (table in :mod:`.opendal`);
* :func:`from_http` — an HTTP status plus the Cloudflare API envelope (table in :mod:`.http`);
* :func:`from_httpx` — httpx transport and status errors (:mod:`.http_client`);
* :func:`from_js` — JavaScript errors from Workers bindings under Pyodide (:mod:`.js`).

What one service's codes and JS messages mean lives in its capability package, registered through
:mod:`.services` (:class:`ServiceErrors`); core keeps the mechanism and the generic tables.

Every result carries ``capability``/``operation``/``key``, the original as ``__cause__``, and a
message scrubbed of secrets (:func:`cap_opendal_core.redact.scrub`). None of these modules imports
opendal, httpx or pyodide unless an exception from that library is being translated.
"""

from __future__ import annotations

import errno
from typing import Final

from ..errors import (
    AlreadyExists,
    BackendError,
    CapabilityError,
    DeadlineExceeded,
    Forbidden,
    InvalidInput,
    LimitExceeded,
    NotFound,
    Unsupported,
)
from ._common import UNAVAILABLE, Spec, build, describe
from .http import from_http, parse_retry_after
from .http_client import from_httpx, is_httpx_exception
from .js import from_js, is_js_exception
from .opendal import from_opendal, is_opendal_exception
from .services import JsRule, ServiceErrors, register_service_errors

__all__ = [
    "UNAVAILABLE",
    "JsRule",
    "ServiceErrors",
    "Spec",
    "from_exception",
    "from_http",
    "from_httpx",
    "from_js",
    "from_opendal",
    "parse_retry_after",
    "register_service_errors",
]

# errno names, not numbers: the numbers differ between Linux, macOS and Windows (and some are absent).
_OS_ERRNO: Final = {
    number: spec
    for name, spec in (
        ("ENOSPC", Spec(LimitExceeded, limit="{capability}.storage_bytes")),
        ("EDQUOT", Spec(LimitExceeded, limit="{capability}.storage_bytes")),
        ("EFBIG", Spec(LimitExceeded, limit="{capability}.object_bytes")),
        ("ENAMETOOLONG", Spec(LimitExceeded, limit="{capability}.key_bytes")),
        ("EROFS", Spec(Forbidden)),
        ("ENOTEMPTY", Spec(InvalidInput)),
    )
    if (number := getattr(errno, name, None)) is not None
}


def _os_spec(exc: OSError) -> Spec:
    """Local files (the embedded backends) fail with OSErrors whose kind we know."""
    if isinstance(exc, FileNotFoundError):
        return Spec(NotFound)
    if isinstance(exc, FileExistsError):
        return Spec(AlreadyExists)
    if isinstance(exc, PermissionError):
        return Spec(Forbidden)
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return Spec(InvalidInput, field="key")
    by_errno = _OS_ERRNO.get(exc.errno) if exc.errno is not None else None
    if by_errno is not None:
        return by_errno
    # ConnectionError, socket.gaierror, EIO, ETIMEDOUT …: the machine or the network, transient.
    return UNAVAILABLE


def _sqlite_spec(exc: Exception) -> Spec:
    """SQLite (the embedded backends): "database is locked" is worth retrying, the rest is not."""
    text = str(exc).lower()
    name = type(exc).__name__
    if "locked" in text or "busy" in text:
        return UNAVAILABLE
    if name == "IntegrityError":
        return Spec(AlreadyExists) if "unique" in text else Spec(InvalidInput)
    if name == "DataError":
        return Spec(InvalidInput)
    if "disk is full" in text or "database or disk is full" in text:
        return Spec(LimitExceeded, limit="{capability}.storage_bytes")
    if _sqlite_write_failed(exc):
        # nothing was committed (SQLite rolled back); the same write can succeed once space is freed
        return UNAVAILABLE
    return Spec(BackendError, retryable=False)


def _sqlite_write_failed(exc: Exception) -> bool:
    """SQLite could not write its files: ENOSPC comes as "disk is full", but EFBIG (a file-size
    limit) and EIO only as ``SQLITE_IOERR_WRITE`` and friends, with no errno to tell them apart."""
    return str(getattr(exc, "sqlite_errorname", "")) in _SQLITE_WRITE_ERRORS


_SQLITE_WRITE_ERRORS: Final = frozenset(
    {"SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE", "SQLITE_IOERR_SHMSIZE"}
)


def _group(
    exc: BaseExceptionGroup[BaseException], capability: str | None, operation: str | None, key: str | None
) -> CapabilityError:
    """A task group's failures: one leaf is translated as itself; several become one BackendError."""
    leaves = _leaves(exc)
    if len(leaves) == 1:
        return from_exception(leaves[0], capability=capability, operation=operation, key=key)
    translated = [from_exception(e, capability=capability, operation=operation, key=key) for e in leaves]
    summary = "; ".join(f"{t.code}: {t.message}" for t in translated[:5])
    return build(
        Spec(BackendError, retryable=all(t.retryable for t in translated)),
        f"{len(translated)} concurrent operations failed: {summary}",
        capability=capability,
        operation=operation,
        key=key,
        cause=exc,
    )


def _leaves(exc: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for inner in exc.exceptions:
        if isinstance(inner, BaseExceptionGroup):
            out.extend(_leaves(inner))
        else:
            out.append(inner)
    return out


def from_exception(
    exc: BaseException,
    *,
    capability: str | None,
    operation: str | None,
    key: str | None = None,
) -> CapabilityError:
    """Translate any exception a backend saw into a :class:`CapabilityError`.

    * a ``CapabilityError`` is returned as is, with missing context filled in;
    * OpenDAL, httpx and Pyodide ``JsException`` errors go to their translators (recognised by
      module/class name, so those libraries are never imported here);
    * ``TimeoutError`` → DeadlineExceeded; ``OSError`` → NotFound / AlreadyExists / Forbidden /
      InvalidInput / LimitExceeded for the file errors that say so, else Unavailable (retryable);
    * ``ValueError``/``TypeError`` (validation that should have happened earlier) → InvalidInput;
      ``NotImplementedError`` → Unsupported; SQLite errors by kind;
    * an exception group with one failure → that failure; with several → one BackendError;
    * anything else → BackendError (not retryable).

    Cancellation, ``KeyboardInterrupt`` and ``SystemExit`` are not failures of a backend and are
    never translated: they are re-raised.
    """
    if isinstance(exc, CapabilityError):
        return exc.with_context(capability=capability, operation=operation, key=key)
    if isinstance(exc, BaseExceptionGroup):
        return _group(exc, capability, operation, key)
    if not isinstance(exc, Exception):
        raise exc
    if is_opendal_exception(exc):
        return from_opendal(exc, capability=capability, operation=operation, key=key)
    if is_httpx_exception(exc):
        return from_httpx(exc, capability=capability, operation=operation, key=key)
    if is_js_exception(exc):
        return from_js(exc, capability=capability, operation=operation, key=key)

    spec: Spec
    if isinstance(exc, TimeoutError):  # before OSError: TimeoutError is one
        spec = Spec(DeadlineExceeded)
    elif isinstance(exc, OSError):
        spec = _os_spec(exc)
    elif isinstance(exc, ValueError | TypeError):
        spec = Spec(InvalidInput)
    elif isinstance(exc, NotImplementedError):
        spec = Spec(Unsupported)
    elif (type(exc).__module__ or "").partition(".")[0] == "sqlite3":
        spec = _sqlite_spec(exc)
        if _sqlite_write_failed(exc):
            message = (
                f"{describe(exc)} ({getattr(exc, 'sqlite_errorname', '')}): the local store could not write "
                "its files — the disk is full, a file-size limit (EFBIG) was reached, or the device failed"
            )
            return build(spec, message, capability=capability, operation=operation, key=key, cause=exc)
    elif (type(exc).__module__ or "").partition(".")[0] in ("pyodide", "_pyodide"):
        # ConversionError and friends: a Python value the FFI could not hand to JavaScript.
        spec = Spec(InvalidInput)
    else:
        spec = Spec(BackendError, retryable=False)
    return build(spec, describe(exc), capability=capability, operation=operation, key=key, cause=exc)
