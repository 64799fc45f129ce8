"""What R2's error codes mean: the table core's HTTP and JS translators consult for ``r2``.

Importing this module registers it (see :mod:`cap_opendal_core.translate.services`).
Source: developers.cloudflare.com/r2/api/error-codes/.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core import errors
from cap_opendal_core.translate import UNAVAILABLE, Spec
from cap_opendal_core.translate.services import ServiceErrors, register_service_errors

__all__ = ["ERRORS"]

ERRORS: Final = ServiceErrors(
    service="r2",
    capability_prefixes=("r2", "blob"),
    codes={
        10001: UNAVAILABLE,  # InternalError
        10002: Spec(errors.Unauthorized),  # Unauthorized
        10003: Spec(errors.Forbidden),  # AccessDenied
        10005: Spec(errors.Misconfigured),  # InvalidBucketName
        10006: Spec(errors.Misconfigured),  # NoSuchBucket: the binding is wrong
        10007: Spec(errors.NotFound),  # NoSuchKey
        10008: Spec(errors.PreconditionFailed),  # BucketNotEmpty
        10009: Spec(errors.LimitExceeded, limit="r2.buckets"),  # TooManyBuckets
        10011: Spec(errors.InvalidInput, field="parts"),  # EntityTooSmall: a part below 5 MiB
        10012: Spec(errors.LimitExceeded, limit="r2.custom_metadata_bytes"),  # MetadataTooLarge
        10013: UNAVAILABLE,  # IncompleteBody: the body was cut off in transit
        10014: Spec(errors.InvalidInput, field="checksum"),  # InvalidDigest
        10018: Spec(errors.Unauthorized),  # ExpiredRequest
        10020: Spec(errors.InvalidInput, field="key"),  # InvalidObjectName
        10024: Spec(errors.NotFound),  # NoSuchUpload
        10025: Spec(errors.InvalidInput, field="parts"),  # InvalidPart
        10031: Spec(errors.PreconditionFailed),  # PreconditionFailed
        10033: Spec(errors.InvalidInput),  # MissingContentLength
        10035: Spec(errors.Unauthorized),  # SignatureDoesNotMatch
        10037: Spec(errors.InvalidInput, field="checksum"),  # BadDigest
        10039: Spec(errors.InvalidInput, field="range"),  # InvalidRange
        10042: Spec(errors.Forbidden),  # NotEntitled
        10043: UNAVAILABLE,  # ServiceUnavailable
        10048: Spec(errors.InvalidInput, field="parts"),  # InvalidPart: non-trailing parts differ in size
        10054: UNAVAILABLE,  # ClientDisconnect
        10058: Spec(errors.RateLimited, retryable=True),  # TooManyRequests (1 write/s per key)
        10069: Spec(errors.Forbidden),  # ObjectLockedByBucketPolicy
        10073: Spec(errors.AlreadyExists),  # BucketConflict
        100100: Spec(errors.LimitExceeded, limit="r2.object_bytes"),  # EntityTooLarge
    },
)

register_service_errors(ERRORS)
