"""Workers KV as core knows it: one :class:`~cap_opendal_core.spec.CapabilitySpec`, from which the
plugin, the provided hints and every backend's descriptor are derived.

Kept free of the package's runtime code so that discovering plugins never imports a backend. The
descriptor states Workers KV's documented guarantees: eventually consistent (a write may take ~60 s
to be seen elsewhere), durable, expiry per write; its extensions are the limits of :mod:`.limits`.
"""

from __future__ import annotations

from typing import Final

from cap_opendal_core.constructors import standard_constructors
from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.hints import Constraint, Determinism, Effects
from cap_opendal_core.spec import CapabilitySpec

from . import limits
from .binding_kind import BINDING
from .error_codes import ERRORS
from .operations import CAPABILITY, OPERATIONS
from .telemetry import span_attributes

__all__ = ["SPEC"]

SPEC: Final = CapabilitySpec(
    name=CAPABILITY,
    distribution="cap-cloudflare-kv",
    binding=BINDING,
    hints=(
        Constraint("resource::kv::read", "effect", Effects.READ_ONLY),
        Constraint("resource::kv::write", "effect", Effects.EFFECTFUL),
        Constraint(
            "resource::kv",
            "determinism",
            Determinism.BEST_EFFORT,
            "values change; Workers KV is eventually consistent",
        ),
    ),
    operations=OPERATIONS,
    span_attributes=span_attributes,
    descriptor=Descriptor(
        consistency="eventual",
        durability="durable",
        ttl="per_write",
        # No conditional writes: a reservation built on KV is read-then-write, so best effort.
        reservation="best_effort",
        extensions={
            "com.cloudflare.kv.min_ttl_s": limits.EXPIRATION_MIN_SECONDS,
            "com.cloudflare.kv.min_cache_ttl_s": limits.CACHE_TTL_MIN_SECONDS,
            "com.cloudflare.kv.max_key_bytes": limits.KEY_MAX_BYTES,
            "com.cloudflare.kv.max_value_bytes": limits.VALUE_MAX_BYTES,
            "com.cloudflare.kv.max_metadata_bytes": limits.METADATA_MAX_BYTES,
            "com.cloudflare.kv.list_page_max": limits.LIST_LIMIT_MAX,
            "com.cloudflare.kv.propagation_s": limits.PROPAGATION_SECONDS,
        },
    ),
    errors=ERRORS,
    constructors=standard_constructors("cap_cloudflare_kv:KvNamespace"),
    backend_extension="cap.kv.backend",
)
