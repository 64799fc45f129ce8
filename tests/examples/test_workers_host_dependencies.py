"""examples/workers_host resolves for the Python Workers platform, from this repository.

``uv pip compile`` resolves the example's ``pyproject.toml`` for Pyodide (the platform pywrangler
bundles for), with ``[tool.uv.sources]`` pointing at the five package folders and ``cap_demo``. The
result must hold only pure-Python wheels — Pyodide cannot load a native extension that is not built
for it — none of the server-side dependencies (opendal, pydantic, httpx), and the cap-* packages from
the repository.
Third-party wheels come from ``.venv/wheelhouse`` with ``--no-index``, so this runs offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.workspace import MEMBERS, TESTING

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "workers_host"
WHEELHOUSE = REPO / ".venv" / "wheelhouse"
UV = Path(sys.executable).parent / "uv"


def resolve(platform: str, python: str) -> list[str]:
    """The example's resolved requirement lines (``name==version`` or a path) for one Pyodide platform."""
    env = {**os.environ, "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [str(UV), "pip", "compile", "pyproject.toml", "--quiet", "--no-header", "--no-annotate",
         "--python-platform", platform, "--python-version", python,
         "--no-index", "--find-links", str(WHEELHOUSE)],
        cwd=EXAMPLE, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [line.strip() for line in done.stdout.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    ("platform", "python"), [("wasm32-pyodide2024", "3.12"), ("wasm32-pyodide2025", "3.13")]
)
def test_the_worker_example_resolves_to_pure_python_from_the_repository(platform: str, python: str) -> None:
    lines = resolve(platform, python)
    paths = sorted(line for line in lines if "==" not in line)
    pinned = dict(line.split("==", 1) for line in lines if "==" in line)
    # every cap-* package the Worker runs on, from the repository (cap-testing is for the user's tests)
    runtime = sorted(f"../../{package}" for package in MEMBERS if package != TESTING)
    assert paths == runtime, "cap-* must come from the repository"
    assert {"opendal", "pydantic", "pydantic-core", "httpx", "httpcore"}.isdisjoint(pinned)
    assert {"anyio", "structlog"} <= set(pinned)
    for name, version in pinned.items():
        stem = re.sub(r"[-_.]+", "_", name)
        wheels = list(WHEELHOUSE.glob(f"{stem}-{version}-*.whl"))
        assert len(wheels) == 1, f"{name} {version}: no single wheel in the wheelhouse"
        assert wheels[0].name.endswith("-none-any.whl"), f"{wheels[0].name} is not pure Python"
