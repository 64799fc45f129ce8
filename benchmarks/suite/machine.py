"""What the results were measured on: machine, load, versions, date and commit.

A benchmark figure means little without these, and the load average says how much the machine was
shared while the suite ran (the rows compare two sides in the same run so that load hits both).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["REPO", "load_average", "machine_info"]

REPO = Path(__file__).resolve().parents[2]
WORKERS = REPO / "tests" / "workers"
PYTHON_PACKAGES = (
    "cap-opendal-core",
    "cap-cloudflare-kv",
    "cap-cloudflare-r2",
    "cap-cloudflare-queue",
    "cap-cloudflare-do",
    "opendal",
    "anyio",
    "structlog",
    "httpx",
    "pydantic",
    "aiobotocore",
    "boto3",
    "cloudflare",
    "moto",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "?"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _node_versions() -> str:
    node = shutil.which("node")
    if node is None:
        return "node not installed"
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False)
        parts = [f"node {out.stdout.strip()}"]
    except (OSError, subprocess.TimeoutExpired):
        parts = ["node ?"]
    for package in ("miniflare", "pyodide"):
        manifest = WORKERS / "node_modules" / package / "package.json"
        try:
            parts.append(f"{package} {json.loads(manifest.read_text())['version']}")
        except (OSError, ValueError, KeyError):
            parts.append(f"{package} not installed")
    return ", ".join(parts)


def _commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "?"
    try:
        head = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "?"


def machine_info(load_at_start: str | None = None) -> dict[str, str]:
    """Label → value, in the order ``RESULTS.md`` shows them."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    libc = " ".join(platform.libc_ver()).strip()
    info = {
        "date (UTC)": now.isoformat().replace("+00:00", "Z"),
        "commit": _commit(),
        "CPU": f"{_cpu_model()}, {os.cpu_count()} logical CPUs",
        "memory": _memory(),
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()}{', ' + libc if libc else ''})",
        "Python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
    }
    if load_at_start is not None:
        info["load average 1/5/15 min, start → end"] = f"{load_at_start} → {load_average()}"
    info["packages"] = ", ".join(f"{name} {_version(name)}" for name in PYTHON_PACKAGES)
    info["Workers harness"] = _node_versions()
    return info
