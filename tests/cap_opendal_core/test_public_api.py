"""The package's public names: every one resolves, and importing stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cap_opendal_core


def test_every_public_name_resolves() -> None:
    assert set(cap_opendal_core._LAZY) <= set(cap_opendal_core.__all__)
    for name in cap_opendal_core.__all__:
        assert getattr(cap_opendal_core, name) is not None, name


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
