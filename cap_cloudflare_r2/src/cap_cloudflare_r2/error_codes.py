"""What R2's error codes mean: the table core's HTTP and JS translators consult for ``r2``.

Registered with core's translator registry (:mod:`cap_opendal_core.translate.services`) when this
module is imported — the backends import it — and carried by the plugin, so discovery registers it
too. Source: developers.cloudflare.com/r2/api/error-codes/.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    LimitExceeded,
    Misconfigured,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from cap_opendal_core.translate import Spec
from cap_opendal_core.translate.services import ServiceErrors, register_service_errors

__all__ = ["ERRORS"]

_UNAVAILABLE: Final = Spec(Unavailable, retryable=True)

ERRORS: Final = ServiceErrors(
    service="r2",
    capability_prefixes=("r2", "blob"),
    codes={
        10001: _UNAVAILABLE,  # InternalError
        10002: Spec(Unauthorized),  # Unauthorized
        10003: Spec(Forbidden),  # AccessDenied
        10005: Spec(Misconfigured),  # InvalidBucketName
        10006: Spec(Misconfigured),  # NoSuchBucket: the binding is wrong
        10007: Spec(NotFound),  # NoSuchKey
        10008: Spec(PreconditionFailed),  # BucketNotEmpty
        10009: Spec(LimitExceeded, limit="r2.buckets"),  # TooManyBuckets
        10011: Spec(InvalidInput, field="parts"),  # EntityTooSmall: complete()'s parts, one below 5 MiB
        10012: Spec(LimitExceeded, limit="r2.custom_metadata_bytes"),  # MetadataTooLarge
        10013: _UNAVAILABLE,  # IncompleteBody: the body was cut off in transit
        10014: Spec(InvalidInput, field="checksum"),  # InvalidDigest
        10018: Spec(Unauthorized),  # ExpiredRequest
        10020: Spec(InvalidInput, field="key"),  # InvalidObjectName
        10024: Spec(NotFound),  # NoSuchUpload
        10025: Spec(InvalidInput, field="parts"),  # InvalidPart
        10031: Spec(PreconditionFailed),  # PreconditionFailed
        10033: Spec(InvalidInput),  # MissingContentLength
        10035: Spec(Unauthorized),  # SignatureDoesNotMatch
        10037: Spec(InvalidInput, field="checksum"),  # BadDigest
        10039: Spec(InvalidInput, field="range"),  # InvalidRange
        10042: Spec(Forbidden),  # NotEntitled
        10043: _UNAVAILABLE,  # ServiceUnavailable
        10048: Spec(InvalidInput, field="parts"),  # InvalidPart: non-trailing parts differ in size
        10054: _UNAVAILABLE,  # ClientDisconnect
        10058: Spec(RateLimited, retryable=True),  # TooManyRequests (1 write/s per key)
        10069: Spec(Forbidden),  # ObjectLockedByBucketPolicy
        10073: Spec(AlreadyExists),  # BucketConflict
        100100: Spec(LimitExceeded, limit="r2.object_bytes"),  # EntityTooLarge
    },
)

register_service_errors(ERRORS)
