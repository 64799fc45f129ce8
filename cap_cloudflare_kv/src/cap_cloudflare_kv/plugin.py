"""The entry point that tells ``cap_opendal_core`` what this package is (see ``cap_opendal_core.plugins``).

Kept free of the package's own runtime code so that discovering plugins never imports a backend.
The descriptor states Workers KV's documented guarantees: eventually consistent (a write may take
~60 s to be seen elsewhere), durable, expiry per write (``expirationTtl`` ≥ 60 s).
"""

from __future__ import annotations

from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.plugins import CapabilityPlugin, builtin_constraints_under

from .binding_kind import BINDING
from .error_codes import ERRORS

__all__ = ["PLUGIN"]

PLUGIN = CapabilityPlugin(
    name="kv",
    distribution="cap-cloudflare-kv",
    binding_kind="kv_namespace",
    hints=builtin_constraints_under("resource::kv"),
    provided_hints=("resource::kv::read", "resource::kv::write", "resource::kv"),
    descriptor=Descriptor(
        consistency="eventual",
        durability="durable",
        ttl="per_write",
        delivery="unknown",
        ordering="unknown",
        # No conditional writes: a reservation built on KV is read-then-write, so best effort.
        reservation="best_effort",
        extensions={
            "com.cloudflare.kv.min_ttl_s": 60,
            "com.cloudflare.kv.min_cache_ttl_s": 30,
            "com.cloudflare.kv.max_key_bytes": 512,
            "com.cloudflare.kv.max_value_bytes": 25 * 1024 * 1024,
            "com.cloudflare.kv.max_metadata_bytes": 1024,
            "com.cloudflare.kv.list_page_max": 1000,
            "com.cloudflare.kv.propagation_s": 60,
        },
    ),
    binding=BINDING,
    errors=ERRORS,
    constructors={
        "from_env": "cap_cloudflare_kv:KvNamespace.from_env",
        "from_url": "cap_cloudflare_kv:KvNamespace.from_url",
        "local": "cap_cloudflare_kv:KvNamespace.local",
        "from_config": "cap_cloudflare_kv:KvNamespace.from_config",
    },
)
