"""Reading Flow IR: the example flows load, unknown fields are ignored, malformed input is named."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.flowir import FlowIR, load_flow
from cap_opendal_core.hints import Determinism, Effects
from tests.support.fixtures import example_flow

REPO = Path(__file__).resolve().parents[2]


def example(name: str) -> Path:
    """Path of a reference example flow (tests/fixtures/flowir)."""
    return example_flow(name)


def etl() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(example("etl_logs").read_text())
    return data


def rejects(data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        load_flow(data)
    return info.value


def test_etl_example_loads_with_snake_case_attributes() -> None:
    flow = load_flow(example("etl_logs"))
    assert flow.name == "etl_logs"
    assert flow.profile == "queue"
    assert flow.aliases == ("trigger", "parse", "window", "write_wh")
    parse = flow.node("parse")
    assert parse.effects is Effects.PURE
    assert parse.determinism is Determinism.STRICT
    assert parse.effect_hints == ("resource::blob::read",)
    assert parse.determinism_hints == ()
    assert parse.in_schema.kind == "named"
    assert parse.in_schema.name == "ObjectRef"
    write = flow.node("write_wh")
    assert write.idempotency.key == "customer_id:window_start:window_end"
    assert write.idempotency.scope == "partition"
    assert write.idempotency.ttl_ms == 86_400_000
    assert flow.node("trigger").idempotency.key is None
    last = flow.edges[2]
    assert (last.from_, last.to, last.delivery) == ("window", "write_wh", "exactly_once")
    assert last.buffer.max_items == 5000
    assert last.timeout_ms == 300_000
    with pytest.raises(KeyError):
        flow.node("nope")


def test_s2_example_loads() -> None:
    flow = load_flow(example("s2_site"))
    assert flow.aliases == ("trigger", "snapshot", "stream")
    assert all(n.effects is Effects.READ_ONLY for n in flow.nodes)


def test_every_source_form_gives_the_same_flow() -> None:
    path = example("etl_logs")
    text = path.read_text()
    forms: list[Any] = [path, str(path), text, text.encode(), json.loads(text)]
    flows = [load_flow(f) for f in forms]
    assert all(f == flows[0] for f in flows)
    assert load_flow(flows[0]) is flows[0]


def test_round_trip_uses_the_json_spelling() -> None:
    flow = load_flow(example("etl_logs"))
    out = flow.to_json_dict()
    node = out["nodes"][3]
    assert node["effects"] == "effectful"
    assert node["determinism"] == "best_effort"
    assert node["effectHints"] == ["resource::db::write", "resource::dedupe::store"]
    assert node["idempotency"]["ttlMs"] == 86_400_000
    assert out["edges"][0]["from"] == "trigger"
    assert load_flow(json.loads(json.dumps(out))) == flow


def test_unknown_fields_are_ignored_everywhere() -> None:
    data = etl()
    data["futureTopLevel"] = {"anything": [1, 2]}
    data["nodes"][0]["retryPolicy"] = {"max": 3}
    data["nodes"][3]["idempotency"]["strategy"] = "reserve"
    data["edges"][0]["weight"] = 0.5
    data["edges"][0]["buffer"]["compression"] = "zstd"
    flow = load_flow(data)
    assert flow == load_flow(example("etl_logs"))
    dumped = json.dumps(flow.to_json_dict())
    assert "retryPolicy" not in dumped
    assert "futureTopLevel" not in dumped


def test_models_are_immutable() -> None:
    flow = load_flow(example("etl_logs"))
    with pytest.raises(ValidationError):
        flow.nodes[0].alias = "other"  # type: ignore[misc]


def test_minimal_flow_gets_schema_defaults() -> None:
    flow = load_flow({"id": "f", "name": "f", "profile": "dev", "version": "0.1.0"})
    assert flow.nodes == ()
    assert flow.edges == ()
    assert flow.policies.lint.require_control_hints is False
    assert flow.metadata.tags == ()


def test_bad_effects_level_names_the_path() -> None:
    data = etl()
    data["nodes"][1]["effects"] = "sideways"
    err = rejects(data)
    assert err.field == "nodes[1].effects"
    assert "nodes[1].effects: unknown effects level 'sideways'" in str(err)
    assert "pure, read_only, effectful" in str(err)


def test_bad_determinism_level_names_the_path() -> None:
    data = etl()
    data["nodes"][2]["determinism"] = "mostly"
    err = rejects(data)
    assert err.field == "nodes[2].determinism"
    assert "unknown determinism level 'mostly'" in str(err)


def test_level_of_wrong_type() -> None:
    data = etl()
    data["nodes"][0]["effects"] = 1
    err = rejects(data)
    assert err.field == "nodes[0].effects"
    assert "effects must be a string, got int" in str(err)


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (("nodes", 2, "name"), "nodes[2].name"),
        (("nodes", 0, "effects"), "nodes[0].effects"),
        (("nodes", 3, "in_schema"), "nodes[3].in_schema"),
        (("edges", 1, "delivery"), "edges[1].delivery"),
        (("profile",), "profile"),
        (("version",), "version"),
    ],
)
def test_missing_required_field(where: tuple[Any, ...], field: str) -> None:
    data = etl()
    target: Any = data
    for part in where[:-1]:
        target = target[part]
    del target[where[-1]]
    err = rejects(data)
    assert err.field == field
    assert f"{field}: missing required field" in str(err)


@pytest.mark.parametrize(
    ("path", "value", "field", "expected"),
    [
        (("nodes", 0, "alias"), 7, "nodes[0].alias", "expected a string, got 7"),
        (("nodes",), {"a": 1}, "nodes", "expected a JSON array, got an object"),
        (
            ("nodes", 1, "effectHints"),
            "resource::blob::read",
            "nodes[1].effectHints",
            "expected a JSON array",
        ),
        (("nodes", 1, "effectHints"), [3], "nodes[1].effectHints[0]", "expected a string, got 3"),
        (("nodes", 3, "idempotency", "ttlMs"), "86400000", "nodes[3].idempotency.ttlMs", "integer"),
        (("nodes", 3, "idempotency", "ttlMs"), -1, "nodes[3].idempotency.ttlMs", "from 0 to 1844674407"),
        (("nodes", 3, "idempotency", "ttlMs"), 2**64, "nodes[3].idempotency.ttlMs", "(uint64), got 18446744"),
        (("edges", 2, "timeout_ms"), 2**64, "edges[2].timeout_ms", "(uint64)"),
        (("edges", 2, "buffer", "max_items"), 2**32, "edges[2].buffer.max_items", "0 to 4294967295 (uint32)"),
        (
            ("edges", 2, "buffer", "spill_threshold_bytes"),
            -5,
            "edges[2].buffer.spill_threshold_bytes",
            "uint64",
        ),
        (("nodes", 0, "kind"), "lambda", "nodes[0].kind", "'trigger', 'inline', 'activity' or 'subflow'"),
        (("edges", 0, "buffer"), [], "edges[0].buffer", "expected a JSON object, got an array"),
        (("policies", "lint", "require_control_hints"), "no", "policies.lint.require_control_hints", "true"),
        (("profile",), "mainframe", "profile", 'got "mainframe"'),
    ],
)
def test_wrong_type_or_value(path: tuple[Any, ...], value: Any, field: str, expected: str) -> None:
    data = etl()
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    err = rejects(data)
    assert err.field == field
    assert f"{field}: " in str(err)
    assert expected in str(err)


def test_an_integer_too_long_to_print_is_named_by_its_size() -> None:
    data = etl()
    data["edges"][2]["buffer"]["max_items"] = 1 << 20_000
    err = rejects(data)
    assert err.field == "edges[2].buffer.max_items"
    assert "an integer of 20001 bits" in str(err)


def test_malformed_hint_id_is_rejected() -> None:
    data = etl()
    data["nodes"][3]["determinismHints"] = ["resource::db", "resource::::db"]
    err = rejects(data)
    assert err.field == "nodes[3].determinismHints[1]"
    assert "malformed hint id 'resource::::db'" in str(err)


def test_named_schema_needs_a_name() -> None:
    data = etl()
    data["nodes"][1]["out_schema"] = {"kind": "named"}
    err = rejects(data)
    assert err.field == "nodes[1].out_schema"
    assert "needs a non-empty 'name'" in str(err)


@pytest.mark.parametrize("where", ["alias", "from", "to"])
def test_graph_problems_load_and_are_left_to_the_validator(where: str) -> None:
    """A duplicate alias or an edge to an unknown alias is a diagnostic (DAG205, DAG202), not bad input."""
    data = etl()
    if where == "alias":
        data["nodes"][2]["alias"] = "trigger"
    else:
        data["edges"][1][where] = "ghost"
    flow = load_flow(data)
    assert FlowIR.model_validate(data) == flow
    assert flow.node("trigger") is flow.nodes[0]


def test_all_problems_are_listed_and_the_first_is_the_field() -> None:
    data = etl()
    data["nodes"][0]["effects"] = "sideways"
    data["edges"][2]["ordering"] = "shuffled"
    err = rejects(data)
    assert err.field == "nodes[0].effects"
    assert "nodes[0].effects:" in str(err)
    assert "edges[2].ordering:" in str(err)


def test_invalid_json_text_and_file(tmp_path: Path) -> None:
    err = rejects('{"id": "f",\n  "name": }')
    assert "not valid JSON" in str(err)
    assert "line 2" in str(err)
    bad = tmp_path / "bad.json"
    bad.write_text("{\n\n  nope\n}")
    err = rejects(bad)
    assert "bad.json" in str(err)
    assert "line 3 column 3" in str(err)
    err = rejects(b'{"id": "\xff"}')
    assert "cannot be decoded" in str(err)
    assert "byte 8" in str(err)


def test_unreadable_file(tmp_path: Path) -> None:
    err = rejects(tmp_path / "missing.json")
    assert "cannot read Flow IR file" in str(err)
    assert "missing.json" in str(err)
    err = rejects(tmp_path)  # a directory
    assert "cannot read Flow IR file" in str(err)


def test_document_must_be_an_object() -> None:
    err = rejects("[1, 2]")
    assert "must be a JSON object, got an array" in str(err)
    err = rejects(b'"flow"')
    assert "must be a JSON object, got a string" in str(err)


def test_unsupported_source_type() -> None:
    err = rejects(42)
    assert err.field == "source"
    assert "got int" in str(err)


def test_mapping_input_is_not_mutated() -> None:
    data = etl()
    before = copy.deepcopy(data)
    load_flow(data)
    assert data == before


def test_pydantic_is_loaded_only_with_flowir() -> None:
    code = (
        "import sys, cap_opendal_core as c\n"
        "c.check_node('n', 'pure', 'strict', ['resource::kv::read'])\n"
        "reqs = {'consistency': {'at_least': 'strong'}}\n"
        "c.check_requirements('B', c.Descriptor(consistency='strong'), reqs)\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported too early'\n"
        "c.FlowIR\n"
        "assert 'pydantic' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
