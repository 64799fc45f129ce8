"""Runs the Pyodide checks in ``checks/`` against Miniflare's bindings; one pytest test per check.

The harness (``harness.mjs``: Miniflare + Pyodide in one Node process) starts once per session — it
takes a few seconds — and runs every check; each test below then reports one check's outcome, failing
with the Python traceback from inside Pyodide. Check names are found at collection time by reading the
check modules with ``ast`` (the harness uses the same rule), so a check that the harness never reports
fails instead of vanishing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.workers_harness import HarnessRun, discover_checks, parse_output

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.workers


@pytest.mark.parametrize("check", discover_checks())
def test_check(check: str, harness_run: HarnessRun) -> None:
    result = harness_run.results.get(check)
    if result is None:
        pytest.fail(
            f"the harness did not report {check} (exit status {harness_run.returncode}, "
            f"summary {harness_run.summary}); its stderr ends with:\n{harness_run.stderr_tail()}",
            pytrace=False,
        )
    if not result["ok"]:
        pytest.fail(f"{check} failed under Pyodide:\n{result['traceback']}", pytrace=False)


def test_harness_finished_cleanly(harness_run: HarnessRun) -> None:
    """Every check reported, the summary agrees, and the exit status matches the outcome."""
    assert harness_run.summary is not None, f"no summary line; stderr ends with:\n{harness_run.stderr_tail()}"
    expected = discover_checks()
    assert sorted(harness_run.results) == sorted(expected)
    assert harness_run.summary["ran"] == len(expected)
    failed = sum(not r["ok"] for r in harness_run.results.values())
    assert harness_run.summary["failed"] == failed
    assert harness_run.returncode == (1 if failed else 0), harness_run.stderr_tail()


def test_discovery_reads_only_top_level_async_checks(tmp_path: Path) -> None:
    (tmp_path / "check_sample.py").write_text(
        "async def check_one(env): ...\n"
        "def check_sync(env): ...\n"
        "async def helper(env): ...\n"
        "class C:\n    async def check_method(self, env): ...\n"
        "async def check_two(env): ...\n"
    )
    (tmp_path / "_support.py").write_text("async def check_hidden(env): ...\n")
    assert discover_checks(tmp_path) == ["check_sample::check_one", "check_sample::check_two"]


def test_output_parsing_ignores_noise() -> None:
    stdout = "\n".join(
        [
            "workerd says hello",
            '{"name": "m::check_a", "ok": true, "traceback": null, "seconds": 0.1}',
            "{not json",
            '{"name": "m::check_b", "ok": false, "traceback": "Traceback ...", "seconds": 0.2}',
            '{"done": true, "ran": 2, "failed": 1}',
        ]
    )
    results, summary = parse_output(stdout)
    assert sorted(results) == ["m::check_a", "m::check_b"]
    assert results["m::check_b"]["traceback"] == "Traceback ..."
    assert summary == {"done": True, "ran": 2, "failed": 1}
