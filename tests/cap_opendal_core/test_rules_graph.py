"""Graph rules: DAG205 duplicate alias, DAG202 unknown alias, DAG200 cycle, DAG201 port schemas,
DAG104 triggers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cap_opendal_core.validate import validate_flow
from tests.support.flows import chain, edge, flow, node


def codes(doc: dict[str, Any]) -> list[str]:
    return [d.code for d in validate_flow(doc)]


def named(alias: str, inp: str | None, out: str | None, **extra: Any) -> dict[str, Any]:
    return node(alias, in_schema=_schema(inp), out_schema=_schema(out), **extra)


def _schema(name: str | None) -> dict[str, str]:
    return {"kind": "opaque"} if name is None else {"kind": "named", "name": name}


# --- DAG205 / DAG202: reported, all of them, with everything else -------------------------------------


def test_duplicate_aliases_are_each_reported_with_their_pointer() -> None:
    doc = flow([node("a"), node("b"), node("a"), node("b"), node("a")])
    diags = validate_flow(json.dumps(doc, indent=1))
    assert [(d.code, d.node, d.pointer) for d in diags] == [
        ("DAG205", "a", "/nodes/2/alias"),
        ("DAG205", "a", "/nodes/4/alias"),
        ("DAG205", "b", "/nodes/3/alias"),
    ]
    assert "nodes[2] reuses the alias 'a' of nodes[0]" in diags[0].message
    assert all(d.line is not None for d in diags)


def test_unknown_aliases_on_both_ends_of_several_edges_are_all_reported() -> None:
    doc = flow([node("a"), node("b")], [edge("a", "ghost"), edge("nobody", "b"), edge("x", "y")])
    diags = validate_flow(doc)
    assert [(d.code, d.edge, d.pointer) for d in diags] == [
        ("DAG202", 0, "/edges/0/to"),
        ("DAG202", 1, "/edges/1/from"),
        ("DAG202", 2, "/edges/2/from"),
        ("DAG202", 2, "/edges/2/to"),
    ]
    assert "names 'ghost' as its target" in diags[0].message


def test_graph_findings_come_together_with_declaration_findings() -> None:
    doc = flow(
        [
            node("a"),
            node("w", "effectful", "best_effort"),
            node("a", "pure", "strict", effectHints=["resource::kv::read"]),
        ],
        [edge("a", "ghost")],
    )
    assert sorted(codes(doc)) == ["DAG004", "DAG202", "DAG205", "DET301", "EFFECT201"]


def test_a_clean_graph_has_no_graph_findings() -> None:
    assert codes(chain("a", "b", "c", "d")) == []


# --- DAG200 ------------------------------------------------------------------------------------------


def test_a_cycle_is_reported_once_naming_its_nodes() -> None:
    doc = chain("entry", "a", "b", "c")
    doc["edges"].append(edge("c", "a"))
    (d,) = validate_flow(doc)
    assert (d.code, d.node, d.edge, d.pointer) == ("DAG200", "a", 3, "/edges/3")
    assert "'a' -> 'b' -> 'c' -> 'a'" in d.message
    assert "entry" not in d.message


def test_a_self_loop_is_a_cycle() -> None:
    doc = flow([node("a")], [edge("a", "a")])
    (d,) = validate_flow(doc)
    assert d.code == "DAG200"
    assert "'a' -> 'a'" in d.message


@pytest.mark.parametrize("shape", ["diamond", "fan-out", "two roots"])
def test_shared_descendants_are_not_cycles(shape: str) -> None:
    edges = {
        "diamond": [edge("a", "b"), edge("a", "c"), edge("b", "d"), edge("c", "d")],
        "fan-out": [edge("a", "b"), edge("a", "c"), edge("a", "d")],
        "two roots": [edge("a", "c"), edge("b", "c"), edge("c", "d"), edge("a", "d")],
    }[shape]
    assert codes(flow([node(x) for x in "abcd"], edges)) == []


def test_a_cycle_through_an_unknown_alias_is_only_dag202() -> None:
    doc = flow([node("a")], [edge("a", "ghost"), edge("ghost", "a")])
    assert codes(doc) == ["DAG202", "DAG202"]


def test_a_very_long_chain_and_cycle_do_not_exhaust_the_stack() -> None:
    aliases = [f"n{i}" for i in range(20_000)]
    doc = chain(*aliases)
    assert codes(doc) == []
    doc["edges"].append(edge(aliases[-1], aliases[0]))
    (d,) = validate_flow(doc)
    assert d.code == "DAG200"


# --- DAG201 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "inp", "fires"),
    [("Order", "Order", False), ("Order", "Invoice", True), (None, "Order", False), ("Order", None, False)],
)
def test_port_schemas_must_agree_when_both_are_named(out: str | None, inp: str | None, fires: bool) -> None:
    doc = flow([named("a", None, out), named("b", inp, None)], [edge("a", "b")])
    diags = validate_flow(doc)
    assert [d.code for d in diags] == (["DAG201"] if fires else [])
    if fires:
        assert (diags[0].node, diags[0].edge, diags[0].declared, diags[0].required) == ("b", 0, out, inp)
        assert "carries 'Order'" in diags[0].message
        assert "takes 'Invoice'" in diags[0].message


def test_port_mismatch_combines_with_a_cycle_and_is_skipped_for_unknown_aliases() -> None:
    doc = flow(
        [named("a", "X", "Y"), named("b", "Z", "X")], [edge("a", "b"), edge("b", "a"), edge("a", "ghost")]
    )
    assert sorted(codes(doc)) == ["DAG200", "DAG201", "DAG202"]


# --- DAG104 ------------------------------------------------------------------------------------------


def trig(alias: str) -> dict[str, Any]:
    return {**node(alias), "kind": "trigger"}


def test_one_trigger_is_fine_two_are_not() -> None:
    assert codes(flow([trig("t"), node("a")], [edge("t", "a")])) == []
    diags = validate_flow(flow([trig("t1"), node("a"), trig("t2")], [edge("t1", "a"), edge("t2", "a")]))
    assert [(d.code, d.node, d.pointer, d.declared) for d in diags] == [
        ("DAG104", None, "/nodes/2/kind", "2")
    ]
    assert "'t1', 't2'" in diags[0].message
    assert "allow_multiple_triggers" in diags[0].message


@pytest.mark.parametrize(("allow", "fires"), [(True, False), (False, True), (None, True)])
def test_multiple_triggers_need_the_policy(allow: bool | None, fires: bool) -> None:
    lint: dict[str, Any] = {} if allow is None else {"allow_multiple_triggers": allow}
    doc = flow([trig("t1"), trig("t2")], policies={"lint": lint})
    assert codes(doc) == (["DAG104"] if fires else [])


def test_dag104_combines_with_declaration_findings_on_the_triggers() -> None:
    doc = flow([trig("t1"), {**trig("t2"), "effects": "effectful", "determinism": "best_effort"}])
    assert codes(doc) == ["DAG004", "DAG104"]
