"""The package's public surface: a short ``__all__`` of first-use names, everything else in a
submodule, every name exported before still importable from the top, and importing stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import cap_opendal_core
from cap_opendal_core import errors

# The contract (README.md, "API"): the error tree, then what hosting a flow needs first.
FIRST_USE = {
    "Effects",
    "Determinism",
    "validate_flow",
    "BindingManifest",
    "CapabilityBag",
    "preflight",
    "InvocationScope",
    "LayerSettings",
    "RetryPolicy",
    "__version__",
}


def test_all_is_the_error_tree_and_the_first_use_names() -> None:
    assert set(cap_opendal_core.__all__) == set(errors.__all__) | FIRST_USE
    assert len(cap_opendal_core.__all__) == len(set(cap_opendal_core.__all__))
    assert sorted(dir(cap_opendal_core)) == sorted(cap_opendal_core.__all__)


def test_every_public_name_resolves() -> None:
    for name in cap_opendal_core.__all__:
        assert getattr(cap_opendal_core, name) is not None, name


def test_every_lazy_name_is_public_in_its_submodule_and_the_same_object_from_the_top() -> None:
    """Names outside ``__all__`` live in a submodule's ``__all__``; the top-level name still works."""
    assert set(cap_opendal_core.__all__) - set(errors.__all__) - {"__version__"} <= set(
        cap_opendal_core._LAZY
    )
    for name, module in cap_opendal_core._LAZY.items():
        sub = importlib.import_module(f"cap_opendal_core.{module}")
        assert name in sub.__all__, f"{name} is not in cap_opendal_core.{module}.__all__"
        assert getattr(cap_opendal_core, name) is getattr(sub, name), name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        cap_opendal_core.no_such_thing  # noqa: B018


def test_import_leaves_heavy_dependencies_unloaded() -> None:
    code = (
        "import sys, cap_opendal_core\n"
        "heavy = [m for m in ('opendal', 'pydantic', 'httpx', 'structlog') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_submodule_reachable_as_attribute() -> None:
    code = "import cap_opendal_core as c; print(type(c.metrics.snapshot()).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "dict"
