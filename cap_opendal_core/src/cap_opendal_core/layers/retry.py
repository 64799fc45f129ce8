"""The retry layer: exponential backoff with full jitter, for what is safe and worth retrying.

A failed attempt is tried again only when all of these hold: the operation is marked idempotent,
the error's ``retryable`` is True, attempts remain, the wait would end before the call's deadline,
and (inside an invocation scope, with hint recording on) the sub-request budget can pay for another
attempt — each attempt is a sub-request. Otherwise the last error is raised, with a note saying why
retrying stopped. A ``retry_after`` from the service (``RateLimited``, or ``Unavailable`` from a 503
with ``Retry-After``) is a floor on the wait.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import CapabilityError, LimitExceeded, RateLimited, Unavailable

if TYPE_CHECKING:
    from ..metrics import Metrics
    from .call import Call, Invoke, Layer
    from .settings import RetryPolicy

__all__ = ["retry_layer"]


def retry_layer(policy: RetryPolicy, metrics: Metrics | None, *, charge_budget: bool) -> Layer:
    import random

    draw = random.random
    monotonic = time.monotonic
    attempts = policy.attempts

    def wrap(next_step: Invoke) -> Invoke:
        if attempts <= 1:
            return next_step

        async def retry(call: Call) -> Any:
            op = call.op
            if not op.idempotent:
                return await next_step(call)
            while True:
                try:
                    return await next_step(call)
                except CapabilityError as err:
                    if not err.retryable or call.attempts >= attempts:
                        raise
                    delay = policy.backoff(call.attempts, draw())
                    if isinstance(err, RateLimited | Unavailable) and err.retry_after is not None:
                        if err.retry_after > policy.max_retry_after:
                            err.add_note(
                                f"not retried: the service asked to wait {err.retry_after} s, "
                                f"over max_retry_after={policy.max_retry_after} s"
                            )
                            raise
                        delay = max(delay, err.retry_after)
                    if call.deadline is not None and monotonic() + delay >= call.deadline:
                        err.add_note(f"not retried: waiting {delay:.3f} s would pass the call's deadline")
                        raise
                    scope = call.scope
                    if charge_budget and scope is not None:
                        refused: str | None = None
                        try:
                            scope.charge(op.subrequests, capability=op.capability, operation=op.name)
                        except LimitExceeded as limit:
                            refused = limit.message
                        if refused is not None:
                            err.add_note(f"not retried: {refused}")
                            raise
                    if metrics is not None:
                        metrics.retry(op.capability, op.name)
                    import anyio  # only a retry waits: building the pipeline must not pay ~25 ms

                    await anyio.sleep(delay)
                    call.attempts += 1

        return retry

    return wrap
