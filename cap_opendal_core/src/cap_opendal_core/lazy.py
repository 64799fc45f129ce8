"""Lazy public names for a package's ``__init__``: one mechanism for core and every capability.

A Python Worker pays for every import at cold start, so packages export their public names lazily:
``import cap_cloudflare_kv`` loads almost nothing, and ``KvNamespace`` imports its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["by_name", "lazy_exports"]


def by_name(modules: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """``{name: submodule}`` from ``{submodule: names}``: a package declares its lazy names grouped
    by the submodule that defines them, as its ``TYPE_CHECKING`` imports read."""
    return {name: module for module, names in modules.items() for name in names}


def lazy_exports(
    package: str,
    exports: Mapping[str, str],
    namespace: dict[str, Any],
    *,
    submodules: bool = False,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose public name N lives in submodule ``exports[N]``.

    A resolved name is stored in ``namespace`` (the package's globals) so later lookups are plain
    attribute reads. With ``submodules=True`` an unknown name that is a submodule is imported and
    returned, as ``package.submodule`` works once something has imported it.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            if submodules:
                try:
                    return importlib.import_module(f".{name}", package)
                except ModuleNotFoundError as exc:
                    if exc.name != f"{package}.{name}":
                        raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(namespace["__all__"])

    return __getattr__, __dir__
