"""The import contract (issue 16): core imports no capability package (nor ``cap_demo``); a capability
package imports core and itself only, never another capability package or ``cap_demo``.

Walked with :mod:`ast` over every module — imports inside functions and ``TYPE_CHECKING`` blocks
count too — so a lazy import cannot slip past. Packages meet only through core's plugin mechanism
(docs/preflight-and-wrangler.md); the queue's claim-check takes any object with the R2 interface.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = "cap_opendal_core"
CAPABILITIES = ("cap_cloudflare_kv", "cap_cloudflare_r2", "cap_cloudflare_queue", "cap_cloudflare_do")
# The demo flow uses all four capabilities, so it is a distribution of its own that depends on them;
# it may import anything of ours, and nothing of ours may import it.
DEMO = "cap_demo"


def _imports(path: Path) -> set[str]:
    """Top-level package names ``path`` imports (absolute imports only; relative stay inside)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package / "src" / package).rglob("*.py"))


def test_every_package_has_modules() -> None:
    for package in (CORE, *CAPABILITIES, DEMO):
        assert _modules(package), package


def test_core_imports_no_capability_package() -> None:
    bad: list[str] = []
    for path in _modules(CORE):
        rel = path.relative_to(REPO / CORE / "src").as_posix()
        bad.extend(f"{rel} imports {name}" for name in sorted(_imports(path) & {*CAPABILITIES, DEMO}))
    assert not bad, bad


@pytest.mark.parametrize("package", CAPABILITIES)
def test_a_capability_package_imports_core_but_no_other_capability(package: str) -> None:
    others = (set(CAPABILITIES) - {package}) | {DEMO}
    bad = [
        f"{path.relative_to(REPO).as_posix()} imports {name}"
        for path in _modules(package)
        for name in sorted(_imports(path) & others)
    ]
    assert not bad, bad
