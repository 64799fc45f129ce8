"""The shape of the graph: ``DAG104``, ``DAG200``, ``DAG201``, ``DAG202`` and ``DAG205``.

Upstream (LatticeFlow's kernel-plan) defines each; differences are in ``docs/hints-and-validation.md``.
The cycle search is iterative, so a chain of any length cannot exhaust Python's stack, and it names
the nodes of the cycle it found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic
from .context import edge_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .context import FlowContext

__all__ = ["check"]


def check(ctx: FlowContext) -> list[Diagnostic]:
    return [*_duplicates(ctx), *_triggers(ctx), *_references(ctx), *_cycle(ctx), *_ports(ctx)]


def _duplicates(ctx: FlowContext) -> Iterator[Diagnostic]:
    for i, node in enumerate(ctx.flow.nodes):
        first = ctx.index[node.alias]
        if first != i:
            yield Diagnostic(
                code="DAG205",
                node=node.alias,
                pointer=f"/nodes/{i}/alias",
                message=(
                    f"nodes[{i}] reuses the alias {node.alias!r} of nodes[{first}]; aliases name nodes "
                    "in edges and diagnostics, so give each node its own"
                ),
            )


def _triggers(ctx: FlowContext) -> list[Diagnostic]:
    triggers = [i for i, n in enumerate(ctx.flow.nodes) if n.kind == "trigger"]
    if len(triggers) <= 1 or ctx.flow.policies.lint.allow_multiple_triggers:
        return []
    names = ", ".join(repr(ctx.flow.nodes[i].alias) for i in triggers)
    return [
        Diagnostic(
            code="DAG104",
            node=None,
            pointer=f"/nodes/{triggers[1]}/kind",
            declared=str(len(triggers)),
            required="1",
            message=(
                f"the flow has {len(triggers)} trigger nodes ({names}); keep one entry point, or set "
                "policies.lint.allow_multiple_triggers = true if several are intended"
            ),
        )
    ]


def _references(ctx: FlowContext) -> Iterator[Diagnostic]:
    for i, edge in enumerate(ctx.flow.edges):
        for end, alias in (("from", edge.from_), ("to", edge.to)):
            if alias not in ctx.index:
                role = "source" if end == "from" else "target"
                yield Diagnostic(
                    code="DAG202",
                    node=None,
                    edge=i,
                    pointer=f"/edges/{i}/{end}",
                    message=(
                        f"edge {edge_name(edge)} names {alias!r} as its {role}, but no node has that "
                        "alias; fix the alias or add the node"
                    ),
                )


def _cycle(ctx: FlowContext) -> list[Diagnostic]:
    """One ``DAG200`` naming the nodes of the first cycle found (in node order), if there is one."""
    adjacency: dict[int, list[tuple[int, int]]] = {}
    for e, edge in enumerate(ctx.flow.edges):
        a, b = ctx.index.get(edge.from_), ctx.index.get(edge.to)
        if a is not None and b is not None:
            adjacency.setdefault(a, []).append((b, e))
    state = [0] * len(ctx.flow.nodes)  # 0 unseen, 1 on the current path, 2 finished
    for start in range(len(ctx.flow.nodes)):
        if state[start]:
            continue
        path: list[int] = [start]
        via: list[int] = []  # via[k]: the edge from path[k] to path[k + 1]
        cursors = [0]
        state[start] = 1
        while path:
            here = path[-1]
            nexts = adjacency.get(here, [])
            if cursors[-1] == len(nexts):
                state[here] = 2
                path.pop()
                cursors.pop()
                if via:
                    via.pop()
                continue
            there, e = nexts[cursors[-1]]
            cursors[-1] += 1
            if state[there] == 1:
                at = path.index(there)
                return [_cycle_diag(ctx, path[at:], [*via[at:], e])]
            if state[there] == 0:
                state[there] = 1
                path.append(there)
                via.append(e)
                cursors.append(0)
    return []


def _cycle_diag(ctx: FlowContext, nodes: list[int], edges: list[int]) -> Diagnostic:
    aliases = [ctx.flow.nodes[i].alias for i in nodes]
    loop = " -> ".join(repr(a) for a in [*aliases, aliases[0]])
    return Diagnostic(
        code="DAG200",
        node=aliases[0],
        edge=edges[-1],
        pointer=f"/edges/{edges[-1]}",
        message=(
            f"the edges form a cycle: {loop}; a flow is a DAG, so remove an edge of the cycle "
            "(a loop belongs in a control surface)"
        ),
    )


def _ports(ctx: FlowContext) -> Iterator[Diagnostic]:
    for i, edge in enumerate(ctx.flow.edges):
        source, target = ctx.source(edge), ctx.target(edge)
        if source is None or target is None:
            continue
        produced, expected = source[1].out_schema, target[1].in_schema
        if produced.kind == "named" and expected.kind == "named" and produced.name != expected.name:
            yield Diagnostic(
                code="DAG201",
                node=target[1].alias,
                edge=i,
                pointer=f"/edges/{i}",
                declared=produced.name,
                required=expected.name,
                message=(
                    f"edge {edge_name(edge)} carries {produced.name!r} (out_schema of {edge.from_!r}) "
                    f"but {edge.to!r} takes {expected.name!r} (its in_schema); make the schemas agree "
                    "or put a converting node between them"
                ),
            )
