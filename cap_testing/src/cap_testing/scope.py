"""Scope assertions: a node may do no more, and no less deterministically, than its Flow IR declares.

:func:`assert_node` compares one :class:`~cap_opendal_core.scope.InvocationScope` (what a node's code
did) with the node's declaration and fails the test with the validator's diagnostics (``EFFECT201``,
``DET301``, ``DET302``, ``TIME015``) when it did more. :func:`checked_node` opens the scope, runs the
block and asserts on the way out. Declarations come from a Flow IR node (a mapping with ``effects``
and ``determinism``), from a whole Flow IR document (a mapping, or a path to the JSON file) and the
node's alias, or from the two levels given directly.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cap_opendal_core.scope import InvocationScope

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from cap_opendal_core.diagnostics import Diagnostic

__all__ = ["assert_node", "checked_node", "declared_of", "node_diagnostics"]


def _load_flow(flow: Mapping[str, Any] | str | os.PathLike[str]) -> Mapping[str, Any]:
    if isinstance(flow, str | os.PathLike):
        path = Path(flow)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the Flow IR file {str(path)!r}: {exc}") from None
    else:
        document = flow
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
        raise ValueError("a Flow IR document is a JSON object with a 'nodes' list")
    return document


def declared_of(flow: Mapping[str, Any] | str | os.PathLike[str], alias: str) -> dict[str, Any]:
    """The node ``alias`` of the Flow IR document ``flow`` (a mapping or a path to its JSON file)."""
    nodes = [n for n in _load_flow(flow)["nodes"] if isinstance(n, dict)]
    for node in nodes:
        if node.get("alias") == alias:
            return node
    known = ", ".join(str(n.get("alias")) for n in nodes) or "no nodes"
    raise ValueError(f"node {alias!r} is not in the flow (it has: {known})")


def _levels(
    scope: InvocationScope,
    declared: Mapping[str, Any] | None,
    flow: Mapping[str, Any] | str | os.PathLike[str] | None,
    effects: str | None,
    determinism: str | None,
) -> tuple[str, str, str]:
    """``(alias, effects, determinism)`` from exactly one way of declaring them."""
    given = sum(x is not None for x in (declared, flow)) + (effects is not None or determinism is not None)
    if given != 1:
        raise TypeError(
            "assert_node: give exactly one of declared= (a Flow IR node), flow= (a Flow IR document or "
            "its path; the node is the scope's node_name) or effects= and determinism="
        )
    alias = scope.node_name or "<node>"
    if flow is not None:
        if scope.node_name is None:
            raise TypeError("assert_node(flow=…): the scope needs a node_name to find its declaration")
        declared = declared_of(flow, scope.node_name)
    if declared is not None:
        alias = str(declared.get("alias") or alias)
        effects, determinism = declared.get("effects"), declared.get("determinism")
        if not isinstance(effects, str) or not isinstance(determinism, str):
            raise ValueError(f"node {alias!r} declares no 'effects' and 'determinism' strings")
    if effects is None or determinism is None:
        raise TypeError("assert_node: give both effects= and determinism=")
    return alias, effects, determinism


def node_diagnostics(
    scope: InvocationScope,
    declared: Mapping[str, Any] | None = None,
    *,
    flow: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    effects: str | None = None,
    determinism: str | None = None,
) -> list[Diagnostic]:
    """The diagnostics :func:`assert_node` would fail with (an empty list when the node kept to them)."""
    _, declared_effects, declared_determinism = _levels(scope, declared, flow, effects, determinism)
    return scope.check(declared_effects, declared_determinism)


def assert_node(
    scope: InvocationScope,
    declared: Mapping[str, Any] | None = None,
    *,
    flow: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    effects: str | None = None,
    determinism: str | None = None,
) -> None:
    """Fail the test when ``scope`` observed more effects or less determinism than declared.

    The failure message names the node, what it declared, what it was seen doing, and one line per
    diagnostic as the validator prints it (code, node, hint, declared and required levels, guidance).
    """
    alias, declared_effects, declared_determinism = _levels(scope, declared, flow, effects, determinism)
    diagnostics = scope.check(declared_effects, declared_determinism)
    if diagnostics:
        lines = [
            f"node {alias!r} did more than it declares "
            f"(declared effects={declared_effects}, determinism={declared_determinism}; "
            f"observed effects={scope.observed_effects.json}, determinism={scope.observed_determinism.json}; "
            f"effect hints: {', '.join(scope.effect_hints) or 'none'}):",
            *(f"  {d}" for d in diagnostics),
        ]
        pytest.fail("\n".join(lines), pytrace=False)


@contextmanager
def checked_node(
    alias: str,
    declared: Mapping[str, Any] | None = None,
    *,
    flow: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    effects: str | None = None,
    determinism: str | None = None,
    timeout: float | None = None,
) -> Iterator[InvocationScope]:
    """Run the block as one execution of node ``alias`` in its own scope, then :func:`assert_node`.

    An exception from the block propagates as itself (the assertion is skipped: the node did not
    finish, so what it did is not a verdict on its declaration).
    """
    with InvocationScope(alias, timeout=timeout) as scope:
        yield scope
    assert_node(scope, declared, flow=flow, effects=effects, determinism=determinism)
