"""What a capability package tells the OpenTelemetry layer about its calls, without core knowing it.

Core is generic: it does not know that a queue is messaging and R2 an object store. Each package
gives its :class:`~cap_opendal_core.spec.CapabilitySpec` a ``span_attributes`` function, which is
asked **once per operation** (the answer is cached) for a :class:`SpanFacts`: the attributes every
span of that operation carries (``messaging.system``, ``db.operation.name`` …) and under which
attribute the call's key goes (``aws.s3.key``, ``messaging.destination.name`` …). The spec registers
the function for every capability name its operations use (the DO package's ``do`` and ``dedupe``).

Nothing here imports OpenTelemetry: registering costs a dict entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .operation import Operation

__all__ = [
    "AttributeValue",
    "SpanAttributes",
    "SpanFacts",
    "register_span_attributes",
    "span_attributes_for",
]

AttributeValue = str | bool | int | float
"""What an OpenTelemetry attribute may hold (sequences of these are left out: nothing here needs them)."""


class SpanFacts(NamedTuple):
    """The spans of one operation: fixed ``attributes``; the attribute the (scrubbed) key goes under
    (``None`` keeps the key out of spans); the span ``kind`` — ``"client"``, ``"producer"`` (a queue
    send), ``"consumer"`` or ``"internal"``."""

    attributes: Mapping[str, AttributeValue]
    key_attribute: str | None = "cap.key"
    kind: str = "client"


SpanAttributes = Callable[["Operation"], SpanFacts]
"""A package's hook: the span facts of one of its operations."""

_registry: dict[str, SpanAttributes] = {}


def register_span_attributes(capability: str, attributes: SpanAttributes) -> None:
    """Make ``attributes`` answer for the operations of ``capability`` (the spec does this)."""
    if not isinstance(capability, str) or not capability:
        raise ValueError(
            f"register_span_attributes: capability must be a non-empty string, got {capability!r}"
        )
    if not callable(attributes):
        raise ValueError(f"register_span_attributes: attributes must be callable, got {attributes!r}")
    _registry[capability] = attributes


def span_attributes_for(capability: str) -> SpanAttributes | None:
    """The hook registered for ``capability``, or None (spans then carry only core's attributes)."""
    return _registry.get(capability)
