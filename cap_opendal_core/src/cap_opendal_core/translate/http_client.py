"""httpx errors → :class:`CapabilityError` (the REST backends talk to Cloudflare through httpx).

=================================================  ============================================
httpx error                                        error (retryable)
=================================================  ============================================
``HTTPStatusError``                                :func:`~.http.from_http` of its response
``TimeoutException`` (Connect/Read/Write/Pool)     Unavailable (retryable)
``NetworkError`` (Connect/Read/Write/CloseError)   Unavailable (retryable)
``RemoteProtocolError``, ``ProxyError``            Unavailable (retryable)
``LocalProtocolError``                             InvalidInput (we tried to send something
                                                   HTTP cannot carry, e.g. a newline in a header)
``UnsupportedProtocol``, ``InvalidURL``,           Misconfigured (the endpoint is wrong)
``TooManyRedirects``
``DecodingError``, ``StreamError``, anything else  BackendError (not retryable)
=================================================  ============================================

A timeout on a write is still ``retryable=True`` here: whether a *non-idempotent* operation may be
repeated is the retry layer's decision (it knows which operations are idempotent), not this one's.
httpx is imported only when an httpx exception is actually being translated.
"""

from __future__ import annotations

from typing import Any

from ..errors import BackendError, CapabilityError, InvalidInput, Misconfigured
from ._common import UNAVAILABLE, Spec, build, describe

__all__ = ["from_httpx", "is_httpx_exception"]


def is_httpx_exception(exc: BaseException) -> bool:
    """Whether ``exc`` comes from httpx (or httpcore beneath it), judged by its module."""
    return (type(exc).__module__ or "").partition(".")[0] in ("httpx", "httpcore")


def _request_line(exc: BaseException) -> str:
    """``"GET https://…"`` for the failed request, when httpx attached one (``.request`` raises if not)."""
    try:
        request: Any = exc.request  # type: ignore[attr-defined]
        return f"{request.method} {request.url}"
    except Exception:
        return ""


def _spec_for(exc: BaseException) -> Spec:
    import httpx

    if isinstance(exc, httpx.LocalProtocolError):
        return Spec(InvalidInput)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.TooManyRedirects):
        return Spec(Misconfigured)
    if isinstance(exc, httpx.TransportError):  # timeouts, network errors, remote protocol, proxy
        return UNAVAILABLE
    return Spec(BackendError, retryable=False)


def from_httpx(
    exc: BaseException,
    *,
    capability: str | None,
    operation: str | None,
    key: str | None = None,
) -> CapabilityError:
    """Translate an httpx exception; anything else goes to :func:`~.from_exception`."""
    if not is_httpx_exception(exc):
        from . import from_exception

        return from_exception(exc, capability=capability, operation=operation, key=key)
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        from .http import from_http

        response = exc.response
        try:
            content: bytes | None = response.content
        except httpx.ResponseNotRead:  # a streamed response nobody read: judge by the status
            content = None
        return from_http(
            response.status_code,
            content,
            response.headers,
            capability=capability,
            operation=operation,
            key=key,
            cause=exc,
        )
    if (type(exc).__module__ or "").startswith("httpcore"):
        # httpcore leaks through only from a custom transport; its names mirror httpx's.
        name = type(exc).__name__
        if name == "LocalProtocolError":
            spec = Spec(InvalidInput)
        elif "Timeout" in name or name.endswith(("ConnectError", "ReadError", "WriteError", "ProtocolError")):
            spec = UNAVAILABLE
        else:
            spec = Spec(BackendError, retryable=False)
    else:
        spec = _spec_for(exc)
    where = _request_line(exc)
    message = describe(exc)
    if message == type(exc).__name__:
        message += " (no detail from httpx)"
    return build(
        spec,
        f"{message} [{where}]" if where else message,
        capability=capability,
        operation=operation,
        key=key,
        cause=exc,
    )
