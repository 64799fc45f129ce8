"""Diagnostics: what the validator and preflight report, one record per finding.

Codes and their meaning are those of ``docs/reference/hints.md``. A diagnostic carries its code, the
node alias, the hint, the declared and required levels, and one line of guidance. Sort with
:func:`sort_diagnostics` (node order in the flow, then code, then hint) so output is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["CODES", "Diagnostic", "DiagnosticError", "Severity", "sort_diagnostics"]

Severity = Literal["error", "warning"]

CODES: dict[str, str] = {
    "EFFECT201": "an effect hint requires weaker effects than the node declares",
    "DET301": "an effect hint's resource is less deterministic than the node declares",
    "DET302": "a determinism hint is violated by the node's declared determinism",
    "DAG004": "an effectful node has no idempotency key",
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "node": self.node,
            "hint": self.hint,
            "declared": self.declared,
            "required": self.required,
            "severity": self.severity,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = self.node if self.node is not None else "<flow>"
        parts = [f"{self.code} {where}"]
        if self.hint:
            parts.append(f"hint={self.hint}")
        if self.declared is not None or self.required is not None:
            parts.append(f"declared={self.declared} required={self.required}")
        return " ".join(parts) + f": {self.message}"


def sort_diagnostics(diags: Iterable[Diagnostic], node_order: Sequence[str] = ()) -> list[Diagnostic]:
    """Order by node position in the flow (unknown nodes after, by name), then code, then hint."""
    pos = {alias: i for i, alias in enumerate(node_order)}
    return sorted(
        diags,
        key=lambda d: (
            pos.get(d.node or "", len(pos)),
            d.node or "",
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
