"""The ``kv_namespace`` binding kind: its manifest keys and its ``[[kv_namespaces]]`` wrangler section.

Keys per docs/preflight-and-wrangler.md; the section per
developers.cloudflare.com/kv/concepts/kv-bindings/ (``binding``, ``id``, ``preview_id``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.binding_kinds import BindingKindSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cap_opendal_core.manifest import BindingSpec, ManifestReader

__all__ = ["BINDING"]

_KV_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RULE: Final = "letters, digits, '-' and '_' (the namespace id wrangler prints)"


def _parse(r: ManifestReader) -> Mapping[str, Any]:
    return {key: r.string(key, _KV_ID, _RULE) for key in ("id", "preview_id")}


def _render(specs: Sequence[BindingSpec], source: str) -> list[str]:
    from cap_opendal_core.wrangler import table

    lines: list[str] = []
    for spec in specs:
        if spec.details["id"] is None:
            lines.append(f"# {spec.name}: no namespace id yet; `wrangler kv namespace create` prints one")
        lines.extend(
            table(
                "kv_namespaces",
                [
                    ("binding", spec.name),
                    ("id", spec.details["id"]),
                    ("preview_id", spec.details["preview_id"]),
                ],
            )
        )
    return lines


BINDING: Final = BindingKindSpec(
    kind="kv_namespace", keys=("id", "preview_id"), parse=_parse, render=_render, wrangler_order=10
)
