"""The install paths the README gives a user, each run for real in fresh virtual environments.

``./dev dist`` builds and checks the six packages' sdists and wheels; then, per capability, a new
environment installs *that one* capability from the built files, and the test checks that no other
``cap-cloudflare-*`` distribution came with it, that importing it loads none of the server-side
dependencies (``python -X importtime``), and that a round trip on its embedded local backend works.
The same for an install from a checkout and from git with a subdirectory. Third-party wheels come from
``.venv/wheelhouse`` (``./dev setup`` downloads them from ``requirements/wheelhouse.lock``) with
``--no-index``, so this runs offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = REPO / ".venv" / "wheelhouse"
UV = Path(sys.executable).parent / "uv"
HEAVY = ("opendal", "pydantic", "httpx")

ROUND_TRIPS = {
    "cap-cloudflare-kv": """
        from cap_cloudflare_kv import KvNamespace

        async def main(root):
            async with KvNamespace.local(root) as kv:
                await kv.put("greeting", "hello")
                assert await kv.get("greeting") == "hello"
    """,
    "cap-cloudflare-r2": """
        from cap_cloudflare_r2 import R2Bucket

        async def main(root):
            async with R2Bucket.local(root) as bucket:
                await bucket.put("a/b.txt", b"hello")
                body = await bucket.get("a/b.txt")
                assert body is not None and await body.read() == b"hello"
    """,
    "cap-cloudflare-queue": """
        from cap_cloudflare_queue import Queue, QueueConsumer

        async def main(root):
            async with Queue.local(root, "jobs") as queue, QueueConsumer.local(root, "jobs") as consumer:
                await queue.send({"n": 1})
                batch = await consumer.pull()
                assert [m.body for m in batch.messages] == [{"n": 1}]
                batch.ack_all()
                await batch.settle()
    """,
    "cap-cloudflare-do": """
        from cap_cloudflare_do import Dedupe

        async def main(root):
            async with Dedupe.local(root) as dedupe:
                assert await dedupe.put_if_absent("event-1") is True
                assert await dedupe.put_if_absent("event-1") is False
    """,
}


def _run(args: list[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, check=False, cwd=cwd
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _venv(path: Path) -> Path:
    _run([UV, "venv", "--quiet", "--python", sys.executable, path])
    return path / "bin" / "python"


def _uv_install(python: Path, *requirements: str | Path, find_links: Path | None = None) -> None:
    links = ["--find-links", str(find_links)] if find_links else []
    _run(
        [
            UV,
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            WHEELHOUSE,
            *links,
            "--python",
            python,
            *requirements,
        ]
    )


def _ours(python: Path) -> dict[str, bool]:
    """Our installed distributions in that environment, each with whether it is an editable install."""
    script = textwrap.dedent(
        """
        import json, importlib.metadata as md
        ours = {}
        for dist in md.distributions():
            name = dist.metadata["Name"]
            if name.startswith("cap-"):
                direct = dist.read_text("direct_url.json") or "{}"
                ours[name] = bool(json.loads(direct).get("dir_info", {}).get("editable"))
        print(json.dumps(ours))
        """
    )
    found: dict[str, bool] = json.loads(_run([python, "-c", script], cwd=python.parents[2]).stdout)
    return found


def _round_trip(python: Path, distribution: str, root: Path) -> None:
    script = (
        textwrap.dedent(ROUND_TRIPS[distribution]) + "\nimport anyio, sys\nanyio.run(main, sys.argv[1])\n"
    )
    _run([python, "-c", script, root], cwd=root.parent)


def _heavy_imports(python: Path, module: str) -> list[str]:
    done = _run([python, "-X", "importtime", "-c", f"import {module}"], cwd=python.parents[2])
    loaded = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    return sorted({name for name in loaded if name.split(".")[0] in HEAVY})


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six packages built and checked by ``./dev dist`` (the command the README gives)."""
    if not WHEELHOUSE.is_dir():
        pytest.fail(".venv/wheelhouse is missing: run ./dev setup (./dev test does) first")
    out = tmp_path_factory.mktemp("dist")
    done = _run([REPO / "dev", "dist", out], cwd=REPO)
    assert "6 sdists and 6 wheels checked" in done.stdout
    return out


@pytest.mark.parametrize("distribution", sorted(ROUND_TRIPS))
def test_one_capability_from_built_distributions(dist: Path, tmp_path: Path, distribution: str) -> None:
    python = _venv(tmp_path / "venv")
    _uv_install(python, distribution, find_links=dist)
    assert _ours(python) == {"cap-opendal-core": False, distribution: False}
    module = distribution.replace("-", "_")
    assert _heavy_imports(python, module) == []
    assert _heavy_imports(python, "cap_opendal_core") == []
    _round_trip(python, distribution, tmp_path / "data")


def test_pip_install_with_find_links_as_the_readme_says(dist: Path, tmp_path: Path) -> None:
    """``pip install --find-links dist cap-cloudflare-kv`` with pip itself, in a stdlib venv."""
    _run([sys.executable, "-m", "venv", tmp_path / "venv"])
    python = tmp_path / "venv" / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", dist,
          "--find-links", WHEELHOUSE, "cap-cloudflare-kv"])  # fmt: skip
    assert _ours(python) == {"cap-opendal-core": False, "cap-cloudflare-kv": False}
    _round_trip(python, "cap-cloudflare-kv", tmp_path / "data")


def test_install_from_a_checkout(tmp_path: Path) -> None:
    """``uv pip install ./cap_opendal_core ./cap_cloudflare_r2`` from the repository root: real installs,
    not editable ones (the workspace's sources must not turn them into links to the checkout)."""
    python = _venv(tmp_path / "venv")
    _run([UV, "pip", "install", "--quiet", "--no-index", "--find-links", WHEELHOUSE, "--python", python,
          "./cap_opendal_core", "./cap_cloudflare_r2"], cwd=REPO)  # fmt: skip
    assert _ours(python) == {"cap-opendal-core": False, "cap-cloudflare-r2": False}
    _round_trip(python, "cap-cloudflare-r2", tmp_path / "data")


def test_install_from_git_with_a_subdirectory(tmp_path: Path) -> None:
    """The pinned-commit form: ``name @ git+URL@COMMIT#subdirectory=folder``, here with a file URL."""
    commit = _run(["git", "rev-parse", "HEAD"], cwd=REPO).stdout.strip()
    url = f"git+file://{REPO}@{commit}"
    python = _venv(tmp_path / "venv")
    _uv_install(
        python,
        f"cap-opendal-core @ {url}#subdirectory=cap_opendal_core",
        f"cap-cloudflare-queue @ {url}#subdirectory=cap_cloudflare_queue",
    )
    assert _ours(python) == {"cap-opendal-core": False, "cap-cloudflare-queue": False}
    _round_trip(python, "cap-cloudflare-queue", tmp_path / "data")
