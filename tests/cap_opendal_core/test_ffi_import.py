"""cap_opendal_core.ffi is Pyodide-only: on CPython it refuses clearly, and nothing else imports it.

Its behaviour is tested under Pyodide against real bindings in ``tests/workers/checks``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "cap_opendal_core" / "src" / "cap_opendal_core"


def test_importing_ffi_outside_pyodide_names_pyodide() -> None:
    code = (
        "import sys\n"
        "try:\n"
        "    import cap_opendal_core.ffi\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "    print('ffi-left-behind' if 'cap_opendal_core.ffi' in sys.modules else 'clean')\n"
        "else:\n"
        "    print('imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, second = out.strip().splitlines()
    assert first.startswith("ImportError ")
    assert "Pyodide" in first
    assert "cap_opendal_core.ffi" in first
    assert second == "clean"


def test_importing_ffi_in_process_raises_import_error() -> None:
    sys.modules.pop("cap_opendal_core.ffi", None)
    with pytest.raises(ImportError, match=r"only under Pyodide"):
        import cap_opendal_core.ffi  # noqa: F401
    assert "cap_opendal_core.ffi" not in sys.modules


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported: any depth of if/try/with/class
    blocks, but not inside functions."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(nodes: list[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            for child in ("body", "orelse", "finalbody", "handlers"):
                block = getattr(node, child, None)
                if isinstance(block, list):
                    visit(block)

    visit(list(tree.body))
    return found


def _imports_ffi(node: ast.Import | ast.ImportFrom, module_path: Path) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == "cap_opendal_core.ffi" for alias in node.names)
    if node.level == 0:
        target = node.module or ""
    else:
        # the package a relative import starts from: the module's folder (also for __init__.py)
        package = list(module_path.relative_to(PACKAGE_DIR.parent).parent.parts)
        base = package[: len(package) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    if target == "cap_opendal_core.ffi":
        return True
    return target == "cap_opendal_core" and any(alias.name == "ffi" for alias in node.names)


def test_no_core_module_imports_ffi_at_import_time() -> None:
    offenders: list[str] = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if path.name == "ffi.py" and path.parent == PACKAGE_DIR:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders.extend(
            f"{path.relative_to(PACKAGE_DIR)}:{node.lineno}"
            for node in _module_level_imports(tree)
            if _imports_ffi(node, path)
        )
    assert not offenders, f"these import cap_opendal_core.ffi eagerly (do it inside a function): {offenders}"


@pytest.mark.parametrize(
    ("source", "filename", "expected"),
    [
        ("from . import ffi\n", "backend.py", True),
        ("from .ffi import to_js_options\n", "backend.py", True),
        ("from ..ffi import call_binding\n", "sub/backend.py", True),
        ("import cap_opendal_core.ffi\n", "backend.py", True),
        ("from cap_opendal_core import ffi\n", "backend.py", True),
        ("if True:\n    from . import ffi\n", "backend.py", True),
        ("def f():\n    from . import ffi\n", "backend.py", False),
        ("from . import errors\n", "backend.py", False),
        ("from .sub import ffi\n", "backend.py", False),
    ],
)
def test_the_import_scan_itself(source: str, filename: str, expected: bool) -> None:
    path = PACKAGE_DIR / filename
    tree = ast.parse(source)
    assert any(_imports_ffi(n, path) for n in _module_level_imports(tree)) is expected


def test_lazy_public_names_do_not_import_ffi() -> None:
    code = (
        "import sys, cap_opendal_core\n"
        "for name in cap_opendal_core._LAZY:\n"
        "    try:\n"
        "        getattr(cap_opendal_core, name)\n"
        "    except Exception as exc:  # other helpers' modules may be unfinished; only ffi matters\n"
        "        if isinstance(exc, ImportError) and 'Pyodide' in str(exc):\n"
        "            raise SystemExit(f'{name} needs ffi: {exc}')\n"
        "print('cap_opendal_core.ffi' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.strip() == "False"
