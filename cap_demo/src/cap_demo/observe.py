"""What each node declared, what it did, and the difference: one invocation scope per node execution.

:class:`FlowObserver` is the host-side half of the hint model. ``with observer.node("store_payload"):``
opens an :class:`~cap_opendal_core.scope.InvocationScope` for that one execution; every capability call
inside records its hints there; on the way out the scope is checked against the node's declaration
(``EFFECT201``/``DET301``/``DET302``/``TIME015``) and folded into a per-node :class:`NodeReport`.

Declarations are read from the Flow IR document with :mod:`json` alone — no pydantic — so this works
inside a Python Worker too (:func:`cap_opendal_core.validate.validate_flow`, which needs pydantic, is
for CPython hosts and the CLI).
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.hints import Determinism, Effects
from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from cap_opendal_core.diagnostics import Diagnostic
    from cap_opendal_core.manifest import BindingManifest

__all__ = [
    "FLOW_FILE",
    "MANIFEST_FILE",
    "DeclaredNode",
    "FlowObserver",
    "NodeReport",
    "declared_nodes",
    "demo_flow",
    "demo_manifest",
]

FLOW_FILE: Final = "demo_ingest.flow_ir.json"
MANIFEST_FILE: Final = "demo_ingest.bindings.toml"


def _resource(name: str) -> str:
    from importlib.resources import files

    return files(__package__).joinpath(name).read_text("utf-8")


def demo_flow() -> dict[str, Any]:
    """The demo flow's Flow IR document (package data next to this module), as parsed JSON."""
    data: dict[str, Any] = json.loads(_resource(FLOW_FILE))
    return data


def demo_manifest() -> BindingManifest:
    """The demo flow's :class:`~cap_opendal_core.manifest.BindingManifest`."""
    import tomllib

    from cap_opendal_core.manifest import BindingManifest

    return BindingManifest.from_dict(tomllib.loads(_resource(MANIFEST_FILE)), source=MANIFEST_FILE)


@dataclass(frozen=True)
class DeclaredNode:
    """What one Flow IR node claims: its effects, determinism, hints and idempotency key."""

    alias: str
    effects: Effects
    determinism: Determinism
    effect_hints: tuple[str, ...] = ()
    determinism_hints: tuple[str, ...] = ()
    idempotency_key: str | None = None

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> DeclaredNode:
        alias = node.get("alias")
        if not isinstance(alias, str) or not alias:
            raise InvalidInput(f"a flow node needs an alias, got {alias!r}", field="alias")
        try:
            effects = Effects.parse(node.get("effects", ""))
            determinism = Determinism.parse(node.get("determinism", ""))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"node {alias!r}: {exc}", field=alias) from None
        idempotency = node.get("idempotency") or {}
        return cls(
            alias,
            effects,
            determinism,
            tuple(node.get("effectHints", ())),
            tuple(node.get("determinismHints", ())),
            idempotency.get("key") if isinstance(idempotency, dict) else None,
        )


def declared_nodes(flow: Mapping[str, Any] | None = None) -> dict[str, DeclaredNode]:
    """``{alias: DeclaredNode}`` for every node of ``flow`` (default: the demo flow), in flow order."""
    if flow is None:
        return dict(_demo_declarations())
    return {d.alias: d for d in (DeclaredNode.from_node(n) for n in flow.get("nodes", ()))}


@lru_cache(maxsize=1)
def _demo_declarations() -> dict[str, DeclaredNode]:
    """Parsed once per process: a Worker builds an observer per invocation."""
    return declared_nodes(demo_flow())


@dataclass
class NodeReport:
    """One node's executions folded together: the weakest levels any execution showed, every hint seen,
    and every distinct diagnostic."""

    declared: DeclaredNode
    runs: int = 0
    calls: int = 0
    effects: Effects = Effects.PURE
    determinism: Determinism = Determinism.STRICT
    effect_hints: list[str] = field(default_factory=list)
    determinism_hints: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def alias(self) -> str:
        return self.declared.alias

    @property
    def ok(self) -> bool:
        """True when no execution did more, or less deterministically, than the node declares."""
        return not self.diagnostics

    def fold(self, scope: InvocationScope, diagnostics: list[Diagnostic]) -> None:
        self.runs += 1
        self.calls += scope.calls
        self.effects = max(self.effects, scope.observed_effects)
        self.determinism = max(self.determinism, scope.observed_determinism)
        for hint in scope.effect_hints:
            if hint not in self.effect_hints:
                self.effect_hints.append(hint)
        for hint in scope.determinism_hints:
            if hint not in self.determinism_hints:
                self.determinism_hints.append(hint)
        known = {(d.code, d.hint) for d in self.diagnostics}
        self.diagnostics.extend(d for d in diagnostics if (d.code, d.hint) not in known)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.alias,
            "runs": self.runs,
            "calls": self.calls,
            "declared": {
                "effects": self.declared.effects.json,
                "determinism": self.declared.determinism.json,
            },
            "observed": {"effects": self.effects.json, "determinism": self.determinism.json},
            "effect_hints": list(self.effect_hints),
            "determinism_hints": list(self.determinism_hints),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


class FlowObserver:
    """Opens a scope per node execution and compares it with the node's declaration.

    ``declared`` defaults to the demo flow's nodes. A node the observer does not know raises
    :class:`InvalidInput` (a typo must not silently go unobserved).
    """

    def __init__(
        self,
        declared: Mapping[str, DeclaredNode] | None = None,
        *,
        span: Callable[[str], AbstractContextManager[None]] | None = None,
    ) -> None:
        self.declared: dict[str, DeclaredNode] = dict(declared_nodes() if declared is None else declared)
        self._reports: dict[str, NodeReport] = {}
        self._span = span
        """With ``caps demo --otel``: opens a span per node execution (``node <alias>``)."""

    @contextmanager
    def node(self, alias: str, *, timeout: float | None = None) -> Iterator[InvocationScope]:
        """Run the block as one execution of node ``alias``, in its own invocation scope."""
        declared = self.declared.get(alias)
        if declared is None:
            raise InvalidInput(
                f"node {alias!r} is not in the flow (it has: {', '.join(self.declared)})", field="alias"
            )
        with (
            nullcontext() if self._span is None else self._span(f"node {alias}"),
            InvocationScope(alias, timeout=timeout) as scope,
        ):
            try:
                yield scope
            finally:
                report = self._reports.get(alias)
                if report is None:
                    report = self._reports[alias] = NodeReport(declared)
                report.fold(scope, scope.check(declared.effects, declared.determinism))

    def reports(self) -> list[NodeReport]:
        """A report for every node that ran, in flow order."""
        return [self._reports[a] for a in self.declared if a in self._reports]

    def report(self, alias: str) -> NodeReport | None:
        return self._reports.get(alias)

    def diagnostics(self) -> list[Diagnostic]:
        """Every distinct diagnostic, in flow order."""
        return [d for r in self.reports() for d in r.diagnostics]
