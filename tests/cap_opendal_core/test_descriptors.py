"""Descriptors, requirements and the CAP102 check."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from cap_opendal_core.descriptors import (
    DESCRIPTOR_FIELDS,
    DESCRIPTOR_LEVELS,
    UNKNOWN,
    Descriptor,
    Requirement,
    check_requirements,
    level_rank,
)
from cap_opendal_core.errors import InvalidInput


def test_the_documented_orders() -> None:
    assert dict(DESCRIPTOR_LEVELS) == {
        "consistency": ("eventual", "strong"),
        "durability": ("ephemeral", "durable"),
        "ttl": ("none", "namespace_default", "per_write"),
        "delivery": ("at_most_once", "at_least_once", "exactly_once"),
        "ordering": ("unordered", "ordered"),
        "reservation": ("best_effort", "atomic"),
    }
    assert level_rank("ttl", "none") == 0
    assert level_rank("ttl", "per_write") == 2
    assert level_rank("consistency", UNKNOWN) is None


def test_level_rank_rejects_unknown_names() -> None:
    with pytest.raises(InvalidInput, match="unknown descriptor field 'consistancy'") as info:
        level_rank("consistancy", "strong")
    assert info.value.field == "consistancy"
    with pytest.raises(InvalidInput, match="unknown consistency level 'linearizable'") as info:
        level_rank("consistency", "linearizable")
    assert info.value.field == "consistency"


def test_descriptor_defaults_to_unknown() -> None:
    d = Descriptor()
    assert all(d.level(f) == UNKNOWN for f in DESCRIPTOR_FIELDS)
    assert dict(d.extensions) == {}


def test_descriptor_round_trip() -> None:
    d = Descriptor(
        consistency="eventual",
        ttl="per_write",
        delivery="at_least_once",
        extensions={"com.cloudflare.kv.min_ttl_s": 60, "org.example.flag": True},
    )
    data = d.to_dict()
    assert data == {
        "consistency": "eventual",
        "durability": "unknown",
        "ttl": "per_write",
        "delivery": "at_least_once",
        "ordering": "unknown",
        "reservation": "unknown",
        "extensions": {"com.cloudflare.kv.min_ttl_s": 60, "org.example.flag": True},
    }
    assert Descriptor.from_dict(data) == d
    assert Descriptor.from_dict({"consistency": "strong"}) == Descriptor(consistency="strong")


def test_descriptor_is_immutable_and_hashable() -> None:
    source = {"com.cloudflare.kv.min_ttl_s": 60}
    d = Descriptor(extensions=source)
    source["com.cloudflare.kv.min_ttl_s"] = 1
    assert d.extensions["com.cloudflare.kv.min_ttl_s"] == 60
    with pytest.raises(TypeError):
        d.extensions["com.cloudflare.kv.min_ttl_s"] = 2  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.consistency = "strong"  # type: ignore[misc]
    assert hash(d) == hash(Descriptor(extensions={"com.cloudflare.kv.min_ttl_s": 60}))
    assert d.to_dict()["extensions"] is not d.extensions


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"consistency": "linearizable"}, "consistency", "unknown consistency level 'linearizable'"),
        ({"ttl": "forever"}, "ttl", "unknown ttl level 'forever'"),
        ({"extensions": {"min_ttl_s": 60}}, "extensions.min_ttl_s", "must be namespaced"),
        ({"extensions": {"com..kv": 1}}, "extensions.com..kv", "must be namespaced"),
        ({"extensions": {".com.kv": 1}}, "extensions..com.kv", "must be namespaced"),
        ({"extensions": {"com.kv ttl": 1}}, "extensions.com.kv ttl", "must be namespaced"),
        ({"extensions": [("a.b", 1)]}, "extensions", "must be a mapping"),
    ],
)
def test_descriptor_rejects_bad_values(kwargs: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        Descriptor(**kwargs)
    assert info.value.field == field


def test_from_dict_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="unknown descriptor field 'consistancy'"):
        Descriptor.from_dict({"consistancy": "strong"})
    with pytest.raises(InvalidInput, match="must be a level name, got int") as info:
        Descriptor.from_dict({"durability": 1})
    assert info.value.field == "durability"
    with pytest.raises(InvalidInput, match="must be a mapping"):
        Descriptor.from_dict(["consistency"])  # type: ignore[arg-type]


# --- requirements --------------------------------------------------------------------------------


def test_parse_and_describe() -> None:
    at_least = Requirement.parse("consistency", {"at_least": "strong"})
    assert at_least == Requirement("consistency", at_least="strong")
    assert at_least.describe() == "at_least strong"
    assert at_least.to_dict() == {"at_least": "strong"}
    any_of = Requirement.parse("delivery", {"any_of": ["at_least_once", "exactly_once"]})
    assert any_of.any_of == ("at_least_once", "exactly_once")
    assert any_of.describe() == "any_of [at_least_once, exactly_once]"
    assert Requirement.parse("delivery", any_of.to_dict()) == any_of
    assert Requirement.parse("delivery", any_of) is any_of


@pytest.mark.parametrize(
    ("field", "obj", "where", "message"),
    [
        ("consistancy", {"at_least": "strong"}, "consistancy", "unknown descriptor field 'consistancy'"),
        ("consistency", {"at_least": "linearizable"}, "consistency.at_least", "unknown level 'linearizable'"),
        ("ttl", {"any_of": ["none", "forever"]}, "ttl.any_of[1]", "unknown level 'forever'"),
        ("consistency", {"at_least": "unknown"}, "consistency.at_least", "cannot ask for 'unknown'"),
        ("consistency", {"at_least": "strong", "any_of": ["strong"]}, "consistency", "not both"),
        ("consistency", {}, "consistency", "needs 'any_of' or 'at_least'"),
        ("consistency", {"atleast": "strong"}, "consistency.atleast", "unknown requirement key 'atleast'"),
        ("consistency", {"any_of": []}, "consistency.any_of", "non-empty list"),
        ("consistency", {"any_of": "strong"}, "consistency.any_of", "non-empty list of levels, got str"),
        ("consistency", "strong", "consistency", "must be {'any_of'"),
        ("consistency", {"at_least": 3}, "consistency.at_least", "unknown level 3"),
    ],
)
def test_parse_names_what_was_wrong(field: str, obj: Any, where: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Requirement.parse(field, obj)
    assert info.value.field == where
    assert message in str(info.value)


def test_parse_rejects_a_requirement_about_another_field() -> None:
    with pytest.raises(InvalidInput, match="listed under 'durability' is about 'consistency'"):
        Requirement.parse("durability", Requirement("consistency", at_least="strong"))


@pytest.mark.parametrize("field", DESCRIPTOR_FIELDS)
def test_at_least_follows_the_order(field: str) -> None:
    levels = DESCRIPTOR_LEVELS[field]
    for (ri, required), (pi, provided) in itertools.product(enumerate(levels), repeat=2):
        req = Requirement(field, at_least=required)
        assert req.satisfied_by(provided) is (pi >= ri), (field, required, provided)
        assert req.satisfied_by(UNKNOWN) is False


@pytest.mark.parametrize("field", DESCRIPTOR_FIELDS)
def test_any_of_is_membership(field: str) -> None:
    levels = DESCRIPTOR_LEVELS[field]
    req = Requirement(field, any_of=(levels[0],))
    assert [req.satisfied_by(lv) for lv in levels] == [True] + [False] * (len(levels) - 1)
    assert req.satisfied_by(UNKNOWN) is False


# --- CAP102 --------------------------------------------------------------------------------------

KV = Descriptor(consistency="eventual", durability="durable", ttl="per_write", reservation="best_effort")


def test_met_requirements_give_nothing() -> None:
    reqs: dict[str, Any] = {
        "consistency": {"any_of": ["eventual", "strong"]},
        "durability": {"at_least": "durable"},
        "ttl": {"at_least": "namespace_default"},
    }
    assert check_requirements("FLOW_KV", KV, reqs) == []
    assert check_requirements("FLOW_KV", KV, {}) == []


def test_unmet_requirement_is_cap102() -> None:
    (d,) = check_requirements("FLOW_KV", KV, {"consistency": {"at_least": "strong"}})
    assert (d.code, d.node, d.hint, d.declared, d.required) == (
        "CAP102",
        "FLOW_KV",
        "consistency",
        "eventual",
        "at_least strong",
    )
    assert "'FLOW_KV'" in d.message
    assert "eventual" in d.message
    assert "\n" not in d.message


def test_requirement_against_unknown_always_fails() -> None:
    reqs: dict[str, Any] = {
        "delivery": {"at_least": "at_most_once"},  # the weakest level: still fails on unknown
        "ordering": {"any_of": ["unordered", "ordered"]},  # any level at all: still fails
    }
    diags = check_requirements("FLOW_KV", KV, reqs)
    assert [(d.hint, d.declared, d.required) for d in diags] == [
        ("delivery", "unknown", "at_least at_most_once"),
        ("ordering", "unknown", "any_of [unordered, ordered]"),
    ]
    assert "does not say which delivery" in diags[0].message


def test_diagnostics_are_ordered_by_field_and_accept_requirement_objects() -> None:
    reqs: dict[str, Any] = {
        "reservation": Requirement("reservation", at_least="atomic"),
        "consistency": {"at_least": "strong"},
        "delivery": {"any_of": ["exactly_once"]},
    }
    diags = check_requirements("FLOW_KV", KV, reqs)
    assert [d.hint for d in diags] == ["consistency", "delivery", "reservation"]
    assert check_requirements("FLOW_KV", KV, dict(reversed(list(reqs.items())))) == diags


def test_malformed_requirement_raises_before_any_diagnostic() -> None:
    reqs: dict[str, Any] = {"consistency": {"at_least": "strong"}, "ttl": {"at_least": "forever"}}
    with pytest.raises(InvalidInput) as info:
        check_requirements("FLOW_KV", KV, reqs)
    assert info.value.field == "ttl.at_least"


def test_check_requirements_checks_its_arguments() -> None:
    with pytest.raises(InvalidInput, match="expected a Descriptor, got dict"):
        check_requirements("B", {"consistency": "strong"}, {})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="requirements must be a mapping"):
        check_requirements("B", KV, [("consistency", {"at_least": "strong"})])  # type: ignore[arg-type]
