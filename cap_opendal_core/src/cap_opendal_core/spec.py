"""``CapabilitySpec``: everything one capability package declares, written once, in its ``spec.py``.

A package states its name, distribution, binding kind, hint meanings, descriptor (its limits as
extensions, read from its ``limits.py``), operations, error table and constructors in one
:class:`CapabilitySpec`. The rest is derived from it, so no fact is restated:

* the provided hints — every hint its operations record (plus ``extra_hints`` passed per call);
* :meth:`CapabilitySpec.plugin` — the :class:`~cap_opendal_core.plugins.CapabilityPlugin` its entry
  point names (``PLUGIN = SPEC.plugin()``);
* the OpenTelemetry attributes of its calls, when it gives ``span_attributes`` (registered at once);
* :meth:`CapabilitySpec.descriptor_for` — one backend's descriptor: the package's, with the levels that
  backend changes and the backend's name under ``backend_extension``.

Light on purpose: a capability's public class reads ``SPEC.binding_kind`` and ``SPEC.provided_hints``
on the Workers path, so this module imports no plugin machinery until :meth:`plugin` is called.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .binding_kinds import BindingKindSpec
    from .descriptors import Descriptor
    from .hints import Constraint
    from .layers.attributes import SpanAttributes
    from .layers.operation import Operation
    from .plugins import CapabilityPlugin
    from .translate.services import ServiceErrors

__all__ = ["CapabilitySpec", "hints_of"]


def _family(hint: str) -> str:
    return "::".join(hint.split("::")[:2])


def hints_of(operations: Iterable[Operation], extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The hints ``operations`` record, then ``extra``: each once, grouped by family
    (``resource::kv`` …) in the order families first appear, effect hints before determinism hints."""
    ops = tuple(operations)
    ordered = dict.fromkeys([*(op.effect_hint for op in ops), *(op.determinism_hint for op in ops), *extra])
    families = list(dict.fromkeys(_family(h) for h in ordered))
    return tuple(sorted(ordered, key=lambda h: families.index(_family(h))))


@dataclass(frozen=True, kw_only=True)
class CapabilitySpec:
    """One capability package, declared once (see the module docstring).

    ``hints`` are the constraints (hint meanings) the package registers for its own family;
    ``operations`` are every public call it makes, from which the provided hints come;
    ``extra_hints`` are hints recorded per call rather than by an operation (R2's
    ``resource::blob::pinned``); ``backend_extension`` is the descriptor extension key that names the
    backend behind a descriptor (``cap.kv.backend`` …).
    """

    name: str
    distribution: str
    binding: BindingKindSpec = field(hash=False)
    descriptor: Descriptor = field(hash=False)
    operations: tuple[Operation, ...] = ()
    hints: tuple[Constraint, ...] = ()
    extra_hints: tuple[str, ...] = ()
    errors: ServiceErrors | None = field(default=None, hash=False)
    constructors: Mapping[str, str] = field(default_factory=dict, hash=False)
    backend_extension: str = ""
    span_attributes: SpanAttributes | None = field(default=None, hash=False, compare=False)
    """The OpenTelemetry layer's hook (:mod:`cap_opendal_core.layers.attributes`): the span facts of
    each operation. Registered for every capability name the operations use."""

    def __post_init__(self) -> None:
        if not self.operations:
            raise InvalidInput(f"capability spec {self.name!r}: declare its operations", field="operations")
        if self.span_attributes is not None:
            from .layers.attributes import register_span_attributes

            for capability in dict.fromkeys(op.capability for op in self.operations):
                register_span_attributes(capability, self.span_attributes)
        object.__setattr__(self, "operations", tuple(self.operations))
        object.__setattr__(self, "hints", tuple(self.hints))
        object.__setattr__(self, "extra_hints", tuple(self.extra_hints))
        object.__setattr__(self, "constructors", MappingProxyType(dict(self.constructors)))

    @property
    def binding_kind(self) -> str:
        """The wrangler binding kind this capability stands for (``kv_namespace`` …)."""
        return self.binding.kind

    @property
    def provided_hints(self) -> tuple[str, ...]:
        """Every hint this capability's calls record (see :func:`hints_of`)."""
        return hints_of(self.operations, self.extra_hints)

    def plugin(self) -> CapabilityPlugin:
        """The plugin the package's entry point names: this spec as core's discovery reads it."""
        from .plugins import CapabilityPlugin

        return CapabilityPlugin(
            name=self.name,
            distribution=self.distribution,
            binding_kind=self.binding_kind,
            descriptor=self.descriptor,
            provided_hints=self.provided_hints,
            hints=self.hints,
            constructors=self.constructors,
            binding=self.binding,
            errors=self.errors,
        )

    def descriptor_for(
        self,
        backend: str,
        *,
        extensions: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        **levels: str,
    ) -> Descriptor:
        """The descriptor of one backend: this spec's, with ``levels`` replaced (``durability=…``),
        the extension keys in ``drop`` removed, ``extensions`` added, and ``backend`` under
        :attr:`backend_extension` (when the spec names one)."""
        merged = {k: v for k, v in self.descriptor.extensions.items() if k not in set(drop)}
        merged.update(extensions or {})
        if self.backend_extension:
            merged[self.backend_extension] = backend
        return dataclasses.replace(self.descriptor, extensions=merged, **levels)  # type: ignore[arg-type]
