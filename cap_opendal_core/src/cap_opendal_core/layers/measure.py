"""The metrics layer: one observation per call (all attempts included) into a :class:`Metrics`."""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

from ..errors import CapabilityError

if TYPE_CHECKING:
    from ..metrics import Metrics
    from .call import Call, Invoke, Layer

__all__ = ["metrics_layer"]


def metrics_layer(metrics: Metrics) -> Layer:
    observe = metrics.observe

    def wrap(next_step: Invoke) -> Invoke:
        async def measure(call: Call) -> Any:
            start = perf_counter()
            try:
                result = await next_step(call)
            except CapabilityError as err:
                observe(call.op.capability, call.op.name, err.code, perf_counter() - start)
                raise
            except BaseException:
                observe(call.op.capability, call.op.name, "cancelled", perf_counter() - start)
                raise
            observe(call.op.capability, call.op.name, "ok", perf_counter() - start)
            return result

        return measure

    return wrap
