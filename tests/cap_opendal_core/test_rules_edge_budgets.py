"""Edge budget rules: CTRL101 (timeout_ms 0), CTRL102 (max_items 0), SPILL001 (unbounded spill),
SPILL002 (nowhere to spill: no resource::blob::… hint in the flow)."""

from __future__ import annotations

from typing import Any

import pytest

from cap_opendal_core.validate import validate_flow
from tests.support.flows import edge, flow, node

WRITER = node(
    "store", "effectful", "best_effort", idempotency={"key": "id"}, effectHints=["resource::blob::write"]
)


def found(*edges: dict[str, Any], nodes: list[dict[str, Any]] | None = None) -> list[tuple[Any, ...]]:
    doc = flow(nodes if nodes is not None else [node("a"), node("b")], list(edges))
    return [(d.code, d.edge, d.pointer) for d in validate_flow(doc)]


@pytest.mark.parametrize(("timeout", "fires"), [(0, True), (1, False), (None, False), (2**64 - 1, False)])
def test_ctrl101_only_for_a_zero_timeout(timeout: int | None, fires: bool) -> None:
    extra: dict[str, Any] = {} if timeout is None else {"timeout_ms": timeout}
    assert found(edge("a", "b", **extra)) == ([("CTRL101", 0, "/edges/0/timeout_ms")] if fires else [])


@pytest.mark.parametrize(("items", "fires"), [(0, True), (1, False), (None, False), (2**32 - 1, False)])
def test_ctrl102_only_for_a_zero_buffer(items: int | None, fires: bool) -> None:
    buffer = {} if items is None else {"max_items": items}
    assert found(edge("a", "b", buffer=buffer)) == (
        [("CTRL102", 0, "/edges/0/buffer/max_items")] if fires else []
    )


def test_both_budgets_on_one_edge_and_on_several() -> None:
    bad = edge("a", "b", timeout_ms=0, buffer={"max_items": 0})
    assert found(bad, edge("b", "a"), bad) == [  # node findings first (DAG200 is about 'a'), then by edge
        ("DAG200", 1, "/edges/1"),
        ("CTRL101", 0, "/edges/0/timeout_ms"),
        ("CTRL102", 0, "/edges/0/buffer/max_items"),
        ("CTRL101", 2, "/edges/2/timeout_ms"),
        ("CTRL102", 2, "/edges/2/buffer/max_items"),
    ]


def test_spill_with_a_bound_and_a_blob_writer_is_fine() -> None:
    spill = edge("a", "store", buffer={"max_items": 100, "spill_tier": "r2"})
    assert found(spill, nodes=[node("a"), WRITER]) == []


def test_spill001_without_max_items() -> None:
    spill = edge("a", "store", buffer={"spill_tier": "r2", "spill_threshold_bytes": 1 << 20})
    assert found(spill, nodes=[node("a"), WRITER]) == [("SPILL001", 0, "/edges/0/buffer/spill_tier")]


def test_spill002_once_per_flow_and_names_the_claim_check() -> None:
    spill = edge("a", "b", buffer={"max_items": 10, "spill_tier": "disk"})
    doc = flow([node("a"), node("b")], [spill, spill])
    diags = validate_flow(doc)
    assert [(d.code, d.edge) for d in diags] == [("SPILL002", 0)]
    assert "claim check" in diags[0].message
    assert "R2" in diags[0].message


@pytest.mark.parametrize(
    ("hints", "fires"),
    [
        (["resource::blob::read"], False),
        (["resource::blob::write"], False),
        (["resource::blob"], True),  # a family, not a blob operation
        (["resource::blobs::write"], True),
        (["resource::kv::write"], True),
    ],
)
def test_spill002_looks_for_a_blob_operation_hint_anywhere(hints: list[str], fires: bool) -> None:
    elsewhere = node("elsewhere", "effectful", "best_effort", idempotency={"key": "k"}, effectHints=hints)
    spill = edge("a", "b", buffer={"max_items": 10, "spill_tier": "r2"})
    codes = [c for c, *_ in found(spill, nodes=[node("a"), node("b"), elsewhere])]
    assert ("SPILL002" in codes) == fires


def test_a_zero_bound_spill_is_ctrl102_not_spill001_and_combines_with_spill002() -> None:
    spill = edge("a", "b", buffer={"max_items": 0, "spill_tier": "r2"})
    assert [c for c, *_ in found(spill)] == ["CTRL102", "SPILL002"]


def test_budget_findings_combine_with_exactly_once_findings() -> None:
    bad = edge("a", "b", "exactly_once", timeout_ms=0)
    assert [c for c, *_ in found(bad)] == ["EXACT001", "EXACT002", "EXACT003", "CTRL101"]
