"""The per-call record layers hand down the chain, and the shapes of a layer.

A layer is a function that takes the next step (an :data:`Invoke`) and returns a new one, built once
when the pipeline is constructed — like a structlog processor chain, composed ahead of time so a call
pays only for the layers that are on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any

from ..errors import CapabilityError

if TYPE_CHECKING:
    from ..scope import InvocationScope
    from .operation import Operation

__all__ = ["Call", "Invoke", "Layer", "outcome_layer"]


@dataclass(slots=True, eq=False, repr=False)
class Call:
    """One call in flight: what was asked, and what outer layers learned for inner ones."""

    op: Operation
    fn: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]
    key: str | None
    determinism_hint: str | None
    scope: InvocationScope | None
    deadline: float | None = field(default=None, init=False)
    """Absolute ``time.monotonic()`` deadline, set by the deadline layer; the retry layer reads it."""
    attempts: int = field(default=1, init=False)
    """Tries made so far, counted by the retry layer; the logging layer reports it."""


Invoke = Callable[[Call], Awaitable[Any]]
"""One step of the chain: takes the call, returns what the backend returned."""

Layer = Callable[[Invoke], Invoke]
"""Wraps the next step in one concern (logging, retry …)."""


def outcome_layer(report: Callable[[Call, str, float, CapabilityError | None], None]) -> Layer:
    """A layer that reports how each call ended, once: ``report(call, outcome, started, error)`` with
    the error's ``code`` (and the error), ``"cancelled"`` (anything else raised through it) or
    ``"ok"``, and the ``perf_counter()`` it started at. The logging and metrics layers are this."""

    def wrap(next_step: Invoke) -> Invoke:
        async def reported(call: Call) -> Any:
            started = perf_counter()
            try:
                result = await next_step(call)
            except CapabilityError as err:
                report(call, err.code, started, err)
                raise
            except BaseException:
                report(call, "cancelled", started, None)
                raise
            report(call, "ok", started, None)
            return result

        return reported

    return wrap
