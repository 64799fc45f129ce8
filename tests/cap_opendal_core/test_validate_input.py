"""Any input: a result or exit 2 with one clear line — never a traceback, bounded time and memory.

Linear time is shown by counting work, not timing it: the number of Python function calls
``validate_flow`` makes (a profiler hook counts them) grows in proportion to the document's size.
"""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cap_opendal_core.cli import main
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.jsondoc import MAX_DEPTH, MAX_DOCUMENT_BYTES
from cap_opendal_core.validate import validate_flow
from tests.support.fixtures import example_flow
from tests.support.flows import dedupe_consumer, edge, every_rule_broken, flow, node

CAPS = Path(sys.executable).parent / "caps"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_config(config_json: str) -> str:
    doc = flow([node("a")], control_surfaces=[{"id": "c", "kind": "loop", "targets": ["a"], "config": None}])
    return json.dumps(doc).replace('"config": null', f'"config": {config_json}')


def rejected(source: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        validate_flow(source)
    return info.value


# --- nesting -----------------------------------------------------------------------------------------


def test_5000_nested_arrays_exit_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(with_config(nested(5000)))
    proc = subprocess.run(
        [str(CAPS), "validate", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("caps validate: error: ")
    assert "control_surfaces[0].config" in line
    assert f"deeper than {MAX_DEPTH} levels" in line


@pytest.mark.parametrize("where", ["top", "nodes", "config"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 3000, 100_000])
def test_too_deep_anywhere_is_refused(where: str, depth: int) -> None:
    text = {
        "top": nested(depth),
        "nodes": json.dumps(flow([])).replace('"nodes": []', f'"nodes": {nested(depth)}'),
        "config": with_config(nested(depth)),
    }[where]
    assert "nests deeper than" in str(rejected(text))


def test_nesting_up_to_the_limit_is_read() -> None:
    depth = MAX_DEPTH - 3  # the config array is the 4th level (root, control_surfaces, [0], config)
    assert validate_flow(with_config(nested(depth))) == []
    assert "nests deeper than" in str(rejected(with_config(nested(depth + 1))))


def test_a_deep_mapping_is_refused_too() -> None:
    data = json.loads(with_config("null"))
    deep: list[Any] = []
    data["control_surfaces"][0]["config"] = deep
    for _ in range(10_000):
        deep.append([])
        deep = deep[0]
    assert "nests deeper than" in str(rejected(data))


# --- duplicate keys, constants, ranges ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "key"),
    [
        ('{"id": "a", "id": "b"}', "the top-level object", "id"),
        (
            json.dumps(flow([node("a")])).replace(
                '"effects": "pure"', '"effects": "pure", "effects": "effectful"'
            ),
            "nodes[0]",
            "effects",
        ),
        (with_config('{"a": {"b": [1, {"c": 1, "c": 2}]}}'), "control_surfaces[0].config.a.b[1]", "c"),
        (with_config('[{"x": 1}, {"y": {"z": 1, "z": 1}}]'), "control_surfaces[0].config[1].y", "z"),
    ],
)
def test_a_repeated_key_is_refused_naming_the_path_and_key(text: str, path: str, key: str) -> None:
    err = rejected(text)
    assert f"{path} has the key {key!r} more than once" in str(err)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(constant: str) -> None:
    assert "is not a JSON value" in str(rejected(with_config(constant)))


def test_an_integer_too_long_for_python_is_refused() -> None:
    err = rejected(with_config("1" * 5000))
    assert "control_surfaces[0].config" in str(err)


def test_ttl_of_2_to_the_64_is_refused_naming_the_path() -> None:
    doc = flow([dedupe_consumer(ttlMs=2**64)])
    err = rejected(json.dumps(doc))
    assert err.field == "nodes[0].idempotency.ttlMs"
    assert "(uint64)" in str(err)
    assert "line 1 column" in str(err)


# --- size and standard input ----------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_by_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.json"
    with path.open("wb") as fh:
        fh.write(b'{"pad": "')
        fh.write(b"x" * MAX_DOCUMENT_BYTES)
        fh.write(b'"}')
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"larger than the limit of {MAX_DOCUMENT_BYTES} bytes" in err


def test_dash_reads_standard_input() -> None:
    text = example_flow("etl_logs").read_text()
    proc = subprocess.run(
        [str(CAPS), "validate", "-", "--format", "json"],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert [d["code"] for d in json.loads(proc.stdout)] == ["DET301", "DET301", "EFFECT201"]
    bad = subprocess.run(
        [str(CAPS), "validate", "-"], input="{", capture_output=True, text=True, timeout=120, check=False
    )
    assert bad.returncode == 2
    assert "not valid JSON" in bad.stderr


# --- generated documents ----------------------------------------------------------------------------


def _base() -> dict[str, Any]:
    return flow(
        [{**node("t"), "kind": "trigger"}, node("p"), dedupe_consumer("c")],
        [edge("t", "p"), edge("p", "c", "exactly_once", buffer={"max_items": 5, "spill_tier": "r2"})],
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


def _containers(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_containers(v, (*path, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_containers(v, (*path, i)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_documents_never_crash_the_validator(data: st.DataObject) -> None:
    doc = _base()
    for _ in range(data.draw(st.integers(0, 4))):
        paths = [p for p in _containers(doc) if p]
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()):
            parent[path[-1]] = data.draw(json_values)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    for source in (doc, json.dumps(doc)):
        problem = ""
        try:
            diags = validate_flow(source)
        except InvalidInput as exc:
            problem = exc.message
            diags = []
        assert all(d.code and d.message for d in diags)
        assert "\n" not in problem


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet='{}[]":,0123456789.eE-+ truefalsn\\u\n', max_size=200))
def test_arbitrary_text_gives_a_result_or_invalid_input(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        validate_flow(text if text.lstrip()[:1] in ("{", "[") else "{" + text)


# --- linear work --------------------------------------------------------------------------------------


def _calls(source: Any) -> int:
    """Python function calls made while validating ``source``: a load-independent measure of work."""
    count = 0

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(hook)
    try:
        with contextlib.suppress(InvalidInput):
            validate_flow(source)
    finally:
        sys.setprofile(None)
    return count


def _scaled(unit: dict[str, Any], copies: int) -> str:
    """``copies`` disjoint copies of ``unit``'s nodes and edges, aliases made unique (or kept, if so)."""
    nodes, edges = [], []
    for i in range(copies):
        part = copy.deepcopy(unit)
        rename = {n["alias"]: f"{n['alias']}_{i}" for n in part["nodes"]}
        for n in part["nodes"]:
            n["alias"] = rename[n["alias"]]
        for e in part["edges"]:
            e["from"], e["to"] = rename.get(e["from"], e["from"]), rename.get(e["to"], e["to"])
        nodes += part["nodes"]
        edges += part["edges"]
    return json.dumps(flow(nodes, edges), indent=1)


UNITS = {
    "clean": _base(),
    "every rule": every_rule_broken(),
    "long chain": flow([node(f"n{i}") for i in range(20)], [edge(f"n{i}", f"n{i + 1}") for i in range(19)]),
}


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_work_grows_linearly_with_the_document(unit: str) -> None:
    small, large = _scaled(UNITS[unit], 25), _scaled(UNITS[unit], 200)
    size_ratio = len(large) / len(small)
    work_ratio = _calls(large) / _calls(small)
    assert size_ratio > 7
    assert work_ratio < size_ratio * 1.5, (unit, work_ratio, size_ratio)


def test_a_key_that_is_not_a_plain_name_is_quoted_in_the_message() -> None:
    """Found by the mutation property: ``{"\\n": Infinity}`` under ``version`` printed a raw newline."""
    doc = json.loads(example_flow("etl_logs").read_text())
    doc["version"] = {"a\nb": 1}
    with pytest.raises(InvalidInput) as caught:
        validate_flow(json.dumps(doc).replace("1}", "Infinity}"))
    assert "\n" not in caught.value.message
    assert 'version["a\\nb"]' in caught.value.message
