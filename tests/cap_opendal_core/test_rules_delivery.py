"""Exactly-once rules: EXACT001 (a dedupe capability), EXACT002 (a key), EXACT003 (a TTL >= 300000 ms),
statically and — for EXACT001 — at preflight, against the bound Dedupe's descriptor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_opendal_core import CapabilityBag, preflight
from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.rules.delivery import DEDUPE_REQUIREMENTS, MIN_EXACTLY_ONCE_TTL_MS
from cap_opendal_core.validate import validate_flow
from tests.support.flows import dedupe_consumer, edge, flow, node

if TYPE_CHECKING:
    from pathlib import Path


def once(target: dict[str, Any], delivery: str = "exactly_once") -> dict[str, Any]:
    return flow([node("p"), target], [edge("p", target["alias"], delivery)])


def found(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(d.code, d.node, d.edge, d.pointer) for d in validate_flow(doc)]


def test_a_dedupe_consumer_meets_every_rule() -> None:
    assert found(once(dedupe_consumer())) == []
    assert MIN_EXACTLY_ONCE_TTL_MS == 300_000


def test_without_a_dedupe_hint_exact001() -> None:
    target = dedupe_consumer(effectHints=None)
    target["effectHints"] = ["resource::kv::write"]
    diags = validate_flow(once(target))
    assert [(d.code, d.node, d.edge, d.pointer) for d in diags] == [
        ("EXACT001", "consume", 0, "/nodes/1/effectHints")
    ]
    assert "cap_cloudflare_do.Dedupe" in diags[0].message


@pytest.mark.parametrize(
    ("hint", "fires"),
    [
        ("resource::dedupe::write", False),
        ("resource::dedupe::store", False),
        ("resource::dedupe", False),
        ("resource::dedupes::write", True),  # whole segments, unlike a string prefix
        ("resource::dedupeish", True),
    ],
)
def test_dedupe_hint_matches_by_segment(hint: str, fires: bool) -> None:
    target = dedupe_consumer()
    target["effectHints"] = [hint]
    assert [c for c, *_ in found(once(target))] == (["EXACT001"] if fires else [])


@pytest.mark.parametrize("key", [None, "", "   "])
def test_without_a_key_exact002_and_dag004(key: str | None) -> None:
    target = dedupe_consumer()
    if key is None:
        del target["idempotency"]["key"]
    else:
        target["idempotency"]["key"] = key
    exact = "/nodes/1/idempotency" + ("" if key is None else "/key")
    dag = "/nodes/1/effects" if key is None else exact
    assert [(c, p) for c, _, _, p in found(once(target))] == [("DAG004", dag), ("EXACT002", exact)]


@pytest.mark.parametrize(
    ("ttl", "fires"), [(None, True), (0, True), (299_999, True), (300_000, False), (2**64 - 1, False)]
)
def test_ttl_must_be_declared_and_at_least_five_minutes(ttl: int | None, fires: bool) -> None:
    target = dedupe_consumer()
    if ttl is None:
        del target["idempotency"]["ttlMs"]
    else:
        target["idempotency"]["ttlMs"] = ttl
    diags = validate_flow(once(target))
    assert [d.code for d in diags] == (["EXACT003"] if fires else [])
    if fires:
        assert diags[0].declared == (None if ttl is None else str(ttl))
        assert "at least 300000" in diags[0].message


@pytest.mark.parametrize("delivery", ["at_least_once", "at_most_once"])
def test_other_deliveries_need_none_of_it(delivery: str) -> None:
    assert found(once(node("consume"), delivery)) == []


def test_all_three_at_once_on_a_pure_target_and_per_edge() -> None:
    doc = flow(
        [node("p"), node("q"), node("consume")],
        [edge("p", "consume", "exactly_once"), edge("q", "consume", "exactly_once")],
    )
    assert found(doc) == [
        ("EXACT001", "consume", 0, "/nodes/2"),
        ("EXACT002", "consume", 0, "/nodes/2"),  # no idempotency object in the file: the node
        ("EXACT003", "consume", 0, "/nodes/2"),
        ("EXACT001", "consume", 1, "/nodes/2"),
        ("EXACT002", "consume", 1, "/nodes/2"),
        ("EXACT003", "consume", 1, "/nodes/2"),
    ]


def test_exact_rules_combine_with_declaration_rules() -> None:
    target = dedupe_consumer()
    target["effects"] = "read_only"  # a dedupe write is effectful
    target["idempotency"]["ttlMs"] = 1000
    assert [c for c, *_ in found(once(target))] == ["EFFECT201", "EXACT003"]


def test_an_exactly_once_edge_to_an_unknown_alias_is_only_dag202() -> None:
    doc = flow([node("p")], [edge("p", "ghost", "exactly_once")])
    assert [c for c, *_ in found(doc)] == ["DAG202"]


# --- preflight: the bound Dedupe must be able to keep the promise ---------------------------------


class _Ledger:
    """A stand-in dedupe binding whose descriptor a test chooses."""

    binding_kind = "durable_object"
    provided_hints = ("resource::dedupe::write", "resource::dedupe")

    def __init__(self, **levels: str) -> None:
        self.descriptor = Descriptor(**levels)  # type: ignore[arg-type]


STRONG = {"consistency": "strong", "durability": "durable", "reservation": "atomic"}


def test_preflight_accepts_a_durable_atomic_dedupe() -> None:
    assert preflight(once(dedupe_consumer()), CapabilityBag({"DEDUPE": _Ledger(**STRONG)})) == []


@pytest.mark.parametrize(
    ("levels", "gaps"),
    [
        ({**STRONG, "durability": "ephemeral"}, [("durability", "ephemeral")]),
        ({**STRONG, "reservation": "best_effort"}, [("reservation", "best_effort")]),
        ({}, [("durability", "unknown"), ("reservation", "unknown")]),
    ],
)
def test_preflight_exact001_when_the_dedupe_binding_falls_short(
    levels: dict[str, str], gaps: list[tuple[str, str]]
) -> None:
    diags = preflight(once(dedupe_consumer()), CapabilityBag({"DEDUPE": _Ledger(**levels)}))
    assert sorted((d.code, d.node, d.edge, d.hint, d.declared) for d in diags) == [
        ("EXACT001", "consume", 0, field, level) for field, level in gaps
    ]
    assert all(
        "'DEDUPE'" in d.message and d.required == DEDUPE_REQUIREMENTS[d.hint or ""].describe() for d in diags
    )


def test_preflight_one_good_provider_is_enough_and_no_provider_is_cap101() -> None:
    bag = CapabilityBag({"WEAK": _Ledger(), "GOOD": _Ledger(**STRONG)})
    assert preflight(once(dedupe_consumer()), bag) == []
    (missing,) = preflight(once(dedupe_consumer()), CapabilityBag({}))
    assert (missing.code, missing.hint) == ("CAP101", "resource::dedupe::write")


def test_preflight_ignores_dedupe_bindings_of_non_exactly_once_targets() -> None:
    assert preflight(once(dedupe_consumer(), "at_least_once"), CapabilityBag({"D": _Ledger()})) == []


def test_cap_cloudflare_do_dedupe_satisfies_exact001_unless_in_memory(tmp_path: Path) -> None:
    from cap_cloudflare_do import Dedupe, DedupeLedger, DurableObjectNamespace

    durable = Dedupe.local(tmp_path / "ledger")
    assert preflight(once(dedupe_consumer()), CapabilityBag({"DEDUPE": durable})) == []
    memory = Dedupe(DurableObjectNamespace.from_url("memory://", object_class=DedupeLedger))
    diags = preflight(once(dedupe_consumer()), CapabilityBag({"DEDUPE": memory}))
    assert [(d.code, d.hint, d.declared) for d in diags] == [("EXACT001", "durability", "ephemeral")]
