"""The Flow IR validator's rules, one module per rule group.

Each group is a function from a :class:`~cap_opendal_core.rules.context.FlowContext` to diagnostics:

- :mod:`.declarations` — a node's declared effects/determinism against its hints (``EFFECT201``,
  ``DET301``, ``DET302``) and its idempotency key (``DAG004``);
- :mod:`.graph` — the shape of the graph (``DAG104``, ``DAG200``, ``DAG201``, ``DAG202``, ``DAG205``);
- :mod:`.delivery` — exactly-once edges and the dedupe they need (``EXACT001`` to ``EXACT003``);
- :mod:`.edge_budgets` — edge timeouts, buffers and spilling (``CTRL101``, ``CTRL102``,
  ``SPILL001``, ``SPILL002``).

Every group runs on every flow and every finding is returned: one run shows all that is wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import declarations, delivery, edge_budgets, graph

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..diagnostics import Diagnostic
    from .context import FlowContext

__all__ = ["RULE_GROUPS"]

RULE_GROUPS: tuple[Callable[[FlowContext], Iterable[Diagnostic]], ...] = (
    declarations.check,
    graph.check,
    delivery.check,
    edge_budgets.check,
)
"""Every rule group, in the order they run (the result is sorted afterwards)."""
