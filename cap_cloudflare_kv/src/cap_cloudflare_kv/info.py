"""What each backend guarantees, as the descriptor ``KvNamespace.info`` reports (and preflight checks).

Workers KV itself (the binding and the REST API) is eventually consistent — a write may take about
60 s to be seen elsewhere — and durable, with expiry per write. The local backends hold one copy in one
place, so a read sees the last write: strong. On disk they survive restarts; in memory they do not.
S3-compatible stores (R2, S3) are strongly consistent and durable. For any other OpenDAL service the
capability does not vouch for either, and says ``unknown``. Every backend enforces Workers KV's limits,
so the extensions (the limits) are the same everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .spec import SPEC

if TYPE_CHECKING:
    from cap_opendal_core.descriptors import Descriptor

__all__ = ["BACKEND_EXTENSION", "descriptor_for"]

BACKEND_EXTENSION: Final = SPEC.backend_extension
"""Extension key naming the backend kind behind a descriptor (``workers``, ``rest``, ``fs`` …)."""

_REMOTE: Final = ("workers", "rest")
_LEVELS: Final[dict[str, tuple[str, str]]] = {
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
    # one copy (anything but Workers KV itself): nothing to propagate
    drop = () if kind in _REMOTE else ("com.cloudflare.kv.propagation_s",)
    return SPEC.descriptor_for(kind, consistency=consistency, durability=durability, drop=drop)
