"""Preflight: CAP101 for missing bindings and hint providers, CAP102 for unmet requirements."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import pytest

from cap_opendal_core import BindingManifest, CapabilityBag, preflight
from cap_opendal_core.bag import DeclaredBinding
from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.diagnostics import DiagnosticError
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.flowir import load_flow
from tests.support.fixtures import example_flow

if TYPE_CHECKING:
    from pathlib import Path

ETL = example_flow("etl_logs")
S2 = example_flow("s2_site")

MANIFEST: dict[str, Any] = {
    "bindings": {
        "FLOW_KV": {"kind": "kv_namespace", "requires": {"consistency": {"at_least": "eventual"}}},
        "ARCHIVE": {"kind": "r2_bucket", "requires": {"consistency": {"at_least": "strong"}}},
        "EVENTS": {
            "kind": "queue",
            "queue": "events",
            "requires": {"delivery": {"any_of": ["at_least_once"]}},
        },
        "DEDUPE": {"kind": "durable_object", "requires": {"reservation": {"at_least": "atomic"}}},
    }
}


def full_bag() -> CapabilityBag:
    """Every binding of MANIFEST, described by its installed plugin."""
    bag = CapabilityBag()
    for name, spec in MANIFEST["bindings"].items():
        bag.add(name, DeclaredBinding(name, spec["kind"]))
    return bag


def flow_with(*nodes: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "id": "f",
        "name": "f",
        "version": "1",
        "profile": "dev",
        "nodes": [
            {
                "id": f"f::{alias}",
                "alias": alias,
                "identifier": alias,
                "name": alias,
                "kind": "activity",
                "in_schema": {"kind": "opaque"},
                "out_schema": {"kind": "opaque"},
                "effects": "effectful",
                "determinism": "nondeterministic",
                "idempotency": {"key": "k"},
                "effectHints": hints,
            }
            for alias, hints in nodes
        ],
    }


def codes(diags: list[Any]) -> list[tuple[str, str | None, str | None]]:
    return [(d.code, d.node, d.hint) for d in diags]


def test_shared_reference_is_beside_the_clone() -> None:
    assert ETL.is_file()
    assert S2.is_file()


def test_all_present_and_good_enough_is_clean() -> None:
    manifest = BindingManifest.from_dict(MANIFEST)
    assert preflight(manifest, full_bag()) == []
    assert preflight(manifest, full_bag(), flow=S2) == []


def test_missing_binding_and_wrong_kind_are_cap101() -> None:
    manifest = BindingManifest.from_dict(MANIFEST)
    bag = full_bag()
    bag = CapabilityBag({n: bag[n] for n in bag if n != "EVENTS"})
    bag.add("ARCHIVE", DeclaredBinding("ARCHIVE", "kv_namespace"), replace=True)
    diags = preflight(manifest, bag)
    assert codes(diags) == [("CAP101", "ARCHIVE", None), ("CAP101", "EVENTS", None)]
    wrong, missing = diags
    assert (wrong.declared, wrong.required) == ("kv_namespace", "r2_bucket")
    assert "is a kv_namespace but the flow needs a r2_bucket" in wrong.message
    assert (missing.declared, missing.required) == ("missing", "queue")
    assert "'EVENTS' (queue) is missing" in missing.message
    assert "FLOW_KV (kv_namespace)" in missing.message


def test_requirements_not_met_are_cap102() -> None:
    manifest = BindingManifest.from_dict(
        {
            "bindings": {
                "FLOW_KV": {"kind": "kv_namespace", "requires": {"consistency": {"at_least": "strong"}}}
            }
        }
    )
    diags = preflight(manifest, {"FLOW_KV": DeclaredBinding("FLOW_KV", "kv_namespace")})
    assert codes(diags) == [("CAP102", "FLOW_KV", "consistency")]
    assert (diags[0].declared, diags[0].required) == ("eventual", "at_least strong")

    # a capability that states nothing: unknown never meets a requirement
    bag = CapabilityBag().add("FLOW_KV", object(), kind="kv_namespace", descriptor=Descriptor())
    assert codes(preflight(manifest, bag)) == [("CAP102", "FLOW_KV", "consistency")]
    # a strong provider passes
    bag = CapabilityBag().add(
        "FLOW_KV", object(), kind="kv_namespace", descriptor=Descriptor(consistency="strong")
    )
    assert preflight(manifest, bag) == []


def test_etl_flow_against_an_empty_and_a_full_bag() -> None:
    empty = preflight(ETL, CapabilityBag())
    assert codes(empty) == [
        ("CAP101", "trigger", "resource::queue::consume"),
        ("CAP101", "parse", "resource::blob::read"),
        ("CAP101", "write_wh", "resource::db::write"),
        ("CAP101", "write_wh", "resource::dedupe::store"),
    ]
    assert "cap-cloudflare-queue (queue)" in empty[0].message
    # nothing installed provides a database
    assert "no installed plugin provides it" in empty[2].message

    full = preflight(ETL, full_bag())
    # resource::dedupe::store is provided by the DO capability's resource::dedupe (segment-wise)
    assert codes(full) == [("CAP101", "write_wh", "resource::db::write")]


def test_unknown_hints_count_as_missing_even_with_providers() -> None:
    flow = flow_with(("a", ["resource::blobs::read", "resource::nosuch::write", "resource::kv::write"]))
    bag = full_bag()
    bag.add("WEIRD", object(), kind="r2_bucket", provided_hints=["resource"])  # "provides" everything
    diags = preflight(flow, bag)
    assert codes(diags) == [
        ("CAP101", "a", "resource::blobs::read"),
        ("CAP101", "a", "resource::nosuch::write"),
    ]
    assert all("registers" in d.message for d in diags)


def test_non_resource_hints_are_not_preflight_s_business() -> None:
    flow = flow_with(("a", ["custom::thing", "resource::kv::write"]))
    assert preflight(flow, full_bag()) == []


def test_provider_matching_is_segment_wise() -> None:
    flow = flow_with(("a", ["resource::kv::write"]), ("b", ["resource::kv"]))
    reader = CapabilityBag().add("R", object(), kind="kv_namespace", provided_hints=["resource::kv::read"])
    assert codes(preflight(flow, reader)) == [("CAP101", "a", "resource::kv::write")]
    family = CapabilityBag().add("R", object(), kind="kv_namespace", provided_hints=["resource::kv"])
    assert preflight(flow, family) == []


def test_order_is_flow_nodes_then_manifest_bindings() -> None:
    manifest = BindingManifest.from_dict(
        {"bindings": {"ZED": {"kind": "queue"}, "ALPHA": {"kind": "r2_bucket"}}}
    )
    flow = flow_with(("second", ["resource::db::write"]), ("first", ["resource::http::write"]))
    diags = preflight(manifest, CapabilityBag(), flow=flow)
    assert [d.node for d in diags] == ["second", "first", "ZED", "ALPHA"]


def test_raise_on_error() -> None:
    manifest = BindingManifest.from_dict(MANIFEST)
    with pytest.raises(DiagnosticError) as info:
        preflight(manifest, CapabilityBag(), raise_on_error=True)
    assert [d.node for d in info.value.diagnostics] == ["FLOW_KV", "ARCHIVE", "EVENTS", "DEDUPE"]
    assert "CAP101 FLOW_KV" in str(info.value)
    assert preflight(manifest, full_bag(), raise_on_error=True) == []


def test_accepted_inputs(tmp_path: Path) -> None:
    manifest_path = tmp_path / "m.json"
    manifest_path.write_text(json.dumps(MANIFEST))
    toml_path = tmp_path / "m.toml"
    toml_path.write_text('[bindings.ARCHIVE]\nkind = "r2_bucket"\n')
    expected = codes(preflight(BindingManifest.from_dict(MANIFEST), CapabilityBag()))
    assert codes(preflight(manifest_path, CapabilityBag())) == expected
    assert codes(preflight(str(manifest_path), CapabilityBag())) == expected
    assert codes(preflight(MANIFEST, CapabilityBag())) == expected
    assert codes(preflight(json.dumps(MANIFEST), CapabilityBag())) == expected
    assert codes(preflight(toml_path, CapabilityBag())) == [("CAP101", "ARCHIVE", None)]

    etl = codes(preflight(ETL, CapabilityBag()))
    assert codes(preflight(load_flow(ETL), CapabilityBag())) == etl
    assert codes(preflight(json.loads(ETL.read_text()), CapabilityBag())) == etl
    assert codes(preflight(str(ETL), CapabilityBag())) == etl


def test_bad_inputs_are_rejected_clearly(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="flow twice"):
        preflight(ETL, CapabilityBag(), flow=S2)
    with pytest.raises(InvalidInput, match="neither a binding manifest"):
        preflight({"something": 1}, CapabilityBag())
    with pytest.raises(InvalidInput, match="needs a CapabilityBag"):
        preflight(MANIFEST, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="got int"):
        preflight(42, CapabilityBag())
    broken = copy.deepcopy(json.loads(ETL.read_text()))
    broken["nodes"][1]["effects"] = "sideways"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(InvalidInput, match=r"nodes\[1\]\.effects"):
        preflight(path, CapabilityBag())
    with pytest.raises(InvalidInput, match="cannot read"):
        preflight(tmp_path / "absent.json", CapabilityBag())
