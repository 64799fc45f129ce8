"""R2 as core knows it: one :class:`~cap_opendal_core.spec.CapabilitySpec`, from which the plugin, the
provided hints and every backend's descriptor are derived.

Kept free of the package's runtime code so that discovering plugins never imports a backend. The
descriptor states R2's documented guarantees: strongly consistent, durable, no per-object expiry; its
extensions are the limits of :mod:`.limits`.
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
from .operations import CAPABILITY, OPERATIONS, PINNED_HINT
from .telemetry import span_attributes

__all__ = ["SPEC"]

SPEC: Final = CapabilitySpec(
    name=CAPABILITY,
    distribution="cap-cloudflare-r2",
    binding=BINDING,
    hints=(
        Constraint("resource::blob::read", "effect", Effects.READ_ONLY),
        Constraint("resource::blob::write", "effect", Effects.EFFECTFUL),
        Constraint("resource::blob", "determinism", Determinism.BEST_EFFORT, "objects change"),
        Constraint(PINNED_HINT, "determinism", Determinism.STABLE, "a read pinned to an etag cannot drift"),
    ),
    operations=OPERATIONS,
    span_attributes=span_attributes,
    extra_hints=(PINNED_HINT,),
    descriptor=Descriptor(
        consistency="strong",
        durability="durable",
        ttl="none",
        extensions={
            "com.cloudflare.r2.max_key_bytes": limits.KEY_MAX_BYTES,
            "com.cloudflare.r2.max_custom_metadata_bytes": limits.CUSTOM_METADATA_MAX_BYTES,
            "com.cloudflare.r2.multipart_min_part_bytes": limits.PART_MIN_BYTES,
            "com.cloudflare.r2.multipart_max_parts": limits.MULTIPART_MAX_PARTS,
            "com.cloudflare.r2.list_page_max": limits.LIST_LIMIT_MAX,
            "com.cloudflare.r2.delete_batch_max": limits.DELETE_MAX_KEYS,
        },
    ),
    errors=ERRORS,
    constructors=standard_constructors("cap_cloudflare_r2:R2Bucket"),
    backend_extension="com.cloudflare.r2.backend",
)
