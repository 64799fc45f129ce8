"""What tools read: --format json (stable keys, pointer, line/column) and --format sarif (SARIF 2.1.0,
validated against the official schema in tests/fixtures/sarif/)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the test environment
import pytest

from cap_opendal_core.cli import main
from tests.support.fixtures import FIXTURES, example_flow
from tests.support.flows import every_rule_broken

if TYPE_CHECKING:
    from pathlib import Path

SARIF_SCHEMA = json.loads((FIXTURES / "sarif" / "sarif-schema-2.1.0.json").read_text())
JSON_KEYS = [
    "code",
    "severity",
    "node",
    "edge",
    "hint",
    "declared",
    "required",
    "message",
    "pointer",
    "line",
    "column",
]


def everything_wrong(tmp_path: Path) -> Path:
    doc = every_rule_broken()
    path = tmp_path / "every rule.flow.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_json_has_the_documented_keys_and_points_into_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = everything_wrong(tmp_path)
    code, out = run(capsys, "validate", str(path), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert {d["code"] for d in data} == {
        "DAG104", "DAG200", "DAG202", "DAG205", "DET301", "EFFECT201",
        "EXACT001", "EXACT002", "EXACT003", "CTRL101", "CTRL102", "SPILL002",
    }  # fmt: skip
    lines = path.read_text().splitlines()
    doc = json.loads(path.read_text())
    for d in data:
        assert list(d) == JSON_KEYS
        assert d["severity"] == "error"
        # the line and column are where the pointed-at value starts in the file
        target: Any = doc
        for part in d["pointer"].split("/")[1:]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        at = lines[d["line"] - 1][d["column"] - 1 :]
        assert at.startswith(json.dumps(target)[:1]), (d, at)
        if isinstance(target, str | int):
            assert at.startswith(json.dumps(target)), (d, at)


def test_json_alias_is_the_same_as_format_json(capsys: pytest.CaptureFixture[str]) -> None:
    etl = str(example_flow("etl_logs"))
    assert run(capsys, "validate", etl, "--json") == run(capsys, "validate", etl, "--format", "json")


def test_text_is_one_line_per_diagnostic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = everything_wrong(tmp_path)
    _, out = run(capsys, "validate", str(path))
    _, as_json = run(capsys, "validate", str(path), "--format", "json")
    assert [line.split(" ")[0] for line in out.splitlines()] == [d["code"] for d in json.loads(as_json)]


@pytest.mark.parametrize("which", ["everything", "etl", "clean"])
def test_sarif_is_valid_sarif_2_1_0(which: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = {
        "everything": everything_wrong(tmp_path),
        "etl": example_flow("etl_logs"),
        "clean": example_flow("s2_site"),
    }[which]
    code, out = run(capsys, "validate", str(path), "--format", "sarif")
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    (sarif_run,) = log["runs"]
    _, as_json = run(capsys, "validate", str(path), "--format", "json")
    expected = json.loads(as_json)
    assert code == (1 if expected else 0)
    assert [r["ruleId"] for r in sarif_run["results"]] == [d["code"] for d in expected]
    rules = sarif_run["tool"]["driver"]["rules"]
    for result, d in zip(sarif_run["results"], expected, strict=True):
        assert rules[result["ruleIndex"]]["id"] == d["code"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert (region["startLine"], region["startColumn"]) == (d["line"], d["column"])
        assert result["message"]["text"] == d["message"]
        assert {"fullyQualifiedName": d["pointer"], "kind": "member"} in result["locations"][0][
            "logicalLocations"
        ]


def test_sarif_uri_is_a_valid_reference_to_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = everything_wrong(tmp_path)
    _, out = run(capsys, "validate", str(path), "--format", "sarif")
    uri = json.loads(out)["runs"][0]["artifacts"][0]["location"]["uri"]
    assert uri.startswith("file:///")
    assert uri.endswith("/every%20rule.flow.json")


def test_an_invalid_log_fails_the_schema() -> None:
    """The schema check has teeth: a result without a message is not SARIF."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SARIF_SCHEMA).validate(
            {
                "version": "2.1.0",
                "runs": [{"tool": {"driver": {"name": "caps"}}, "results": [{"ruleId": "X"}]}],
            }
        )


def test_sarif_from_standard_input_has_no_file_location(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    text = example_flow("etl_logs").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    code, out = run(capsys, "validate", "-", "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    (sarif_run,) = log["runs"]
    assert "artifacts" not in sarif_run
    assert all("physicalLocation" not in r["locations"][0] for r in sarif_run["results"])
