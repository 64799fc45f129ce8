"""Edge budgets: ``CTRL101`` (timeout 0), ``CTRL102`` (buffer of 0), ``SPILL001``/``SPILL002`` (spilling).

A budget of zero can never be met, so it is a mistake, not a policy. A spill tier moves buffered
items out of memory, which only helps when memory is bounded (``max_items``) and when there is
somewhere to put them: this SDK's answer is the claim-check pattern — store the payload in R2 and
pass its key — so some node must record a ``resource::blob::…`` hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic
from .context import edge_name

if TYPE_CHECKING:
    from .context import FlowContext

__all__ = ["check"]


def check(ctx: FlowContext) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    has_blob = any(h.startswith("resource::blob::") for n in ctx.flow.nodes for h in n.effect_hints)
    spill_reported = False
    for e, edge in enumerate(ctx.flow.edges):
        name, buffer = edge_name(edge), edge.buffer
        for code, field, value, why in (  # a bound of 0: nothing can meet it
            ("CTRL101", "timeout_ms", edge.timeout_ms, "a budget nothing can meet; give a positive timeout"),
            (
                "CTRL102",
                "buffer.max_items",
                buffer.max_items,
                "so it can hold nothing; give a positive bound",
            ),
        ):
            if value == 0:
                out.append(
                    Diagnostic(
                        code=code,
                        node=None,
                        edge=e,
                        pointer=f"/edges/{e}/{field.replace('.', '/')}",
                        declared="0",
                        required="> 0",
                        message=f"edge {name} has {field} 0, {why} or leave it out",
                    )
                )
        if buffer.spill_tier is None:
            continue
        spill: list[tuple[str, str, str]] = []  # (code, what is required, why) for this spilling edge
        if buffer.max_items is None:
            spill.append(
                (
                    "SPILL001",
                    "buffer.max_items",
                    "its buffer has no max_items, so memory is never the limit that triggers a spill; "
                    "set buffer.max_items",
                )
            )
        if not has_blob and not spill_reported:
            spill_reported = True
            spill.append(
                (
                    "SPILL002",
                    "resource::blob::",
                    "no node records a resource::blob::… hint; spill by claim check — store the payload "
                    "in R2 (cap_cloudflare_r2.R2Bucket.put, resource::blob::write) and pass its key",
                )
            )
        out.extend(
            Diagnostic(
                code=code,
                node=None,
                edge=e,
                pointer=f"/edges/{e}/buffer/spill_tier",
                required=required,
                message=f"edge {name} spills to {buffer.spill_tier!r} but {why}",
            )
            for code, required, why in spill
        )
    return out
