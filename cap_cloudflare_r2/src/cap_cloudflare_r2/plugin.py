"""The entry point that tells ``cap_opendal_core`` what this package is (see ``cap_opendal_core.plugins``).

Kept free of the package's own runtime code so that discovering plugins never imports a backend.
The descriptor states R2's documented guarantees: strongly consistent, durable, no per-object expiry.
"""

from __future__ import annotations

from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.plugins import CapabilityPlugin, builtin_constraints_under

from .binding_kind import BINDING
from .error_codes import ERRORS

__all__ = ["PLUGIN"]

PLUGIN = CapabilityPlugin(
    name="r2",
    distribution="cap-cloudflare-r2",
    binding_kind="r2_bucket",
    hints=builtin_constraints_under("resource::blob"),
    provided_hints=(
        "resource::blob::read",
        "resource::blob::write",
        "resource::blob",
        "resource::blob::pinned",
    ),
    descriptor=Descriptor(
        consistency="strong",
        durability="durable",
        ttl="none",
        delivery="unknown",
        ordering="unknown",
        reservation="unknown",
        extensions={
            "com.cloudflare.r2.max_key_bytes": 1024,
            "com.cloudflare.r2.max_custom_metadata_bytes": 8192,
            "com.cloudflare.r2.multipart_min_part_bytes": 5 * 1024 * 1024,
            "com.cloudflare.r2.multipart_max_parts": 10_000,
            "com.cloudflare.r2.list_page_max": 1000,
            "com.cloudflare.r2.delete_batch_max": 1000,
        },
    ),
    binding=BINDING,
    errors=ERRORS,
    constructors={
        "from_env": "cap_cloudflare_r2:R2Bucket.from_env",
        "from_url": "cap_cloudflare_r2:R2Bucket.from_url",
        "local": "cap_cloudflare_r2:R2Bucket.local",
        "from_config": "cap_cloudflare_r2:R2Bucket.from_config",
    },
)
