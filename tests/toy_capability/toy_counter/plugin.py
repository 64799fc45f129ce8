"""The toy counter's spec and plugin: everything core learns about it comes from here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cap_opendal_core.binding_kinds import BindingKindSpec
from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.errors import LimitExceeded
from cap_opendal_core.hints import Constraint, Determinism, Effects
from cap_opendal_core.layers.operation import Operation
from cap_opendal_core.spec import CapabilitySpec
from cap_opendal_core.translate import ServiceErrors, Spec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cap_opendal_core.manifest import BindingSpec, ManifestReader

__all__ = ["PLUGIN", "SPEC"]


def _parse(r: ManifestReader) -> Mapping[str, Any]:
    return {"namespace": r.string("namespace"), "start": r.integer("start", 0, None)}


def _render(specs: Sequence[BindingSpec], source: str) -> list[str]:
    from cap_opendal_core.wrangler import need, table

    lines: list[str] = []
    for spec in specs:
        lines.extend(
            table(
                "counters",
                [("binding", spec.name), ("namespace", need(spec, "namespace")), ("start", spec.start)],
            )
        )
    return lines


_READ = Operation("counter", "get", "resource::counter::read", "resource::counter", idempotent=True)
_ADD = Operation("counter", "add", "resource::counter::add", "resource::counter", idempotent=False)

SPEC = CapabilitySpec(
    name="counter",
    distribution="toy-counter",
    binding=BindingKindSpec(
        kind="counter_namespace", keys=("namespace", "start"), parse=_parse, render=_render
    ),
    hints=(
        Constraint("resource::counter::read", "effect", Effects.READ_ONLY),
        Constraint("resource::counter::add", "effect", Effects.EFFECTFUL, "increments a counter"),
        Constraint("resource::counter", "determinism", Determinism.BEST_EFFORT, "other writers count too"),
    ),
    operations=(_READ, _ADD),
    descriptor=Descriptor(consistency="strong", durability="ephemeral", ttl="none"),
    errors=ServiceErrors(
        service="counter",
        capability_prefixes=("counter",),
        codes={77001: Spec(LimitExceeded, limit="counter.max_value")},
    ),
    constructors={"local": "toy_counter:Counter.local"},
)

PLUGIN = SPEC.plugin()
