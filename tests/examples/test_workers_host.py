"""The reference Workers host: its generated wrangler.toml is current, its project file is complete, and
the flow records the same hints on Miniflare's bindings as on the local backends.

The Worker itself cannot start offline (workerd downloads Pyodide), so its modules run in the Workers
harness (``tests/workers/checks/check_demo_flow.py``: the flow code and ``entry.py``'s ``fetch`` and
``queue`` handlers against Miniflare); this file reads what those checks returned.
"""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING, Any

from cap_opendal_core.cli import main
from tests.examples.conftest import REPO, WORKERS_HOST

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from cap_cloudflare_queue import MessageBatch
    from tests.support.workers_harness import HarnessRun

MANIFEST = "cap_demo/src/cap_demo/demo_ingest.bindings.toml"


def test_checked_in_wrangler_toml_is_what_caps_wrangler_renders(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)  # the header names the manifest by the path it was rendered from
    assert main(["wrangler", MANIFEST]) == 0
    rendered = capsys.readouterr().out
    checked_in = (WORKERS_HOST / "wrangler.toml").read_text(encoding="utf-8")
    assert checked_in == rendered, (
        "examples/workers_host/wrangler.toml is stale: regenerate it with\n"
        f"  caps wrangler {MANIFEST} -o examples/workers_host/wrangler.toml"
    )
    config = tomllib.loads(checked_in)
    assert (WORKERS_HOST / config["main"]).is_file()
    assert config["durable_objects"]["bindings"] == [{"name": "DEDUPE", "class_name": "DedupeObject"}]
    assert "class DedupeObject(" in (WORKERS_HOST / config["main"]).read_text()
    assert [p["binding"] for p in config["queues"]["producers"]] == ["JOBS"]


def test_pywrangler_project_vendors_the_five_packages_and_the_demo() -> None:
    project = tomllib.loads((WORKERS_HOST / "pyproject.toml").read_text(encoding="utf-8"))
    names = {dep.split(">")[0].split("<")[0].split("=")[0] for dep in project["project"]["dependencies"]}
    assert names == {
        "cap-opendal-core",
        "cap-cloudflare-kv",
        "cap-cloudflare-r2",
        "cap-cloudflare-queue",
        "cap-cloudflare-do",
        "cap-demo",  # the flow code itself
    }
    assert "workers-py" in project["dependency-groups"]["dev"]


def test_worker_modules_pass_in_the_harness(harness_run: HarnessRun) -> None:
    harness_run.result("check_demo_flow::check_worker_entry_fetch_and_queue")


def test_flow_records_the_same_hints_on_miniflare_and_locally(
    harness_run: HarnessRun, tmp_path: Path
) -> None:
    on_workers = harness_run.result("check_demo_flow::check_flow_nodes_on_miniflare_bindings")
    assert on_workers == _local_observations(tmp_path)


def _local_observations(tmp_path: Path) -> list[dict[str, Any]]:
    """The check's steps on the local backends: ingest twice, then consume every delivered job."""
    import anyio

    from cap_demo.flow import handle_jobs, ingest
    from cap_demo.local import LocalDemo
    from cap_demo.observe import FlowObserver
    from cap_opendal_core.scope import InvocationScope

    events: list[dict[str, Any]] = [
        {
            "id": f"local-{i}",
            "kind": ("view", "click", "purchase")[i % 3],
            **({"amount_cents": 100 * i} if i % 3 == 2 else {}),
        }
        for i in range(6)
    ]

    async def run() -> list[dict[str, Any]]:
        observer = FlowObserver()
        async with LocalDemo.open(tmp_path) as demo:
            with InvocationScope("fetch"):
                await ingest(demo.caps, events, observer)
                await ingest(demo.caps, events, observer)

            async def receive() -> MessageBatch:
                return await demo.consumer.pull(batch_size=12)

            report = await handle_jobs(demo.caps, receive, observer)
            assert (report.received, report.processed, report.duplicates) == (12, 6, 6)
        return [
            {
                "node": r.alias,
                "effects": r.effects.json,
                "determinism": r.determinism.json,
                "effect_hints": sorted(r.effect_hints),
                "determinism_hints": sorted(r.determinism_hints),
            }
            for r in observer.reports()
        ]

    result: list[dict[str, Any]] = anyio.run(run)
    return result
