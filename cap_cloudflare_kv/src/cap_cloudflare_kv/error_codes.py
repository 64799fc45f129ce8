"""What Workers KV's error codes mean: the table core's HTTP and JS translators consult for ``kv``.

Importing this module registers it (see :mod:`cap_opendal_core.translate.services`).
Source: the Workers KV namespace error list of the Cloudflare API docs
(developers.cloudflare.com/api/resources/kv/); only codes confirmed there are listed.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core import errors
from cap_opendal_core.translate import UNAVAILABLE, Spec
from cap_opendal_core.translate.services import ServiceErrors, register_service_errors

__all__ = ["ERRORS"]

ERRORS: Final = ServiceErrors(
    service="kv",
    capability_prefixes=("kv",),
    codes={
        10001: UNAVAILABLE,  # service temporarily unavailable
        10009: Spec(errors.NotFound),  # key not found
        10010: Spec(errors.Misconfigured),  # malformed namespace
        10011: Spec(errors.Misconfigured),  # malformed namespace ID
        10012: Spec(errors.InvalidInput, field="value"),  # malformed value
        10013: Spec(errors.Misconfigured),  # namespace not found: the binding is wrong, not the key absent
        10014: Spec(errors.AlreadyExists),  # namespace already exists
        10017: Spec(errors.Forbidden),  # not entitled
        10018: Spec(errors.LimitExceeded, limit="kv.namespaces"),  # too many namespaces in this account
        10019: Spec(errors.InvalidInput, field="title"),  # missing title
        10022: Spec(errors.RateLimited, retryable=True),  # too many requests
        10024: Spec(errors.LimitExceeded, limit="kv.request_bytes"),  # payload too large
        10025: Spec(errors.Misconfigured),  # endpoint/path does not exist
        10026: Spec(errors.Forbidden),  # not entitled / not permitted
        10028: Spec(errors.InvalidInput, field="limit"),  # invalid limit argument
        10029: Spec(errors.InvalidInput),  # invalid request
        10030: Spec(errors.LimitExceeded, limit="kv.key_bytes"),  # key too long
        10033: Spec(errors.InvalidInput, field="expiration"),  # invalid expiration
        10034: Spec(errors.InvalidInput, field="expiration_ttl"),  # invalid expiration ttl
        10037: Spec(errors.Forbidden),  # the user lacks the permissions to perform this operation
        10041: Spec(errors.InvalidInput, field="cursor"),  # invalid "list keys" cursor
        10042: Spec(errors.InvalidInput, field="key"),  # illegal key name
        10046: Spec(errors.RateLimited, retryable=True),  # too many bulk requests
        10047: Spec(errors.InvalidInput, field="metadata"),  # invalid metadata
        10048: Spec(errors.LimitExceeded, limit="kv.free_tier"),  # free limit reached
    },
)

register_service_errors(ERRORS)
