"""The one exception tree every capability raises.

Nothing but a :class:`CapabilityError` leaves a capability: backends translate what their clients
raise (see :mod:`cap_opendal_core.translate`) so flow code handles one hierarchy whatever the backend.
Each class has a stable ``code`` (for logs, metrics and wire formats) and a ``retryable`` default that
the retry layer trusts. Messages never carry secrets: translators scrub what they copy from a cause.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .records import attributes

__all__ = [
    "AlreadyExists",
    "BackendError",
    "CapabilityError",
    "Closed",
    "DeadlineExceeded",
    "Forbidden",
    "InvalidInput",
    "LimitExceeded",
    "Misconfigured",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
]


class CapabilityError(Exception):
    """Root of every error a capability raises.

    ``capability`` is the capability's name (``"kv"``, ``"r2"`` …), ``operation`` the public method
    (``"put"``), ``key`` the key or object the call was about, when there was one. The original error,
    if any, is ``__cause__``.
    """

    code: ClassVar[str] = "capability_error"
    default_retryable: ClassVar[bool] = False
    _JSON_FIELDS: ClassVar[tuple[str, ...]] = (
        "code",
        "message",
        "retryable",
        "capability",
        "operation",
        "key",
    )

    def __init__(
        self,
        message: str,
        *,
        capability: str | None = None,
        operation: str | None = None,
        key: str | None = None,
        retryable: bool | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.capability = capability
        self.operation = operation
        self.key = key
        self.retryable = self.default_retryable if retryable is None else retryable
        if cause is not None:
            self.__cause__ = cause

    def with_context(
        self,
        *,
        capability: str | None = None,
        operation: str | None = None,
        key: str | None = None,
    ) -> CapabilityError:
        """Fill in context fields that are still empty; returns ``self`` (``raise err.with_context()``)."""
        if self.capability is None:
            self.capability = capability
        if self.operation is None:
            self.operation = operation
        if self.key is None:
            self.key = key
        return self

    def __str__(self) -> str:
        where = ".".join(p for p in (self.capability, self.operation) if p)
        if self.key is not None:
            where = f"{where} key={self.key!r}" if where else f"key={self.key!r}"
        return f"[{where}] {self.message}" if where else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, retryable={self.retryable!r}, "
            f"capability={self.capability!r}, operation={self.operation!r}, key={self.key!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, for logs and HTTP error bodies."""
        return attributes(self, self._JSON_FIELDS)


class NotFound(CapabilityError):
    """The key, object, queue or binding does not exist (where absence is not simply ``None``)."""

    code = "not_found"


class AlreadyExists(CapabilityError):
    """A create-only write found something already there."""

    code = "already_exists"


class PreconditionFailed(CapabilityError):
    """A conditional request (etag, upload time) did not hold."""

    code = "precondition_failed"


class InvalidInput(CapabilityError):
    """The caller passed something the service would reject; raised before any I/O.

    ``field`` names the argument that was wrong.
    """

    code = "invalid_input"
    _JSON_FIELDS = (*CapabilityError._JSON_FIELDS, "field")

    def __init__(self, message: str, *, field: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.field = field


class LimitExceeded(CapabilityError):
    """A documented limit (size, count, budget) would be exceeded; raised before the call is made.

    ``limit`` names the limit (``"kv.value_bytes"``), ``value`` is what was asked for and
    ``maximum`` what the limit allows.
    """

    code = "limit_exceeded"
    _JSON_FIELDS = (*CapabilityError._JSON_FIELDS, "limit", "value", "maximum")

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        value: object = None,
        maximum: object = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.limit = limit
        self.value = value
        self.maximum = maximum


class Unauthorized(CapabilityError):
    """Credentials are missing, malformed or not accepted."""

    code = "unauthorized"


class Forbidden(CapabilityError):
    """Credentials were accepted but do not allow this operation."""

    code = "forbidden"


class _RetryAfter(CapabilityError):
    """A failure worth retrying whose service may say when: ``retry_after`` (seconds) when it did,
    which the retry layer waits at least."""

    _JSON_FIELDS = (*CapabilityError._JSON_FIELDS, "retry_after")
    default_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class RateLimited(_RetryAfter):
    """The service asked us to slow down; ``retry_after`` (seconds) when it said how long."""

    code = "rate_limited"


class Unavailable(_RetryAfter):
    """The service or the network failed transiently (5xx, reset connection, timeout on connect).

    ``retry_after`` (seconds) is set when the service said how long to wait — a 503 with
    ``Retry-After`` — and the retry layer then waits at least that long, as for :class:`RateLimited`.
    """

    code = "unavailable"


class DeadlineExceeded(CapabilityError):
    """The invocation's deadline passed before the call finished (diagnostic ``TIME015``)."""

    code = "deadline_exceeded"
    default_retryable = True


class Unsupported(CapabilityError):
    """The backend cannot do this operation (e.g. presigning outside S3)."""

    code = "unsupported"


class Misconfigured(CapabilityError):
    """The capability was built from configuration that cannot work (missing binding, bad URL)."""

    code = "misconfigured"


class Closed(Misconfigured):
    """The capability was used after ``aclose()`` (or after its ``async with`` block ended).

    Raised before any I/O. A closed capability stays closed: build a new one where it is needed.
    It is a :class:`Misconfigured` (the program, not the service, is wrong), so handlers written for
    that keep working; ``code`` tells the two apart in logs.
    """

    code = "closed"


class BackendError(CapabilityError):
    """Anything else the backend reported; ``retryable`` says whether trying again may help."""

    code = "backend_error"
