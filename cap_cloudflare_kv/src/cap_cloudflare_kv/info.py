"""What each backend guarantees, as the descriptor ``KvNamespace.info`` reports (and preflight checks).

Workers KV itself (the binding and the REST API) is eventually consistent — a write may take about
60 s to be seen elsewhere — and durable, with expiry per write. The local backends hold one copy in one
place, so a read sees the last write: strong. On disk they survive restarts; in memory they do not.
S3-compatible stores (R2, S3) are strongly consistent and durable. For any other OpenDAL service the
capability does not vouch for either, and says ``unknown``. Every backend enforces Workers KV's limits,
so the extensions (the limits) are the same everywhere.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final

from .plugin import PLUGIN

if TYPE_CHECKING:
    from cap_opendal_core.descriptors import Consistency, Descriptor, Durability

__all__ = ["BACKEND_EXTENSION", "descriptor_for"]

BACKEND_EXTENSION: Final = "cap.kv.backend"
"""Extension key naming the backend kind behind a descriptor (``workers``, ``rest``, ``fs`` …)."""

_LEVELS: Final[dict[str, tuple[Consistency, Durability]]] = {
    "workers": ("eventual", "durable"),
    "rest": ("eventual", "durable"),
    "local": ("strong", "durable"),
    "fs": ("strong", "durable"),
    "memory": ("strong", "ephemeral"),
    "s3": ("strong", "durable"),
}


def descriptor_for(kind: str) -> Descriptor:
    """The descriptor of a backend of ``kind``: ``workers``, ``rest``, or an OpenDAL scheme."""
    consistency, durability = _LEVELS.get(kind, ("unknown", "unknown"))
    extensions = dict(PLUGIN.descriptor.extensions)
    if kind not in ("workers", "rest"):
        extensions.pop("com.cloudflare.kv.propagation_s", None)  # one copy: nothing to propagate
    extensions[BACKEND_EXTENSION] = kind
    return dataclasses.replace(
        PLUGIN.descriptor,
        consistency=consistency,
        durability=durability,
        ttl="per_write",
        extensions=extensions,
    )
