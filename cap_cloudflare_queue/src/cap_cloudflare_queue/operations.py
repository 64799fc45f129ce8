"""Every public queue method, declared once for the layer pipeline.

Sends are **not** idempotent — a send that timed out may have been enqueued, and sending it again would
deliver the message twice — so the retry layer never repeats them. Consumer calls are safe to repeat: a
repeated pull only leases messages that would come back after the visibility timeout anyway, and
acknowledging or retrying the same lease twice changes nothing the first call did not.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core.layers.operation import Operation

__all__ = ["ACK", "OPERATIONS", "CAPABILITY", "HANDLE", "PULL", "RETRY", "SEND", "SEND_BATCH", "SETTLE"]

CAPABILITY: Final = "queue"
_PUBLISH: Final = "resource::queue::publish"
_CONSUME: Final = "resource::queue::consume"
_QUEUE: Final = "resource::queue"

SEND: Final = Operation(CAPABILITY, "send", _PUBLISH, _QUEUE, idempotent=False)
SEND_BATCH: Final = Operation(CAPABILITY, "send_batch", _PUBLISH, _QUEUE, idempotent=False)
"""One call per batch the service accepts: a ``send_batch`` that had to be split makes several."""

PULL: Final = Operation(CAPABILITY, "pull", _CONSUME, _QUEUE, idempotent=True)
ACK: Final = Operation(CAPABILITY, "ack", _CONSUME, _QUEUE, idempotent=True)
RETRY: Final = Operation(CAPABILITY, "retry", _CONSUME, _QUEUE, idempotent=True)
SETTLE: Final = Operation(CAPABILITY, "settle", _CONSUME, _QUEUE, idempotent=True)
"""Acks and retries of one batch in one request (the REST ``messages/ack`` endpoint takes both)."""

HANDLE: Final = Operation(CAPABILITY, "handle", _CONSUME, _QUEUE, idempotent=True, subrequests=0)
"""Handling a batch the Workers runtime pushed: its acks and retries are bookkeeping inside the
invocation (the runtime commits them when the handler returns), so it costs no sub-request."""

OPERATIONS: Final = (SEND, SEND_BATCH, PULL, ACK, RETRY, SETTLE, HANDLE)
"""Every operation, for the package's spec (which derives the provided hints from them)."""
