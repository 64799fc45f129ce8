"""The `caps` command line, in-process and once through the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cap_opendal_core.cli import main
from cap_opendal_core.hints import registry
from cap_opendal_core.plugins import discover
from tests.support.fixtures import example_flow

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


def test_demo_runs_the_flow_and_a_second_run_finds_it_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "demo"
    assert main(["demo", "--data-dir", str(data), "--events", "12"]) == 0
    out = capsys.readouterr().out
    for plugin in discover():
        assert plugin.distribution in out
    assert "no diagnostics: every node declares" in out
    # the deliberately wrong node: caught by the validator, and again by its scope at run time
    assert "EFFECT201 peek_index hint=resource::kv::write declared=pure required=effectful" in out
    assert "DET301 peek_index hint=resource::kv::write declared=strict required=best_effort" in out
    assert "DET302 peek_index hint=resource::kv declared=strict" in out
    assert "no diagnostics: all 4 bindings present and compatible" in out
    assert "stored 12 new payload(s)" in out
    assert "12/12 jobs" in out
    assert "12 counted once each, 0 duplicate(s)" in out
    for heading in ("Declared vs observed", "Metrics per capability", "Where the data lives"):
        assert heading in out

    record = json.loads((data / "last-run.json").read_text())
    assert record["validate"] == []
    assert record["preflight"] == []
    assert {d["code"] for d in record["wrong_node"]} == {"EFFECT201", "DET301"}
    nodes = {n["node"]: n for n in record["nodes"]}
    assert list(nodes) == [
        "ingest",
        "store_payload",
        "index_event",
        "enqueue_job",
        "consume_jobs",
        "summarize",
        "peek_index",
    ]
    for alias, node in nodes.items():
        assert (node["diagnostics"] == []) == (alias != "peek_index"), alias
    assert nodes["store_payload"]["runs"] == 12
    assert nodes["consume_jobs"]["effect_hints"] == [
        "resource::queue::consume",
        "resource::dedupe::write",
        "resource::kv::read",
    ]
    assert nodes["peek_index"]["observed"] == {"effects": "effectful", "determinism": "best_effort"}
    assert record["metrics"]["r2"]["put"] >= 12
    assert record["metrics"]["dedupe"]["put_if_absent"] == 12
    assert record["summary"]["events"] == 12
    rendered = tomllib.loads((data / "wrangler.toml").read_text())
    assert rendered["durable_objects"]["bindings"] == [{"name": "DEDUPE", "class_name": "DedupeObject"}]

    # twice is safe: everything is found, nothing counted again
    assert main(["demo", "--data-dir", str(data), "--events", "12"]) == 0
    out = capsys.readouterr().out
    assert "stored 0 new payload(s)" in out
    assert "found 12 event(s) already ingested by an earlier run" in out
    assert "0 counted once each, 12 duplicate(s) skipped by Dedupe" in out
    assert "summary.json now counts 12 event(s) in total" in out
    assert json.loads((data / "last-run.json").read_text())["summary"]["events"] == 12

    # more events: only the new ones count; --clean removes the data directory afterwards
    assert main(["demo", "--data-dir", str(data), "--events", "15", "--clean"]) == 0
    out = capsys.readouterr().out
    assert "3 counted once each, 12 duplicate(s)" in out
    assert "summary.json now counts 15 event(s)" in out
    assert not data.exists()


def test_demo_data_is_real_and_readable_with_the_capability_packages(tmp_path: Path) -> None:
    import anyio

    from cap_cloudflare_kv import KvNamespace
    from cap_cloudflare_queue import QueueConsumer
    from cap_cloudflare_r2 import R2Bucket

    data = tmp_path / "demo"
    assert main(["demo", "--data-dir", str(data), "--events", "3"]) == 0

    async def read_back() -> None:
        async with R2Bucket.local(data / "r2" / "payloads") as bucket:
            body = await bucket.get("events/evt-000002.json")
            assert body is not None
            assert json.loads(await body.read())["id"] == "evt-000002"
            summary = await bucket.get("summary.json")
            assert summary is not None
            assert json.loads(await summary.read())["events"] == 3
        async with KvNamespace.local(data / "kv" / "index") as kv:
            entry = await kv.get("event:evt-000003", "json")
            assert entry["key"] == "events/evt-000003.json"
            assert len(entry["sha256"]) == 64
        async with QueueConsumer.local("caps-demo-jobs", data / "queues") as consumer:
            assert (await consumer.pull()).messages == (), "every job was acknowledged"

    anyio.run(read_back)


def test_demo_rejects_bad_options_before_doing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for events in ("0", "10001", "-3"):
        assert main(["demo", "--data-dir", str(tmp_path / "d"), "--events", events]) == 2
        assert "--events must be from 1 to 10000" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["demo", "--data-dir", str(blocker / "sub"), "--events", "1"]) == 2
    captured = capsys.readouterr()
    assert "cannot use --data-dir" in captured.err
    assert captured.out == "", "nothing is printed before the data directory is usable"


def test_demo_names_a_missing_capability_package(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['cap_cloudflare_do'] = None  # as if cap-cloudflare-do were not installed\n"
        "from cap_opendal_core.cli import main\n"
        "sys.exit(main(['demo', '--data-dir', 'd']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install cap-cloudflare-do" in proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "d").exists()


def test_demo_keeps_per_call_logs_out_unless_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import structlog

    before = structlog.get_config()
    assert main(["demo", "--data-dir", str(tmp_path / "d"), "--events", "2"]) == 0
    assert "capability.call" not in capsys.readouterr().err
    assert main(["demo", "--data-dir", str(tmp_path / "d"), "--events", "2", "--verbose"]) == 0
    err = capsys.readouterr().err
    assert err.count("capability.call") >= 10, "every call is logged with --verbose"
    assert "op=put_if_absent" in err
    assert structlog.get_config() == before, "the application's structlog setup is restored"


def test_demo_help_explains_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--data-dir", "--events", "--keep", "--clean", "--verbose", "Dedupe", "no account"):
        assert option in out
    with pytest.raises(SystemExit) as info:
        main(["demo", "--keep", "--clean"])
    assert info.value.code == 2


def test_demo_in_a_real_subprocess_uses_caps_under_the_working_directory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(CAPS), "demo", "--events", "20"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", "no log lines unless --verbose"
    assert "20/20 jobs" in proc.stdout
    assert (tmp_path / ".caps" / "demo" / "last-run.json").is_file()
    assert "consume [" in proc.stdout
    assert "\r" not in proc.stdout, "not a terminal: no redrawing"


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
