"""Running the Workers harness (Miniflare + Pyodide, ``tests/workers/harness.mjs``) for a benchmark.

The benchmark checks live in ``tests/workers/bench/`` (``node harness.mjs --bench`` runs them instead
of the test suite's ``checks/``); the harness hands them the sizes as ``env.CAP_BENCH_WORKERS`` (JSON)
when the variable of that name is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

from tests.support.workers_harness import HARNESS, HERE, NODE_PACKAGES, parse_output

__all__ = ["HarnessUnavailable", "options", "run_checks"]

TIMEOUT_S = 900


class HarnessUnavailable(RuntimeError):
    """Node or the harness's node_modules/wheels are missing, or the harness could not run."""


def options(quick: bool) -> dict[str, int]:
    """Sizes for the benchmark checks: calls per side per repeat, repeats, import repeats."""
    if quick:
        return {"ops": 10, "repeats": 3, "import_repeats": 2}
    return {"ops": 40, "repeats": 5, "import_repeats": 5}


def run_checks(checks: list[str], *, quick: bool) -> dict[str, Any]:
    """Run ``module::check`` names in one harness process; their results by name."""
    node = shutil.which("node")
    if node is None:
        raise HarnessUnavailable("node is not installed (the Workers harness needs Node 20+)")
    missing = [p for p in NODE_PACKAGES if not (HERE / "node_modules" / p / "package.json").is_file()]
    if missing:
        raise HarnessUnavailable(f"tests/workers/node_modules lacks {', '.join(missing)}: run ./dev bench")
    env = dict(os.environ, CAP_BENCH_WORKERS=json.dumps(options(quick)))
    try:
        proc = subprocess.run(
            [node, str(HARNESS), "--bench", *checks],
            cwd=HERE,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessUnavailable(f"the Workers harness did not finish in {TIMEOUT_S} s") from exc
    results, _summary = parse_output(proc.stdout)
    out: dict[str, Any] = {}
    for name in checks:
        doc = results.get(name)
        if doc is None:
            tail = "\n".join(proc.stderr.strip().splitlines()[-30:])
            raise HarnessUnavailable(f"the harness did not report {name} (exit {proc.returncode}):\n{tail}")
        if not doc["ok"]:
            raise RuntimeError(f"{name} failed under Pyodide:\n{doc['traceback']}")
        out[name] = doc.get("result")
    return out
