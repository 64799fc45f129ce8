"""The hint validator: EFFECT201, DET301, DET302 and DAG004 exactly as hints.md defines them."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.flowir import load_flow
from cap_opendal_core.hints import BUILTIN_CONSTRAINTS, Constraint, Determinism, Effects, HintRegistry
from cap_opendal_core.hints import registry as global_registry
from cap_opendal_core.plugins import discover
from cap_opendal_core.validate import check_node, validate_flow
from tests.support.fixtures import example_flow
from tests.support.flows import node

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cap_opendal_core.diagnostics import Diagnostic

REPO = Path(__file__).resolve().parents[2]


def example(name: str) -> Path:
    """Path of a reference example flow (tests/fixtures/flowir)."""
    return example_flow(name)


@pytest.fixture
def reg() -> HintRegistry:
    """A private registry with the built-ins and the installed capabilities' families, so tests never
    touch the process-wide one."""
    return HintRegistry([*BUILTIN_CONSTRAINTS, *(c for plugin in discover() for c in plugin.hints)])


def summary(diags: list[Diagnostic]) -> list[tuple[Any, ...]]:
    return [(d.code, d.node, d.hint, d.declared, d.required) for d in diags]


def flow(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"id": "f", "name": "f", "profile": "dev", "version": "0.1.0", "nodes": list(nodes)}


# --- the two example flows -----------------------------------------------------------------------


def test_etl_logs_example() -> None:
    diags = validate_flow(example("etl_logs"))
    assert summary(diags) == [
        ("DET301", "trigger", "resource::queue::consume", "strict", "best_effort"),
        ("DET301", "parse", "resource::blob::read", "strict", "best_effort"),
        ("EFFECT201", "parse", "resource::blob::read", "pure", "read_only"),
    ]
    assert all(d.severity == "error" for d in diags)
    for d in diags:
        assert "\n" not in d.message
        assert repr(d.node) in d.message
        assert str(d.hint) in d.message


def test_etl_logs_messages_give_guidance() -> None:
    trigger, _, parse_effect = validate_flow(example("etl_logs"))
    assert "under resource::queue" in trigger.message
    assert "'best_effort' or 'nondeterministic'" in trigger.message
    assert "'read_only' or 'effectful'" in parse_effect.message


def test_s2_site_example_is_clean() -> None:
    assert validate_flow(example("s2_site")) == []


def test_validate_flow_accepts_every_source_form() -> None:
    path = example("etl_logs")
    expected = validate_flow(path)
    text = path.read_text()
    assert all(d.line is not None and d.column is not None for d in expected)
    for source in (str(path), text, text.encode()):
        assert validate_flow(source) == expected
    # already-parsed input has no text to point into: the same findings, without line and column
    unplaced = [dataclasses.replace(d, line=None, column=None) for d in expected]
    for parsed in (json.loads(text), load_flow(path)):
        assert validate_flow(parsed) == unplaced


def test_validate_flow_rejects_malformed_input() -> None:
    data = json.loads(example("etl_logs").read_text())
    data["nodes"][1]["effects"] = "sideways"
    with pytest.raises(InvalidInput) as info:
        validate_flow(data)
    assert info.value.field == "nodes[1].effects"


def test_write_wh_dedupe_store_has_no_effect_constraint_and_meets_determinism(reg: HintRegistry) -> None:
    assert reg.lookup("resource::dedupe::store", "effect") is None
    det = reg.lookup("resource::dedupe::store", "determinism")
    assert det is not None
    assert det.hint == "resource::dedupe"
    assert det.minimum is Determinism.BEST_EFFORT
    assert (
        check_node(
            "write_wh",
            "effectful",
            "best_effort",
            ["resource::db::write", "resource::dedupe::store"],
            idempotency_key="k",
            registry=reg,
        )
        == []
    )


# --- matching ------------------------------------------------------------------------------------


def test_matching_is_by_whole_segments(reg: HintRegistry) -> None:
    assert check_node("n", "pure", "strict", ["resource::blobs"], registry=reg) == []
    assert check_node("n", "pure", "strict", ["resource::blobs::read"], registry=reg) == []
    # resource::blob itself has only a determinism constraint; the effect ones are deeper
    assert summary(check_node("n", "pure", "strict", ["resource::blob"], registry=reg)) == [
        ("DET301", "n", "resource::blob", "strict", "best_effort")
    ]
    # deeper than any registered id: the longest registered prefix applies
    assert summary(check_node("n", "pure", "strict", ["resource::blob::read::range"], registry=reg)) == [
        ("DET301", "n", "resource::blob::read::range", "strict", "best_effort"),
        ("EFFECT201", "n", "resource::blob::read::range", "pure", "read_only"),
    ]


def test_most_specific_constraint_wins_for_pinned_blob(reg: HintRegistry) -> None:
    assert check_node("n", "read_only", "stable", ["resource::blob::pinned"], registry=reg) == []
    assert summary(check_node("n", "read_only", "strict", ["resource::blob::pinned"], registry=reg)) == [
        ("DET301", "n", "resource::blob::pinned", "strict", "stable")
    ]
    # the plain read falls under resource::blob (best_effort), so stable is too strict for it
    assert summary(check_node("n", "read_only", "stable", ["resource::blob::read"], registry=reg)) == [
        ("DET301", "n", "resource::blob::read", "stable", "best_effort")
    ]


def test_most_specific_constraint_wins_for_state(reg: HintRegistry) -> None:
    assert check_node("n", "read_only", "stable", ["resource::state::read"], registry=reg) == []
    assert summary(check_node("n", "read_only", "strict", ["resource::state::read"], registry=reg)) == [
        ("DET301", "n", "resource::state::read", "strict", "stable")
    ]
    assert summary(
        check_node("n", "effectful", "stable", ["resource::state::write"], idempotency_key="k", registry=reg)
    ) == [("DET301", "n", "resource::state::write", "stable", "best_effort")]
    assert summary(check_node("n", "read_only", "stable", ["resource::state::write"], registry=reg)) == [
        ("DET301", "n", "resource::state::write", "stable", "best_effort"),
        ("EFFECT201", "n", "resource::state::write", "read_only", "effectful"),
    ]


def test_unknown_hints_produce_no_validator_diagnostic(reg: HintRegistry) -> None:
    assert check_node("n", "pure", "strict", ["acme::thing"], ["acme::other"], registry=reg) == []


# --- each code -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "declared", "fires"),
    [
        ("resource::kv::write", "pure", True),
        ("resource::kv::write", "read_only", True),
        ("resource::kv::write", "effectful", False),
        ("resource::kv::read", "pure", True),
        ("resource::kv::read", "read_only", False),
        ("resource::kv::read", "effectful", False),
        ("resource::queue::consume", "read_only", False),
    ],
)
def test_effect201_when_minimum_above_declared(
    reg: HintRegistry, hint: str, declared: str, fires: bool
) -> None:
    diags = check_node("n", declared, "nondeterministic", [hint], idempotency_key="k", registry=reg)
    assert [d.code for d in diags] == (["EFFECT201"] if fires else [])


@pytest.mark.parametrize(
    ("declared", "fires"),
    [("strict", True), ("stable", True), ("best_effort", False), ("nondeterministic", False)],
)
def test_det301_and_det302_boundaries(reg: HintRegistry, declared: str, fires: bool) -> None:
    d301 = check_node("n", "read_only", declared, ["resource::kv::read"], registry=reg)
    assert [d.code for d in d301] == (["DET301"] if fires else [])
    d302 = check_node("n", "pure", declared, [], ["resource::clock"], registry=reg)
    assert summary(d302) == ([("DET302", "n", "resource::clock", declared, "best_effort")] if fires else [])


def test_determinism_hints_never_raise_effect201(reg: HintRegistry) -> None:
    diags = check_node("n", "pure", "strict", [], ["resource::kv::write"], registry=reg)
    assert summary(diags) == [("DET302", "n", "resource::kv::write", "strict", "best_effort")]


def test_same_hint_in_both_lists_gives_det301_and_det302(reg: HintRegistry) -> None:
    diags = check_node("n", "read_only", "strict", ["resource::rng"], ["resource::rng"], registry=reg)
    assert [d.code for d in diags] == ["DET301", "DET302"]


@pytest.mark.parametrize("key", [None, "", "   "])
def test_dag004_for_effectful_without_key(reg: HintRegistry, key: str | None) -> None:
    diags = check_node("w", "effectful", "best_effort", [], idempotency_key=key, registry=reg)
    assert summary(diags) == [("DAG004", "w", None, "effectful", "idempotency.key")]
    assert "idempotency.key" in diags[0].message


def test_no_dag004_with_a_key_or_when_not_effectful(reg: HintRegistry) -> None:
    assert check_node("w", "effectful", "best_effort", [], idempotency_key="order_id", registry=reg) == []
    assert check_node("r", "read_only", "best_effort", [], registry=reg) == []
    assert check_node("p", Effects.PURE, Determinism.STRICT, [], registry=reg) == []


def test_dag004_from_a_flow() -> None:
    data = flow(
        node("a", "effectful", "best_effort"),
        node("b", "effectful", "best_effort", idempotency={"key": None, "scope": "node"}),
        node("c", "effectful", "best_effort", idempotency={"key": "id"}),
    )
    assert [(d.code, d.node) for d in validate_flow(data)] == [("DAG004", "a"), ("DAG004", "b")]


# --- registry ------------------------------------------------------------------------------------


def test_plugin_registration_replaces_a_constraint(reg: HintRegistry) -> None:
    before = check_node("n", "read_only", "stable", ["resource::kv::read"], registry=reg)
    assert [d.code for d in before] == ["DET301"]
    reg.register(Constraint("resource::kv", "determinism", Determinism.STABLE, source="cap-test-plugin"))
    assert check_node("n", "read_only", "stable", ["resource::kv::read"], registry=reg) == []
    reg.register(Constraint("resource::kv", "determinism", Determinism.NONDETERMINISTIC, source="later"))
    after = check_node("n", "read_only", "best_effort", ["resource::kv::read"], registry=reg)
    assert summary(after) == [("DET301", "n", "resource::kv::read", "best_effort", "nondeterministic")]
    # the process-wide registry is untouched
    assert global_registry.determinism_minimum("resource::kv::read") is Determinism.BEST_EFFORT


def test_plugin_hint_reaches_validate_flow(reg: HintRegistry) -> None:
    data = flow(node("post", "read_only", "best_effort", effectHints=["acme::ledger::append"]))
    assert validate_flow(data, registry=reg) == []
    reg.register(Constraint("acme::ledger", "effect", Effects.EFFECTFUL, source="acme-ledger"))
    assert summary(validate_flow(data, registry=reg)) == [
        ("EFFECT201", "post", "acme::ledger::append", "read_only", "effectful")
    ]


@pytest.fixture
def global_hint() -> Iterator[str]:
    hint = "cap-tests::scratch"
    global_registry.register(Constraint(hint, "determinism", Determinism.BEST_EFFORT, source="tests"))
    try:
        yield hint
    finally:
        global_registry.unregister(hint, "determinism")


def test_default_registry_is_the_process_wide_one(global_hint: str) -> None:
    data = flow(node("n", "pure", "strict", effectHints=[global_hint]))
    assert [d.code for d in validate_flow(data)] == ["DET301"]
    assert validate_flow(data, registry=HintRegistry(BUILTIN_CONSTRAINTS)) == []


# --- ordering and input checks -------------------------------------------------------------------


def test_order_is_flow_order_then_code_then_hint() -> None:
    data = flow(
        node("zeta", "pure", "strict", effectHints=["resource::kv::write", "resource::blob::read"]),
        node("alpha", "effectful", "strict", determinismHints=["resource::rng", "resource::clock"]),
    )
    assert [(d.node, d.code, d.hint) for d in validate_flow(data)] == [
        ("zeta", "DET301", "resource::blob::read"),
        ("zeta", "DET301", "resource::kv::write"),
        ("zeta", "EFFECT201", "resource::blob::read"),
        ("zeta", "EFFECT201", "resource::kv::write"),
        ("alpha", "DAG004", None),
        ("alpha", "DET302", "resource::clock"),
        ("alpha", "DET302", "resource::rng"),
    ]


def test_order_does_not_depend_on_hint_order(reg: HintRegistry) -> None:
    hints_in = ["resource::kv::write", "resource::blob::read", "resource::http::write", "resource::db::read"]
    expected = check_node("n", "pure", "strict", hints_in, registry=reg)
    assert len(expected) == 8
    rng = random.Random(7)
    for _ in range(10):
        shuffled = hints_in[:]
        rng.shuffle(shuffled)
        assert check_node("n", "pure", "strict", shuffled, registry=reg) == expected


def test_repeated_hints_are_reported_once(reg: HintRegistry) -> None:
    diags = check_node("n", "pure", "best_effort", ["resource::kv::read"] * 3, registry=reg)
    assert [d.code for d in diags] == ["EFFECT201"]


def test_check_node_accepts_enums_and_json_spellings(reg: HintRegistry) -> None:
    a = check_node("n", Effects.PURE, Determinism.STRICT, ("resource::kv::read",), registry=reg)
    b = check_node("n", "pure", "strict", iter(["resource::kv::read"]), registry=reg)
    assert a == b
    assert len(a) == 2


def test_check_node_rejects_bad_input(reg: HintRegistry) -> None:
    with pytest.raises(InvalidInput, match="unknown effects level 'sideways'") as info:
        check_node("n", "sideways", "strict", [], registry=reg)
    assert info.value.field == "effects"
    with pytest.raises(InvalidInput) as info:
        check_node("n", "pure", Effects.PURE, [], registry=reg)  # type: ignore[arg-type]
    assert info.value.field == "determinism"
    with pytest.raises(InvalidInput, match="not a single string") as info:
        check_node("n", "pure", "strict", "resource::kv::read", registry=reg)
    assert info.value.field == "effect_hints"
    with pytest.raises(InvalidInput, match="malformed hint id") as info:
        check_node("n", "pure", "strict", [], ["resource::"], registry=reg)
    assert info.value.field == "determinism_hints"


def test_a_read_pinned_to_an_etag_allows_stable() -> None:
    """issue 4: a read conditioned on an etag records resource::blob::pinned, which allows Stable."""
    pinned = check_node("n", "read_only", "stable", ["resource::blob::read"], ["resource::blob::pinned"])
    assert pinned == []
    strict = check_node("n", "read_only", "strict", ["resource::blob::read"], ["resource::blob::pinned"])
    assert [(d.code, d.hint, d.required) for d in strict] == [("DET302", "resource::blob::pinned", "stable")]
    # without the pinned hint the resource's own constraint governs the effect hint
    unpinned = check_node("n", "read_only", "stable", ["resource::blob::read"], [])
    assert [(d.code, d.hint, d.required) for d in unpinned] == [
        ("DET301", "resource::blob::read", "best_effort")
    ]
    # a more specific hint from another family does not excuse the effect hint
    other = check_node("n", "read_only", "stable", ["resource::kv::read"], ["resource::blob::pinned"])
    assert [d.code for d in other] == ["DET301"]


def test_a_sibling_effect_hint_does_not_excuse_a_write() -> None:
    """resource::state::read is an effect hint of its own; beside a write it must not hide DET301."""
    diags = check_node(
        "n", "effectful", "stable", ["resource::state::write"], ["resource::state::read"], idempotency_key="k"
    )
    assert [(d.code, d.hint) for d in diags] == [("DET301", "resource::state::write")]
