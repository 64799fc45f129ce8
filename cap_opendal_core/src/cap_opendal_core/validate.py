"""The Flow IR validator: the graph and capability rules, and the hint comparison they share.

:func:`validate_flow` runs every rule group of :mod:`cap_opendal_core.rules` (graph shape, declared
effects and determinism against hints, exactly-once delivery, edge budgets) and returns all their
diagnostics, each pointing into the flow file. The codes are those of ``docs/reference/hints.md``.

:func:`check_node` is the declaration check (``EFFECT201``, ``DET301``, ``DET302``, ``DAG004``). Both
lattices are IntEnums where a higher value is a weaker claim, so a
node is in breach when a hint's constraint minimum is *higher* than what the node declares.

:func:`check_node` works on plain values and never imports pydantic, so a host (including one inside a
Python Worker) can compare what an invocation scope observed with what a node declared.
(:func:`validate_flow` loads :mod:`cap_opendal_core.flowir`, and pydantic, only when called.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from . import hints
from .diagnostics import Diagnostic, sort_diagnostics
from .errors import InvalidInput
from .hints import Constraint, Determinism, Effects, HintRegistry, validate_hint_id

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping

    from .flowir import FlowIR

__all__ = ["check_node", "validate_flow"]


def validate_flow(
    flow: FlowIR | Mapping[str, Any] | str | bytes | os.PathLike[str],
    *,
    registry: HintRegistry = hints.registry,
) -> list[Diagnostic]:
    """Every diagnostic for ``flow``: in flow order of nodes, then edge, code and hint.

    ``flow`` is a :class:`~cap_opendal_core.flowir.FlowIR` or anything
    :func:`~cap_opendal_core.flowir.load_flow` accepts; input that is not a well-formed Flow IR
    document (bad JSON, a repeated key, a wrong type, an integer out of its range, too deep or too
    large) raises :class:`~cap_opendal_core.errors.InvalidInput`. Each diagnostic carries a JSON
    pointer, and a line and column when ``flow`` was JSON text or a file. An empty list means the
    flow passed every rule.
    """
    import dataclasses

    from .flowir import read_flow
    from .rules import RULE_GROUPS
    from .rules.context import FlowContext

    model, document = read_flow(flow)
    ctx = FlowContext(model, registry)
    diags: list[Diagnostic] = []
    for group in RULE_GROUPS:
        diags.extend(group(ctx))
    if document is not None:
        located = []
        for d in diags:
            where = document.location(d.pointer) if d.pointer is not None else None
            located.append(d if where is None else dataclasses.replace(d, line=where[0], column=where[1]))
        diags = located
    return sort_diagnostics(diags, model.aliases)


def check_node(
    alias: str,
    effects: Effects | str,
    determinism: Determinism | str,
    effect_hints: Iterable[str],
    determinism_hints: Iterable[str] = (),
    idempotency_key: str | None = None,
    registry: HintRegistry = hints.registry,
) -> list[Diagnostic]:
    """Compare one node's declared ``effects``/``determinism`` with its hints.

    Levels may be enum members or their JSON spellings (``"read_only"``). Hints without a matching
    constraint produce nothing here (unknown hints are preflight's ``CAP101``). ``DAG004`` fires when
    the node is effectful and ``idempotency_key`` is missing or blank.
    """
    declared_effects = _level(Effects, effects, "effects")
    declared_det = _level(Determinism, determinism, "determinism")
    effect_list = _hint_list(effect_hints, "effect_hints")
    det_list = _hint_list(determinism_hints, "determinism_hints")

    diags: list[Diagnostic] = []
    for hint in effect_list:
        effect_c = registry.lookup(hint, "effect")
        if effect_c is not None and effect_c.minimum > declared_effects:
            diags.append(_effect201(alias, hint, declared_effects, effect_c))
        det_c = registry.effect_determinism(hint, det_list)
        if det_c is not None and det_c.minimum > declared_det:
            diags.append(_det_diag("DET301", "effect", alias, hint, declared_det, det_c))
    for hint in det_list:
        det_c = registry.lookup(hint, "determinism")
        if det_c is not None and det_c.minimum > declared_det:
            diags.append(_det_diag("DET302", "determinism", alias, hint, declared_det, det_c))
    if declared_effects is Effects.EFFECTFUL and (idempotency_key is None or not idempotency_key.strip()):
        diags.append(
            Diagnostic(
                code="DAG004",
                node=alias,
                hint=None,
                declared=Effects.EFFECTFUL.json,
                required="idempotency.key",
                message=(
                    f"node {alias!r} is effectful but has no idempotency.key; set one so that retries "
                    "and redeliveries do not repeat its effects"
                ),
            )
        )
    return sort_diagnostics(diags, [alias])


def _effect201(alias: str, hint: str, declared: Effects, c: Constraint) -> Diagnostic:
    minimum = Effects(c.minimum)
    return Diagnostic(
        code="EFFECT201",
        node=alias,
        hint=hint,
        declared=declared.json,
        required=minimum.json,
        message=(
            f"node {alias!r} declares effects {declared.json!r} but {hint}{_via(hint, c)} needs at least "
            f"{minimum.json!r}{_why(c)}; declare effects {_choices(Effects, minimum)}, or drop the hint"
        ),
    )


def _det_diag(
    code: str, list_name: str, alias: str, hint: str, declared: Determinism, c: Constraint
) -> Diagnostic:
    minimum = Determinism(c.minimum)
    return Diagnostic(
        code=code,
        node=alias,
        hint=hint,
        declared=declared.json,
        required=minimum.json,
        message=(
            f"node {alias!r} claims determinism {declared.json!r} but its {list_name} hint {hint}"
            f"{_via(hint, c)} allows no stricter than {minimum.json!r}{_why(c)}; "
            f"declare determinism {_choices(Determinism, minimum)}"
        ),
    )


def _via(hint: str, c: Constraint) -> str:
    """Name the registered constraint when it is a broader one than the hint itself."""
    return "" if c.hint == hint else f" (under {c.hint})"


def _why(c: Constraint) -> str:
    return f" ({c.why})" if c.why else ""


def _choices(lattice: type[Effects] | type[Determinism], minimum: Effects | Determinism) -> str:
    ok = [f"{level.json!r}" for level in lattice if level >= minimum]
    return ok[0] if len(ok) == 1 else ", ".join(ok[:-1]) + " or " + ok[-1]


_L = TypeVar("_L", Effects, Determinism)


def _level(lattice: type[_L], value: _L | str, field: str) -> _L:
    if isinstance(value, lattice):
        return value
    if isinstance(value, str):
        try:
            return lattice.parse(value)
        except ValueError as exc:
            raise InvalidInput(str(exc), field=field) from None
    raise InvalidInput(
        f"{field} must be a {lattice.__name__} or its JSON spelling, got {value!r}", field=field
    )


def _hint_list(values: Iterable[str], field: str) -> list[str]:
    """Well-formed, de-duplicated hint ids in first-seen order."""
    if isinstance(values, str):
        raise InvalidInput(f"{field} must be a collection of hint ids, not a single string", field=field)
    out: list[str] = []
    for value in values:
        try:
            validate_hint_id(value)
        except ValueError as exc:
            raise InvalidInput(str(exc), field=field) from None
        if value not in out:
            out.append(value)
    return out
