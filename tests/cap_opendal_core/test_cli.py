"""The `caps` command line, in-process and once through the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from cap_opendal_core.cli import main
from cap_opendal_core.commands import Command
from cap_opendal_core.hints import registry
from tests.support.fixtures import example_flow

if TYPE_CHECKING:
    import argparse

    import pytest

ETL = example_flow("etl_logs")
S2 = example_flow("s2_site")
CAPS = Path(sys.executable).parent / "caps"

ETL_EXPECTED = [
    ("DET301", "trigger", "resource::queue::consume"),
    ("DET301", "parse", "resource::blob::read"),
    ("EFFECT201", "parse", "resource::blob::read"),
]


def test_validate_etl_reports_its_diagnostics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ETL)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [tuple(line.split(" ")[:3]) for line in lines] == [
        (code, node, f"hint={hint}") for code, node, hint in ETL_EXPECTED
    ]
    assert "declared=pure required=read_only" in lines[2]
    assert "3 diagnostic(s)" in err


def test_validate_s2_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(S2)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "no diagnostics" in err


def test_validate_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ETL), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["code"], d["node"], d["hint"]) for d in data] == ETL_EXPECTED
    assert main(["validate", str(S2), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_validate_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = json.loads(ETL.read_text())
    broken["nodes"][2]["determinism"] = "mostly"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("caps validate: error: ")
    assert "nodes[2].determinism" in err
    assert "mostly" in err

    path.write_text("{not json")
    assert main(["validate", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err

    assert main(["validate", str(tmp_path / "absent.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_hints_lists_every_registered_hint_and_who_registered_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hints"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[1:]]
    assert out.splitlines()[0].split()[:3] == ["HINT", "KIND", "MINIMUM"]
    listed = {(r[0], r[1]): r for r in rows}
    assert set(listed) == {(c.hint, c.kind) for c in registry}
    assert listed[("resource::kv::write", "effect")][2:4] == ["effectful", "cap-cloudflare-kv"]
    assert listed[("resource::http::read", "effect")][2:4] == ["read_only", "cap-opendal-core"]
    assert listed[("resource::state::read", "determinism")][2:4] == ["stable", "cap-cloudflare-do"]

    assert main(["hints", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    blob = next(r for r in data if r["hint"] == "resource::blob::pinned")
    assert blob["registered_by"] == "cap-cloudflare-r2"
    assert blob["provided_by"] == ["cap-cloudflare-r2"]
    assert len(data) == len(registry)


def write_bindings(path: Path, *, consistency: str | None = None) -> Path:
    lines = ['[bindings.EVENTS]\nkind = "queue"\n', '[bindings.ARCHIVE]\nkind = "r2_bucket"\n']
    if consistency:
        lines.append(f'descriptor = {{ consistency = "{consistency}" }}\n')
    lines.append('[bindings.DEDUPE]\nkind = "durable_object"\n')
    path.write_text("\n".join(lines))
    return path


def test_preflight_against_a_bindings_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bindings = write_bindings(tmp_path / "bindings.toml")
    assert main(["preflight", str(ETL), "--bindings", str(bindings)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("CAP101 write_wh hint=resource::db::write")

    assert main(["preflight", str(S2), "--bindings", str(bindings)]) == 0
    capsys.readouterr()

    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        '[bindings.ARCHIVE]\nkind = "r2_bucket"\nrequires = { consistency = { at_least = "strong" } }\n'
        '[bindings.FLOW_KV]\nkind = "kv_namespace"\n'
    )
    weak = write_bindings(tmp_path / "weak.toml", consistency="eventual")
    assert main(["preflight", str(S2), "--manifest", str(manifest), "--bindings", str(weak), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["code"], d["node"]) for d in data] == [("CAP102", "ARCHIVE"), ("CAP101", "FLOW_KV")]
    # the manifest alone as the target works too
    assert main(["preflight", str(manifest), "--bindings", str(bindings)]) == 1
    assert capsys.readouterr().out.startswith("CAP101 FLOW_KV")


def test_preflight_bad_bindings_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"bindings": {"X": {"kind": "queue", "token": "abcdefgh12345"}}}))
    assert main(["preflight", str(S2), "--bindings", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "no secrets" in err
    assert "abcdefgh12345" not in err


def test_wrangler_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text('[bindings.ARCHIVE]\nkind = "r2_bucket"\nbucket_name = "my-bucket"\n')
    assert main(["wrangler", str(manifest), "--name", "w"]) == 0
    printed = capsys.readouterr().out
    assert tomllib.loads(printed) == {
        "name": "w",
        "r2_buckets": [{"binding": "ARCHIVE", "bucket_name": "my-bucket"}],
    }
    out = tmp_path / "deploy" / "wrangler.toml"
    assert main(["wrangler", str(manifest), "--name", "w", "-o", str(out)]) == 0
    assert out.read_text() == printed
    assert capsys.readouterr().out == ""

    manifest.write_text('[bindings.ARCHIVE]\nkind = "r2_bucket"\n')
    assert main(["wrangler", str(manifest)]) == 2
    assert "has no bucket_name" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: caps" in capsys.readouterr().err


def test_installed_script_in_a_real_subprocess() -> None:
    proc = subprocess.run(
        [str(CAPS), "validate", str(ETL)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 1, proc.stderr
    assert [tuple(line.split(" ")[:2]) for line in proc.stdout.splitlines()] == [
        (code, node) for code, node, _ in ETL_EXPECTED
    ]
    proc = subprocess.run(
        [str(CAPS), "validate", str(S2)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_help_imports_nothing_heavy() -> None:
    script = (
        "import sys\n"
        "from cap_opendal_core.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pydantic', 'opendal', 'httpx', 'structlog', 'cap_opendal_core.flowir') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY []"


# --- sub-commands from other distributions (entry point group cap_opendal_core.commands) -------------


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, **targets: str) -> None:
    """As if installed distributions declared ``name = target`` in ``cap_opendal_core.commands``."""
    import importlib.metadata as md

    from cap_opendal_core.commands import ENTRY_POINT_GROUP

    eps = [md.EntryPoint(name, target, ENTRY_POINT_GROUP) for name, target in targets.items()]
    monkeypatch.setattr(md, "entry_points", lambda group: eps if group == ENTRY_POINT_GROUP else [])


def test_an_installed_command_runs_and_a_broken_one_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_entry_points(
        monkeypatch,
        hello="tests.cap_opendal_core.test_cli:HELLO",
        broken="tests.cap_opendal_core.no_such_module:X",
        validate="tests.cap_opendal_core.test_cli:HELLO",  # may not replace a built-in
        wrong="tests.cap_opendal_core.test_cli:ETL_EXPECTED",
    )
    assert main(["hello", "--name", "caps"]) == 0
    out, err = capsys.readouterr()
    assert out == "hello caps\n"
    assert "broken command broken = tests.cap_opendal_core.no_such_module:X: cannot load" in err
    assert "'validate' is already taken" in err
    assert "expected a Command, got list" in err
    assert main(["hello", "--name", ""]) == 2
    assert "caps hello: error: a name, please" in capsys.readouterr().err


def _hello_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="world")


def _hello(args: argparse.Namespace) -> int:
    from cap_opendal_core.errors import InvalidInput

    if not args.name:
        raise InvalidInput("a name, please")
    print(f"hello {args.name}")
    return 0


HELLO = Command(help="say hello", add_arguments=_hello_arguments, run=_hello)
