"""Declarations against hints: ``EFFECT201``, ``DET301``, ``DET302`` and ``DAG004``.

The comparison itself is :func:`cap_opendal_core.validate.check_node` (pydantic-free, shared with the
run-time scope check); this group runs it on every node and points each finding at the hint or field.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..validate import check_node

if TYPE_CHECKING:
    from ..diagnostics import Diagnostic
    from .context import FlowContext

__all__ = ["check"]

_HINT_LIST = {"EFFECT201": "effectHints", "DET301": "effectHints", "DET302": "determinismHints"}


def check(ctx: FlowContext) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for i, node in enumerate(ctx.flow.nodes):
        lists = {"effectHints": node.effect_hints, "determinismHints": node.determinism_hints}
        for d in check_node(
            node.alias,
            node.effects,
            node.determinism,
            node.effect_hints,
            node.determinism_hints,
            node.idempotency.key,
            registry=ctx.registry,
        ):
            name = _HINT_LIST.get(d.code)
            if name is not None and d.hint in lists[name]:
                pointer = f"/nodes/{i}/{name}/{lists[name].index(d.hint)}"
            elif node.idempotency.key is not None:
                pointer = f"/nodes/{i}/idempotency/key"
            else:
                pointer = f"/nodes/{i}/effects"
            out.append(dataclasses.replace(d, pointer=pointer))
    return out
