"""The ``kv_namespace`` binding kind: its manifest keys and its ``[[kv_namespaces]]`` wrangler section.

Keys per docs/preflight-and-wrangler.md; the section per
developers.cloudflare.com/kv/concepts/kv-bindings/ (``binding``, ``id``, ``preview_id``).
"""

from __future__ import annotations

import re
from typing import Final

from cap_opendal_core.binding_kinds import section_kind

__all__ = ["BINDING"]

BINDING: Final = section_kind(
    "kv_namespace",
    section="kv_namespaces",
    keys=("id", "preview_id"),
    pattern=re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
    rule="letters, digits, '-' and '_' (the namespace id wrangler prints)",
    missing={"id": "no namespace id yet; `wrangler kv namespace create` prints one"},
    wrangler_order=10,
)
