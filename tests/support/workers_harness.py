"""pytest plugin: the Workers harness (Miniflare + Pyodide in one Node process), run once a session.

``tests/workers/test_workers.py`` reports each Pyodide check as a test; other test modules use the
``harness_run`` fixture to read what a check returned (``harness_run.result("check_kv::check_x")``),
e.g. to compare the Miniflare binding with a local backend in a differential test.
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

__all__ = ["CHECKS_DIR", "HarnessRun", "discover_checks", "harness_run", "parse_output"]

HERE = Path(__file__).resolve().parents[1] / "workers"
CHECKS_DIR = HERE / "checks"
HARNESS = HERE / "harness.mjs"
HARNESS_TIMEOUT_S = 960
"""A hang guard past the harness's own (900 s, ``CAP_HARNESS_TIMEOUT_S``): loaded is slow, not hung."""
NODE_PACKAGES = ("miniflare", "pyodide")


def discover_checks(checks_dir: Path = CHECKS_DIR) -> list[str]:
    """``module::check`` for every top-level ``async def check_*`` in ``checks/check_*.py``."""
    names: list[str] = []
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

    def result(self, check: str) -> Any:
        """What ``check`` (``module::check_name``) returned; fails the calling test if it did not pass."""
        doc = self.results.get(check)
        if doc is None:
            pytest.fail(f"the harness did not report {check}:\n{self.stderr_tail()}", pytrace=False)
        if not doc["ok"]:
            pytest.fail(f"{check} failed under Pyodide:\n{doc['traceback']}", pytrace=False)
        return doc.get("result")

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
