"""What Cloudflare Queues' error codes mean: the table core's translators consult for ``queue``.

Importing this module registers it (see :mod:`cap_opendal_core.translate.services`).
Source: developers.cloudflare.com/queues/reference/error-codes/.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core import errors
from cap_opendal_core.translate import UNAVAILABLE, Spec
from cap_opendal_core.translate.services import ServiceErrors, register_service_errors

__all__ = ["ERRORS"]

ERRORS: Final = ServiceErrors(
    service="queue",
    capability_prefixes=("queue",),
    codes={
        10104: Spec(errors.Misconfigured),  # QueueNotFound: the binding/queue id is wrong
        10106: Spec(errors.Forbidden),  # Unauthorized: no permission to push to that queue
        10107: Spec(errors.Misconfigured),  # QueueIDMalformed
        10201: UNAVAILABLE,  # ClientDisconnected
        10202: Spec(errors.InvalidInput, field="delay_seconds"),  # BatchDelayInvalid
        10203: Spec(errors.InvalidInput, field="content_type"),  # MessageMetadataInvalid
        10204: Spec(errors.LimitExceeded, limit="queue.message_bytes"),  # MessageSizeOutOfBounds
        10205: Spec(errors.LimitExceeded, limit="queue.batch_bytes"),  # BatchSizeOutOfBounds
        10206: Spec(errors.LimitExceeded, limit="queue.batch_messages"),  # BatchCountOutOfBounds
        10207: Spec(errors.InvalidInput),  # JSONRequestBodyInvalid
        10208: Spec(errors.InvalidInput),  # JSONRequestBodyMalformed
        10250: Spec(errors.RateLimited, retryable=True),  # QueueOverloaded: back off
        10251: Spec(errors.LimitExceeded, limit="queue.storage_bytes"),  # QueueStorageLimitExceeded
        10252: Spec(errors.Unavailable, retryable=False),  # QueueDisabled: paused until someone unpauses it
        10253: Spec(errors.LimitExceeded, limit="queue.free_tier"),  # FreeTierLimitExceeded
        15000: UNAVAILABLE,  # UnknownInternalError
    },
)

register_service_errors(ERRORS)
