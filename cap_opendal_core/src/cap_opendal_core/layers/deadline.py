"""The deadline layer: the tighter of the per-call timeout and the invocation scope's deadline.

The call runs inside an anyio cancel scope (no threads, so it works under Pyodide); expiry becomes
``DeadlineExceeded``. A deadline that has already passed fails the call before it is made.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import CapabilityError, DeadlineExceeded

if TYPE_CHECKING:
    from .call import Call, Invoke, Layer

__all__ = ["deadline_layer"]


def deadline_layer(per_call: float | None, honour_scope: bool) -> Layer:
    # anyio is imported by the first call that has a deadline, not here: building a capability
    # (``KvNamespace.local`` …) must not pay its ~25 ms import, and most calls carry no deadline
    anyio_calls: tuple[Any, Any] | None = None
    monotonic = time.monotonic

    def expired(call: Call, detail: str, cause: BaseException | None = None) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"{detail} (TIME015)",
            capability=call.op.capability,
            operation=call.op.name,
            key=call.key,
            cause=cause,
        )

    def wrap(next_step: Invoke) -> Invoke:
        async def enforce_deadline(call: Call) -> Any:
            deadline = None if per_call is None else monotonic() + per_call
            scope = call.scope
            if honour_scope and scope is not None:
                scope_deadline = scope.deadline
                if scope_deadline is not None and (deadline is None or scope_deadline < deadline):
                    deadline = scope_deadline
            if deadline is None:
                return await next_step(call)
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise expired(call, "the deadline passed before the call was made")
            call.deadline = deadline
            nonlocal anyio_calls
            if anyio_calls is None:
                import anyio

                # direct: about half the cost of fail_after's generator wrapper
                anyio_calls = (anyio.CancelScope, anyio.current_time)
            cancel_scope, loop_time = anyio_calls
            cs = cancel_scope(deadline=loop_time() + remaining)
            try:
                with cs:
                    return await next_step(call)
            except CapabilityError as err:
                if cs.cancel_called:  # the backend turned our cancellation into an error of its own
                    raise expired(call, f"the call did not finish within {remaining:.3f} s", err) from err
                raise
            # only reached when the cancel scope swallowed the cancellation it delivered
            raise expired(call, f"the call did not finish within {remaining:.3f} s")

        return enforce_deadline

    return wrap
