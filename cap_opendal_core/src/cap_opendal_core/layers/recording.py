"""Hint recording: charge the invocation's sub-request budget, then record the call's hints.

Charging comes first and raises ``LimitExceeded`` before anything is recorded or called: a call the
budget cannot pay for is never made. Hints are recorded before the call rather than after, because a
call that fails may still have had its effect (a write that timed out may have landed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .call import Call, Invoke

__all__ = ["hints_layer"]


def hints_layer(next_step: Invoke) -> Invoke:
    async def record_hints(call: Call) -> Any:
        scope = call.scope
        if scope is not None:
            op = call.op
            scope.charge(op.subrequests, capability=op.capability, operation=op.name)
            scope.record(
                op.effect_hint,
                call.determinism_hint or op.determinism_hint,
                capability=op.capability,
                operation=op.name,
            )
        return await next_step(call)

    return record_hints
