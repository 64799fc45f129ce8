"""The metrics layer: one observation per call (all attempts included) into a :class:`Metrics`."""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

from .call import outcome_layer

if TYPE_CHECKING:
    from ..errors import CapabilityError
    from ..metrics import Metrics
    from .call import Call, Layer

__all__ = ["metrics_layer"]


def metrics_layer(metrics: Metrics) -> Layer:
    observe = metrics.observe

    def report(call: Call, outcome: str, started: float, err: CapabilityError | None) -> None:
        observe(call.op.capability, call.op.name, outcome, perf_counter() - started)

    return outcome_layer(report)
