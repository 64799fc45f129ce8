"""Trace context across a queue: the producer's span rides with the message; the consumer links to it.

Cloudflare Queues messages have a body and a content type — no headers — so the context has to travel
in the body. Doing that by default would hand every consumer that does not use this SDK (a JavaScript
Worker, another team's service) a body it did not expect, so it is **opt-in** on the producer:
``LayerSettings(otel=OtelSettings(queue_trace_context=True))``. Then each JSON message is sent as::

    {"cap.trace": 1, "traceparent": "00-…-…-01", "tracestate": "…", "body": <the original body>}

(``tracestate`` only when there is one). Only ``json`` bodies are wrapped — text, bytes and v8 bodies
are sent as they are — and a message the envelope would push over the message or batch size limit is
sent unwrapped (it then simply carries no context). A claim-checked message is wrapped around its
reference, so the reference itself is unchanged.

Every SDK consumer unwraps the envelope — whether or not it runs OpenTelemetry — so turning propagation
on never changes what an SDK handler sees. Only a body of exactly that shape (the marker with version
1, a well-formed W3C ``traceparent``, a ``body``, nothing else) is unwrapped; anything else is
delivered as it came. The context then lands on :attr:`Message.trace_context`, the pull span gets a
link to each producer's span, and :meth:`MessageBatch.process` runs the handler in a CONSUMER span
linked to them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any, Final

from .limits import MAX_BATCH_BYTES, MAX_BODY_BYTES

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .models import PreparedMessage, ReceivedMessage

__all__ = ["ENVELOPE_VERSION", "TRACE_KEY", "unwrap", "unwrap_received", "with_trace", "with_trace_batch"]

TRACE_KEY: Final = "cap.trace"
"""The marker key of a traced envelope; its value is the envelope format's version."""
ENVELOPE_VERSION: Final = 1
_FIELDS: Final = frozenset({TRACE_KEY, "traceparent", "tracestate", "body"})
_TRACEPARENT: Final = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_TRACESTATE_MAX: Final = 512  # W3C: at most 32 list members; longer headers may be dropped anyway


def _wrap(message: PreparedMessage, carrier: Mapping[str, str]) -> PreparedMessage | None:
    if message.content_type != "json" or message.data is None:
        return None
    head: dict[str, Any] = {TRACE_KEY: ENVELOPE_VERSION, "traceparent": carrier["traceparent"]}
    state = carrier.get("tracestate")
    if state:
        head["tracestate"] = state
    # The body is already encoded: splice it in rather than encode it again.
    prefix = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    data = f'{prefix},"body":'.encode() + message.data + b"}"
    envelope = {**head, "body": message.body}
    return dataclasses.replace(message, body=envelope, data=data, encoded_size=len(data))


def _carrier() -> Mapping[str, str] | None:
    from cap_opendal_core.layers.otel import trace_carrier

    carrier = trace_carrier()
    return carrier if carrier and "traceparent" in carrier else None


def with_trace(message: PreparedMessage) -> PreparedMessage:
    """``message`` wrapped in the traced envelope of the current span, or as it is (no span, not JSON,
    or the envelope would not fit in a message)."""
    carrier = _carrier()
    if carrier is None:
        return message
    wrapped = _wrap(message, carrier)
    if wrapped is None or wrapped.encoded_size > MAX_BODY_BYTES:
        return message
    return wrapped


def with_trace_batch(batch: Sequence[PreparedMessage]) -> list[PreparedMessage]:
    """Each message of ``batch`` wrapped as by :func:`with_trace`, as long as the batch stays within
    the batch size limit (the rest go unwrapped)."""
    carrier = _carrier()
    if carrier is None:
        return list(batch)
    total = sum(m.size for m in batch)
    out: list[PreparedMessage] = []
    for message in batch:
        wrapped = _wrap(message, carrier)
        if wrapped is not None and wrapped.encoded_size <= MAX_BODY_BYTES:
            grown = total + wrapped.size - message.size
            if grown <= MAX_BATCH_BYTES:
                total = grown
                message = wrapped
        out.append(message)
    return out


def unwrap(body: Any) -> tuple[Any, dict[str, str] | None]:
    """``(original body, trace context)`` for a traced envelope; ``(body, None)`` for anything else."""
    if type(body) is not dict or body.get(TRACE_KEY) != ENVELOPE_VERSION or "body" not in body:
        return body, None
    parent = body.get("traceparent")
    state = body.get("tracestate")
    if (
        not body.keys() <= _FIELDS
        or not isinstance(parent, str)
        or not _TRACEPARENT.fullmatch(parent)
        or (state is not None and (not isinstance(state, str) or len(state) > _TRACESTATE_MAX))
    ):
        return body, None
    carrier = {"traceparent": parent}
    if state:
        carrier["tracestate"] = state
    return body["body"], carrier


def unwrap_received(received: Sequence[ReceivedMessage]) -> list[ReceivedMessage]:
    """Pulled messages with traced envelopes unwrapped (their context on ``trace_context``), and the
    current span — the pull's — linked to each producer's span."""
    out: list[ReceivedMessage] = []
    carriers: list[dict[str, str]] = []
    for r in received:
        body, carrier = unwrap(r.body)
        if carrier is not None:
            r = dataclasses.replace(r, body=body, trace_context=carrier)
            carriers.append(carrier)
        out.append(r)
    if carriers:
        from cap_opendal_core.layers.otel import link_current_span

        link_current_span(carriers)
    return out
