"""Durable Objects as core knows them: one :class:`~cap_opendal_core.spec.CapabilitySpec`, from which
the plugin and the provided hints are derived.

Kept free of the package's runtime code so that discovering plugins never imports a backend. The
descriptor states Durable Objects' guarantees: one strongly consistent, durable, single-writer object
per id whose requests are serialized (ordered), so a put-if-absent reservation is atomic; its
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
from .operations import OPERATIONS
from .telemetry import span_attributes

__all__ = ["SPEC"]

SPEC: Final = CapabilitySpec(
    name="do",
    distribution="cap-cloudflare-do",
    binding=BINDING,
    hints=(
        Constraint("resource::dedupe::write", "effect", Effects.EFFECTFUL),
        Constraint("resource::dedupe", "determinism", Determinism.BEST_EFFORT),
        Constraint("resource::state::read", "effect", Effects.READ_ONLY, "Durable Object state read"),
        Constraint("resource::state::write", "effect", Effects.EFFECTFUL, "Durable Object state write"),
        Constraint(
            "resource::state::read", "determinism", Determinism.STABLE, "single-writer, strongly consistent"
        ),
        Constraint("resource::state", "determinism", Determinism.BEST_EFFORT, "any write to the object"),
    ),
    operations=OPERATIONS,
    span_attributes=span_attributes,
    descriptor=Descriptor(
        consistency="strong",
        durability="durable",
        ttl="none",
        ordering="ordered",
        reservation="atomic",
        extensions={
            "com.cloudflare.do.max_object_bytes": limits.MAX_OBJECT_BYTES,
            "com.cloudflare.do.max_entry_bytes": limits.MAX_ENTRY_BYTES,
            "com.cloudflare.do.max_sql_statement_bytes": limits.MAX_SQL_STATEMENT_BYTES,
            "com.cloudflare.do.max_sql_params": limits.MAX_SQL_PARAMS,
        },
    ),
    errors=ERRORS,
    constructors=standard_constructors(
        "cap_cloudflare_do:DurableObjectNamespace",
        from_gateway="DurableObjectNamespace.from_gateway",
        dedupe="Dedupe",
        dedupe_local="Dedupe.local",
    ),
)
