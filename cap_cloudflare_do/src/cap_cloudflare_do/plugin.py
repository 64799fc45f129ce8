"""The entry point that tells ``cap_opendal_core`` what this package is (see ``cap_opendal_core.plugins``).

Kept free of the package's own runtime code (it reads only the operation declarations, for the hints
they record) so that discovering plugins never imports a backend.
The descriptor states Durable Objects' guarantees: one strongly consistent, durable, single-writer
object per id whose requests are serialized (ordered), so a put-if-absent reservation is atomic.
"""

from __future__ import annotations

from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.plugins import CapabilityPlugin, builtin_constraints_under

from .binding_kind import BINDING
from .error_codes import ERRORS
from .operations import PROVIDED_HINTS

__all__ = ["PLUGIN"]

PLUGIN = CapabilityPlugin(
    name="do",
    distribution="cap-cloudflare-do",
    binding_kind="durable_object",
    hints=builtin_constraints_under("resource::state", "resource::dedupe"),
    provided_hints=PROVIDED_HINTS,
    descriptor=Descriptor(
        consistency="strong",
        durability="durable",
        ttl="none",
        delivery="unknown",
        ordering="ordered",
        reservation="atomic",
        extensions={
            "com.cloudflare.do.max_object_bytes": 10 * 1000**3,
            "com.cloudflare.do.max_entry_bytes": 2 * 1000**2,
            "com.cloudflare.do.max_sql_statement_bytes": 100_000,
            "com.cloudflare.do.max_sql_params": 100,
        },
    ),
    binding=BINDING,
    errors=ERRORS,
    constructors={
        "from_env": "cap_cloudflare_do:DurableObjectNamespace.from_env",
        "from_url": "cap_cloudflare_do:DurableObjectNamespace.from_url",
        "from_gateway": "cap_cloudflare_do:DurableObjectNamespace.from_gateway",
        "from_config": "cap_cloudflare_do:DurableObjectNamespace.from_config",
        "local": "cap_cloudflare_do:DurableObjectNamespace.local",
        "dedupe": "cap_cloudflare_do:Dedupe",
        "dedupe_local": "cap_cloudflare_do:Dedupe.local",
    },
)
