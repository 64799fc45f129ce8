"""The Python half of the Workers harness; runs inside Pyodide, started by ``harness.mjs``.

It finds the checks the same way ``test_workers.py`` does (``async def check_*`` at the top level of
``checks/check_*.py``, read with ``ast``), imports each module just before running its checks, runs
every check against ``env`` with a timeout, and reports one JSON document per check through the
``report`` callback (harness.mjs prints it as one line on stdout). Python's own output goes to stderr.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import json
import re
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

CHECK_TIMEOUT_S = 60.0


def discover(checks_dir: Path) -> list[tuple[str, list[str]]]:
    """``[(module, [check names in source order])]`` for every ``check_*.py`` in ``checks_dir``."""
    found = []
    for path in sorted(checks_dir.glob("check_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = [
            node.name
            for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("check_")
        ]
        found.append((path.stem, names))
    return found


def _selected(module: str, name: str, only: Iterable[str]) -> bool:
    wanted = list(only)
    return not wanted or module in wanted or f"{module}::{name}" in wanted


async def run_checks(
    env: Any, checks_dir: str, report: Callable[[str], None], only: Iterable[str] = ()
) -> int:
    """Run the checks; return how many failed. ``only`` limits the run to modules or ``module::check``."""
    only = list(only)
    failures = 0
    ran = 0
    for module_name, names in discover(Path(checks_dir)):
        names = [n for n in names if _selected(module_name, n, only)]
        if not names:
            continue
        try:
            module = importlib.import_module(module_name)
        except BaseException:
            tb = traceback.format_exc()
            for name in names:
                report(
                    json.dumps({"name": f"{module_name}::{name}", "ok": False, "traceback": tb, "seconds": 0})
                )
            failures += len(names)
            ran += len(names)
            continue
        for name in names:
            ok, error, seconds, result = await _run_one(module, name, env)
            doc: dict[str, Any] = {
                "name": f"{module_name}::{name}",
                "ok": ok,
                "traceback": error,
                "seconds": seconds,
            }
            if result is not None:
                doc["result"] = result
            report(json.dumps(doc))
            failures += not ok
            ran += 1
    report(json.dumps({"done": True, "ran": ran, "failed": failures}))
    return failures


async def _run_one(module: Any, name: str, env: Any) -> tuple[bool, str | None, float, Any]:
    """Run one check. What it returns (JSON-serialisable) is reported as ``result``, so CPython tests
    can compare it with what another backend does (differential tests)."""
    started = time.monotonic()
    func = getattr(module, name, None)
    if not inspect.iscoroutinefunction(func):
        return False, f"{module.__name__}.{name} is not an async function after import", 0.0, None
    try:
        value = await asyncio.wait_for(func(env), CHECK_TIMEOUT_S)
    except TimeoutError:
        tb = f"timed out after {CHECK_TIMEOUT_S:.0f} s\n{traceback.format_exc()}"
        return False, tb, _since(started), None
    except BaseException:
        return False, traceback.format_exc(), _since(started), None
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        return False, f"the check's return value is not JSON-serialisable: {exc}", _since(started), None
    return True, None, _since(started), value


def _since(started: float) -> float:
    return round(time.monotonic() - started, 4)


def write_dist_info(site_packages: str, pyprojects: dict[str, str]) -> None:
    """Give each mounted source package a minimal ``.dist-info`` (name, version, entry points).

    The packages are imported from their ``src/`` folders, not installed, so without this
    ``importlib.metadata`` would not see them and plugin discovery through entry points would find
    nothing — unlike a deployed Worker, whose vendored packages carry their metadata.
    """
    import tomllib

    for folder, source in pyprojects.items():
        document = tomllib.loads(source)
        project = document["project"]
        name, version = project["name"], project.get("version") or _dynamic_version(folder, document)
        info = Path(site_packages) / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        groups: dict[str, dict[str, str]] = dict(project.get("entry-points", {}))
        if project.get("scripts"):
            groups["console_scripts"] = project["scripts"]
        lines = []
        for group, entries in groups.items():
            lines.append(f"[{group}]")
            lines.extend(f"{key} = {value}" for key, value in entries.items())
            lines.append("")
        (info / "entry_points.txt").write_text("\n".join(lines))
    importlib.invalidate_caches()


def _dynamic_version(folder: str, document: dict[str, Any]) -> str:
    """The version hatch reads at build time: ``__version__`` in the file ``[tool.hatch.version]`` names.

    The file is read from the package's mounted ``src/`` (``/cap/src/<folder>``), as the build would."""
    relative = document["tool"]["hatch"]["version"]["path"]
    text = (Path("/cap/src") / folder / Path(relative).relative_to("src")).read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{folder}: no __version__ in {relative}")
    return match.group(1)


def prepare(paths: list[str]) -> None:
    """Put the stub, source and check folders first on ``sys.path``; never write bytecode into them."""
    sys.dont_write_bytecode = True
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    importlib.invalidate_caches()
