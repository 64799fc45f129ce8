"""cap_opendal_core under Pyodide: it imports without the server-side dependencies.

A Worker pays for every import at cold start and cannot load opendal at all, so importing the core
must not reach opendal, pydantic, httpx (none of which is installed here) nor structlog.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from typing import Any

SERVER_ONLY = ("opendal", "pydantic", "httpx")
NOT_AT_IMPORT = (*SERVER_ONLY, "structlog")
PACKAGES = (
    "cap_opendal_core",
    "cap_cloudflare_kv",
    "cap_cloudflare_r2",
    "cap_cloudflare_queue",
    "cap_cloudflare_do",
)


def _fresh_import(module: str) -> set[str]:
    """Import ``module`` as if for the first time; return the names of all modules loaded then.

    Modules already imported by earlier checks are set aside and put back afterwards, so later
    checks keep the very same classes.
    """
    watched = {*PACKAGES, *NOT_AT_IMPORT}
    saved = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] in watched}
    for name in saved:
        del sys.modules[name]
    try:
        importlib.import_module(module)
        return set(sys.modules)
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] in watched]:
            del sys.modules[name]
        sys.modules.update(saved)


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


async def check_server_dependencies_are_absent(env: Any) -> None:
    # the premise of the next checks: these really are not importable under Pyodide here
    for name in SERVER_ONLY:
        assert importlib.util.find_spec(name) is None, f"{name} should not be installed in the harness"


async def check_core_imports_without_server_dependencies(env: Any) -> None:
    loaded = _fresh_import("cap_opendal_core")
    pulled = sorted(_top_level(loaded) & set(NOT_AT_IMPORT))
    assert not pulled, f"import cap_opendal_core pulled in {pulled}"
    assert "cap_opendal_core.ffi" not in loaded, "import cap_opendal_core imported ffi eagerly"


async def check_ffi_and_error_tree_import(env: Any) -> None:
    from cap_opendal_core import CapabilityError, ffi

    assert ffi.JS_NULL is not None, "this Pyodide has pyodide.ffi.jsnull"
    assert issubclass(CapabilityError, Exception)


async def check_every_package_imports_and_has_metadata(env: Any) -> None:
    for package in PACKAGES:
        pulled = sorted(_top_level(_fresh_import(package)) & set(SERVER_ONLY))
        assert not pulled, f"import {package} pulled in {pulled}"
        distribution = package.replace("_", "-")
        assert importlib.metadata.version(distribution), distribution


async def check_hint_meanings_come_from_the_installed_packages(env: Any) -> None:
    # core keeps only its own families; a lookup runs plugin discovery (entry points) on Workers too
    from cap_opendal_core.hints import BUILTIN_CONSTRAINTS, Effects, registry

    assert not any(c.hint.startswith("resource::kv") for c in BUILTIN_CONSTRAINTS)
    found = registry.lookup("resource::kv::write", "effect")
    assert found is not None, "the kv package's hint family was not discovered under Pyodide"
    assert (found.minimum, found.source) == (Effects.EFFECTFUL, "cap-cloudflare-kv")
    assert registry.lookup("resource::state::read", "determinism") is not None
