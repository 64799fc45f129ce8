"""Layers: the small pipeline every capability call goes through.

A capability describes each public method once, as an :class:`Operation`, and sends every backend
call through its :class:`Pipeline`::

    PUT = Operation("kv", "put", "resource::kv::write", "resource::kv", idempotent=True)
    ...
    await self._pipeline.call(PUT, self._backend.put, key, value, key=key)

The order is fixed, outermost first; each layer is optional (:class:`LayerSettings`):

1. **hints** — inside an :class:`~cap_opendal_core.scope.InvocationScope`, charge the sub-request
   budget (``LimitExceeded`` *before* the call is made) and record the call's effect and
   determinism hints.
   **otel** (optional, off by default) — one OpenTelemetry span per call, and the call's duration and
   retries as OTel metrics (:mod:`.otel`; imports opentelemetry only when on).
2. **logging** — one structlog event per call: capability, op, key, backend, outcome, duration;
   credentials scrubbed, values never logged.
3. **metrics** — counters and a latency histogram per (capability, op, outcome).
4. **deadline** — the tighter of the per-call timeout and the scope's deadline, as an anyio cancel
   scope; expiry becomes ``DeadlineExceeded``.
5. **retry** — exponential backoff with full jitter, for retryable errors of idempotent operations,
   honouring a service's ``retry_after`` (``RateLimited``, ``Unavailable``) and never sleeping past
   the deadline.
6. **concurrency** — at most N calls in flight per pipeline.
7. the backend call, whose non-``CapabilityError`` exceptions are translated by
   :func:`cap_opendal_core.translate.from_exception`: only ``CapabilityError`` leaves a pipeline.

Logging and metrics sit outside retry so that one call is one event and one observation, however many
attempts it took; the deadline sits outside retry so it bounds all attempts and the waits between
them. Importing this package is cheap, and so is building a pipeline: anyio is imported by the first
call that waits on it (a deadline, a retry's back-off; a concurrency limit, off by default, when it is
built), structlog on the first logged call.
"""

from __future__ import annotations

from .attributes import SpanFacts
from .operation import Operation
from .pipeline import Pipeline
from .settings import LayerSettings, OtelSettings, RetryPolicy

__all__ = ["LayerSettings", "Operation", "OtelSettings", "Pipeline", "RetryPolicy", "SpanFacts"]
