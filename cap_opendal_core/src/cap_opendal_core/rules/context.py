"""What every rule group needs to know about a flow, computed once per validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import hints

if TYPE_CHECKING:
    from ..flowir import EdgeIR, FlowIR, NodeIR


@dataclass(frozen=True)
class FlowContext:
    """A flow, its hint registry, and each alias's first node (later duplicates are ``DAG205``)."""

    flow: FlowIR
    registry: hints.HintRegistry = hints.registry
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for i, node in enumerate(self.flow.nodes):
            index.setdefault(node.alias, i)
        object.__setattr__(self, "index", index)

    def target(self, edge: EdgeIR) -> tuple[int, NodeIR] | None:
        """(index, node) of the node ``edge`` leads to; None when its alias is unknown (``DAG202``)."""
        i = self.index.get(edge.to)
        return None if i is None else (i, self.flow.nodes[i])

    def source(self, edge: EdgeIR) -> tuple[int, NodeIR] | None:
        i = self.index.get(edge.from_)
        return None if i is None else (i, self.flow.nodes[i])


def edge_name(edge: EdgeIR) -> str:
    """``'a' -> 'b'``: how messages name an edge."""
    return f"{edge.from_!r} -> {edge.to!r}"


def under(hint: str, family: str) -> bool:
    """Whether ``hint`` is ``family`` or below it, by whole ``::`` segments."""
    return hint == family or hint.startswith(family + "::")
