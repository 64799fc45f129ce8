"""Exactly-once edges: ``EXACT001`` (dedupe capability), ``EXACT002`` (key), ``EXACT003`` (TTL).

An edge with ``delivery: exactly_once`` is a promise the transport alone cannot keep — queues deliver
at least once — so its target must deduplicate: bind a dedupe capability (a ``resource::dedupe``
hint, provided by ``cap_cloudflare_do.Dedupe``), name the idempotency key that identifies one
logical execution, and keep each claim for at least :data:`MIN_EXACTLY_ONCE_TTL_MS`.

Statically a hint is all there is to check. At start-up, preflight also checks that the binding
providing the hint can keep the promise: its descriptor must meet :data:`DEDUPE_REQUIREMENTS`
(see :mod:`cap_opendal_core.preflight_check`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from ..descriptors import Requirement
from ..diagnostics import Diagnostic
from .context import edge_name, under

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from ..flowir import NodeIR
    from .context import FlowContext

__all__ = ["DEDUPE_FAMILY", "DEDUPE_REQUIREMENTS", "MIN_EXACTLY_ONCE_TTL_MS", "check", "dedupe_hints"]

MIN_EXACTLY_ONCE_TTL_MS = 300_000
"""The shortest dedupe claim an exactly-once edge accepts (five minutes, as upstream)."""

DEDUPE_FAMILY = "resource::dedupe"

DEDUPE_REQUIREMENTS: Mapping[str, Requirement] = MappingProxyType(
    {
        "reservation": Requirement("reservation", at_least="atomic"),
        "durability": Requirement("durability", at_least="durable"),
    }
)
"""What the binding behind an exactly-once edge's dedupe hint must guarantee: a put-if-absent that
exactly one caller wins, and claims that survive a restart."""


def dedupe_hints(node: NodeIR) -> tuple[str, ...]:
    """The node's effect hints in the ``resource::dedupe`` family (whole segments)."""
    return tuple(h for h in dict.fromkeys(node.effect_hints) if under(h, DEDUPE_FAMILY))


def check(ctx: FlowContext) -> Iterator[Diagnostic]:
    for e, edge in enumerate(ctx.flow.edges):
        if edge.delivery != "exactly_once":
            continue
        found = ctx.target(edge)
        if found is None:
            continue  # DAG202
        i, node = found
        promise = f"edge {edge_name(edge)} asks for exactly_once delivery"
        idem = node.idempotency
        # point at the idempotency object when the file has one, else at the node
        idem_at = f"/nodes/{i}/idempotency" if "idempotency" in node.model_fields_set else f"/nodes/{i}"
        if not dedupe_hints(node):
            yield Diagnostic(
                code="EXACT001",
                node=node.alias,
                edge=e,
                pointer=f"/nodes/{i}/effectHints" if node.effect_hints else f"/nodes/{i}",
                required=DEDUPE_FAMILY,
                message=(
                    f"{promise} but {node.alias!r} binds no dedupe capability (no {DEDUPE_FAMILY} "
                    "effect hint); claim each execution in a Dedupe ledger (cap_cloudflare_do.Dedupe, "
                    "resource::dedupe::write) or ask for at_least_once"
                ),
            )
        if idem.key is None or not idem.key.strip():
            yield Diagnostic(
                code="EXACT002",
                node=node.alias,
                edge=e,
                pointer=idem_at + ("/key" if idem.key is not None else ""),
                required="idempotency.key",
                message=(
                    f"{promise} but {node.alias!r} has no idempotency.key; name the input field "
                    "that identifies one logical execution, so a redelivery is recognised"
                ),
            )
        if idem.ttl_ms is None or idem.ttl_ms < MIN_EXACTLY_ONCE_TTL_MS:
            said = "declares no dedupe TTL" if idem.ttl_ms is None else f"keeps claims {idem.ttl_ms} ms"
            yield Diagnostic(
                code="EXACT003",
                node=node.alias,
                edge=e,
                pointer=idem_at + ("/ttlMs" if idem.ttl_ms is not None else ""),
                declared=None if idem.ttl_ms is None else str(idem.ttl_ms),
                required=f">= {MIN_EXACTLY_ONCE_TTL_MS}",
                message=(
                    f"{promise} but {node.alias!r} {said}; set idempotency.ttlMs to at least "
                    f"{MIN_EXACTLY_ONCE_TTL_MS} so a late redelivery still finds its claim"
                ),
            )
