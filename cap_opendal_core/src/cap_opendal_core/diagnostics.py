"""Diagnostics: what the validator and preflight report, one record per finding.

Codes and their meaning are those of ``docs/reference/hints.md``. A diagnostic carries its code, the
node alias, the edge, the hint, the declared and required levels, one line of guidance, and where in
the flow file it points (a JSON pointer, and the line and column when the file was read from text).
Sort with :func:`sort_diagnostics` (node order in the flow, then edge, then code, then hint) so output
is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from .records import attributes

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["CODES", "Diagnostic", "DiagnosticError", "Severity", "sort_diagnostics"]

Severity = Literal["error", "warning"]

_JSON_FIELDS: Final = (
    # the stable JSON schema's key order (docs/hints-and-validation.md, "Output for tools")
    "code",
    "severity",
    "node",
    "edge",
    "hint",
    "declared",
    "required",
    "message",
    "pointer",
    "line",
    "column",
)

CODES: dict[str, str] = {
    "EFFECT201": "an effect hint requires weaker effects than the node declares",
    "DET301": "an effect hint's resource is less deterministic than the node declares",
    "DET302": "a determinism hint is violated by the node's declared determinism",
    "DAG004": "an effectful node has no idempotency key",
    "DAG104": "more than one trigger node without policies.lint.allow_multiple_triggers",
    "DAG200": "the edges form a cycle",
    "DAG201": "an edge joins ports whose named schemas differ",
    "DAG202": "an edge refers to a node alias that does not exist",
    "DAG205": "two nodes share an alias",
    "EXACT001": "an exactly-once edge's target binds no dedupe capability that can keep the promise",
    "EXACT002": "an exactly-once edge's target has no idempotency key",
    "EXACT003": "an exactly-once edge's target declares no dedupe TTL, or one below 300000 ms",
    "CTRL101": "an edge's timeout_ms is 0",
    "CTRL102": "an edge's buffer.max_items is 0",
    "SPILL001": "an edge spills without bounding buffer.max_items",
    "SPILL002": "an edge spills but no node declares a resource::blob hint to spill to",
    "CAP101": "a binding, hint provider or secret the flow needs is missing",
    "CAP102": "a binding's descriptor does not meet the flow's requirement",
    "TIME015": "the invocation's deadline passed",
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    node: str | None
    """Node alias (or binding name for preflight findings), None when flow-wide."""
    message: str
    """One line of guidance: what is wrong and how to fix it."""
    hint: str | None = None
    declared: str | None = None
    required: str | None = None
    severity: Severity = "error"
    edge: int | None = None
    """Index of the edge in the flow's ``edges`` array, for findings about an edge."""
    pointer: str | None = None
    """RFC 6901 JSON pointer to the value at fault (``/edges/2/timeout_ms``)."""
    line: int | None = None
    """1-based line of ``pointer`` in the source file, when the flow was read from text."""
    column: int | None = None
    """1-based column (in characters) of ``pointer`` in the source file."""

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (``docs/hints-and-validation.md``, "Output for tools")."""
        return attributes(self, _JSON_FIELDS)

    def __str__(self) -> str:
        where = self.node if self.node is not None else "<flow>"
        parts = [f"{self.code} {where}"]
        if self.edge is not None:
            parts.append(f"edge={self.edge}")
        if self.hint:
            parts.append(f"hint={self.hint}")
        if self.declared is not None or self.required is not None:
            parts.append(f"declared={self.declared} required={self.required}")
        return " ".join(parts) + f": {self.message}"


def sort_diagnostics(diags: Iterable[Diagnostic], node_order: Sequence[str] = ()) -> list[Diagnostic]:
    """Order by node position in the flow (unknown and flow-wide after, by name), then edge, code, hint."""
    pos: dict[str, int] = {}
    for i, alias in enumerate(node_order):
        pos.setdefault(alias, i)
    return sorted(
        diags,
        key=lambda d: (
            pos.get(d.node or "", len(pos)),
            d.node or "",
            -1 if d.edge is None else d.edge,
            d.code,
            d.hint or "",
        ),
    )


class DiagnosticError(Exception):
    """Raised by hosts that ask preflight or validation to fail hard; carries the diagnostics."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        lines = "\n".join(f"  {d}" for d in self.diagnostics)
        super().__init__(f"{len(self.diagnostics)} diagnostic(s):\n{lines}")
