"""Runs the Pyodide checks in ``checks/`` against Miniflare's bindings; one pytest test per check.

The harness (``harness.mjs``: Miniflare + Pyodide in one Node process) starts once per session — it
takes a few seconds — and runs every check; each test below then reports one check's outcome, failing
with the Python traceback from inside Pyodide. Check names are found at collection time by reading the
check modules with ``ast`` (the harness uses the same rule), so a check that the harness never reports
fails instead of vanishing.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
CHECKS_DIR = HERE / "checks"
HARNESS = HERE / "harness.mjs"
HARNESS_TIMEOUT_S = 240
NODE_PACKAGES = ("miniflare", "pyodide")

pytestmark = pytest.mark.workers


def discover_checks(checks_dir: Path = CHECKS_DIR) -> list[str]:
    """``module::check`` for every top-level ``async def check_*`` in ``checks/check_*.py``."""
    names = []
    for path in sorted(checks_dir.glob("check_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names.extend(
            f"{path.stem}::{node.name}"
            for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("check_")
        )
    return names


@dataclass
class HarnessRun:
    returncode: int
    stderr: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Any] | None = None

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(self.stderr.rstrip().splitlines()[-lines:])


def parse_output(stdout: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The per-check JSON lines and the final summary; other lines (if any) are ignored."""
    results: dict[str, dict[str, Any]] = {}
    summary = None
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict) and doc.get("done") is True:
            summary = doc
        elif isinstance(doc, dict) and isinstance(doc.get("name"), str) and "ok" in doc:
            results[doc["name"]] = doc
    return results, summary


@pytest.fixture(scope="session")
def harness_run() -> HarnessRun:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the Workers harness needs Node 20+")
    missing = [
        name for name in NODE_PACKAGES if not (HERE / "node_modules" / name / "package.json").is_file()
    ]
    if missing:
        pytest.fail(
            f"tests/workers/node_modules lacks {', '.join(missing)}: run ./dev test "
            "(it runs npm ci in tests/workers and downloads the Pyodide wheels)",
            pytrace=False,
        )
    try:
        proc = subprocess.run(
            [node, str(HARNESS)],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=HARNESS_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(
            f"the Workers harness did not finish in {HARNESS_TIMEOUT_S} s:\n{stderr[-4000:]}", pytrace=False
        )
    results, summary = parse_output(proc.stdout)
    return HarnessRun(proc.returncode, proc.stderr, results, summary)


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
