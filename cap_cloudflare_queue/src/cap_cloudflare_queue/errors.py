"""The one queue-specific error: a split ``send_batch`` that failed after part of it went out.

Sends are not idempotent, so the caller must know exactly which messages the queue already has before
sending anything again. A plain ``Unavailable`` would invite resending the whole batch (and delivering
the first part twice); this error says which positions were sent and which were not, and keeps the
underlying failure as ``error`` (and ``__cause__``) so its kind and ``retry_after`` are not lost.
"""

from __future__ import annotations

from typing import Any

from cap_opendal_core.errors import CapabilityError

__all__ = ["BatchPartiallySent"]


def _ranges(indices: tuple[int, ...]) -> str:
    """``0-99, 150`` for a sorted tuple of positions."""
    if not indices:
        return "none"
    parts: list[str] = []
    start = prev = indices[0]
    for i in indices[1:]:
        if i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}-{prev}" if prev > start else str(start))
        start = prev = i
    parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ", ".join(parts)


class BatchPartiallySent(CapabilityError):
    """Some of a split batch was enqueued, then a later part failed.

    ``sent`` and ``unsent`` are positions in the list given to ``send_batch``; resend only ``unsent``.
    ``retryable`` is the underlying error's (retrying the unsent part may help; the whole batch, never).
    """

    code = "batch_partially_sent"

    def __init__(
        self,
        error: CapabilityError,
        *,
        sent: tuple[int, ...],
        unsent: tuple[int, ...],
        total: int,
        **context: Any,
    ) -> None:
        message = (
            f"send_batch of {total} messages was split and failed part-way: messages {_ranges(sent)} were "
            f"sent and are in the queue; messages {_ranges(unsent)} were not sent ({error.code}: "
            f"{error.message}). Resend only the unsent ones."
        )
        super().__init__(message, retryable=error.retryable, cause=error, **context)
        self.error = error
        self.sent = sent
        self.unsent = unsent

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "sent": list(self.sent), "unsent": list(self.unsent)}
