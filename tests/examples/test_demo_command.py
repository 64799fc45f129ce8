"""``caps demo``: the ``cap-demo`` distribution's command, run through core's ``caps`` (which finds it
through the entry point group ``cap_opendal_core.commands``), in-process and once through the
installed script."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cap_demo.observe import declared_nodes
from cap_opendal_core.cli import main
from cap_opendal_core.plugins import discover

CAPS = Path(sys.executable).parent / "caps"


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
    assert list(nodes) == [*declared_nodes(), "peek_index"]  # the flow's nodes in order, then the wrong one
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
        async with QueueConsumer.local(data / "queues", "caps-demo-jobs") as consumer:
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
    for option in (
        "--data-dir",
        "--events",
        "--keep",
        "--clean",
        "--verbose",
        "--otel",
        "Dedupe",
        "no account",
    ):
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


def test_demo_otel_prints_the_run_as_a_span_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--data-dir", str(tmp_path / "d"), "--events", "4", "--otel"]) == 0
    out = capsys.readouterr().out
    tree = out[out.index("6b. Traces (--otel)") : out.index("7. Where the data lives")]
    lines = tree.splitlines()[1:]
    assert lines[0].strip().startswith("caps demo ")  # one trace for the whole run
    for expected in (
        "    node store_payload x4 ",
        "      r2.put x4 ",
        "      kv.put x4 ",
        "      queue.send_batch ",
        "      queue.pull ",
        "4 links to producer spans",
        "      dedupe.put_if_absent x4 ",
        "        do.storage.",  # the ledger's own storage calls, nested under the claim's span
        "[messaging.system=cloudflare_queues",
        "[db.system.name=cloudflare_workers_kv]",
    ):
        assert expected in tree, expected
    assert "--otel" not in out.replace("6b. Traces (--otel)", ""), "no 'not installed' notice"


def test_demo_otel_without_the_sdk_says_so_and_runs_anyway(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['opentelemetry.sdk'] = None  # as if opentelemetry-sdk were not installed\n"
        "from cap_opendal_core.cli import main\n"
        "sys.exit(main(['demo', '--data-dir', 'd', '--events', '2', '--otel']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "the OpenTelemetry SDK is not installed (pip install opentelemetry-sdk)" in proc.stdout
    assert "2/2 jobs" in proc.stdout
    assert "Traces (--otel)" not in proc.stdout
