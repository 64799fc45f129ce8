"""As a user gets it: cap-testing built into a wheel, installed into a fresh environment outside the
repository, and the sample projects' tests run there — on the embedded backends and under
``workers_env``, whose Node side installs on first use into an empty cache (npm's and pip's own caches
serve the downloads here; in CI the registries are reachable).

Offline: our wheels are built with ``uv build --offline``; third-party ones come from
``.venv/wheelhouse`` and uv's cache (``--offline``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.workspace import REPO

from .sample_projects import NEEDS_NODE, SERVER_FLOW, SERVER_FLOW_OUTCOMES, WORKER, write_project

UV = Path(sys.executable).parent / "uv"
WHEELHOUSE = REPO / ".venv" / "wheelhouse"
BUILT = (
    "cap_opendal_core",
    "cap_cloudflare_kv",
    "cap_cloudflare_r2",
    "cap_cloudflare_queue",
    "cap_cloudflare_do",
    "cap_testing",
)


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    full = {**os.environ, "UV_NO_CONFIG": "1", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    full.pop("VIRTUAL_ENV", None)
    full.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({done.returncode}):\n"
        f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def user_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not WHEELHOUSE.is_dir():
        pytest.fail(".venv/wheelhouse is missing: run ./dev setup first")
    dist = tmp_path_factory.mktemp("dist")
    for folder in BUILT:
        _run([UV, "build", "--quiet", "--offline", "--no-build-isolation", "--python", sys.executable,
              "--out-dir", dist, REPO / folder], cwd=REPO)  # fmt: skip
    venv = tmp_path_factory.mktemp("user") / "venv"
    _run([UV, "venv", "--quiet", "--python", sys.executable, venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    _run([UV, "pip", "install", "--quiet", "--offline", "--find-links", dist, "--find-links", WHEELHOUSE,
          "--python", python, "cap-testing"], cwd=venv.parent)  # fmt: skip
    return python


def test_the_installed_plugin_runs_a_server_flow_project(user_python: Path, tmp_path: Path) -> None:
    write_project(tmp_path, SERVER_FLOW)
    out = subprocess.run(
        [user_python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    summary = out.stdout.strip().splitlines()[-1]
    assert f"{SERVER_FLOW_OUTCOMES['failed']} failed, {SERVER_FLOW_OUTCOMES['passed']} passed" in summary, (
        out.stdout
    )
    assert "EFFECT201 pure_total" in out.stdout


@pytest.mark.workers
@NEEDS_NODE
def test_the_installed_plugin_runs_a_worker_project(user_python: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_project(project, WORKER)
    out = _run([user_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=project,
               env={"CAP_TESTING_CACHE": str(tmp_path / "cache")})  # fmt: skip
    assert "4 passed" in out.splitlines()[-1], out
    # the Node side was installed on first use into the (empty) cache, from the shipped lockfile
    assert list((tmp_path / "cache" / "node").glob("*/node_modules/miniflare/package.json"))
