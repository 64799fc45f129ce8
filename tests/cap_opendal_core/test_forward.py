"""``Forward`` and ``check_options``: the two helpers the capabilities' wrappers and constructors share."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.forward import Forward

if TYPE_CHECKING:
    from pathlib import Path


class Inner:
    def __init__(self) -> None:
        self.name = "n"
        self.other = 3


class Outer:
    __slots__ = ("_inner",)

    name: Forward[str] = Forward("_inner", "The inner object's name.")
    renamed: Forward[int] = Forward("_inner", attribute="other")

    def __init__(self) -> None:
        self._inner = Inner()


def test_forward_reads_the_inner_objects_attribute_of_the_same_name() -> None:
    outer = Outer()
    assert outer.name == "n"
    assert outer.renamed == 3
    outer._inner.name = "changed"
    assert outer.name == "changed"  # read each time, not copied


def test_forward_is_read_only_and_documented_like_a_property() -> None:
    outer = Outer()
    with pytest.raises(AttributeError, match="read-only"):
        outer.name = "x"
    assert isinstance(Outer.__dict__["name"], Forward)
    assert Outer.__dict__["name"].__doc__ == "The inner object's name."


def test_an_unknown_constructor_keyword_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(
        TypeError, match=r"KvNamespace\.local\(\) got an unexpected keyword argument 'setings'"
    ):
        KvNamespace.local(tmp_path / "kv", setings=None)  # type: ignore[call-arg]
    assert not (tmp_path / "kv").exists()
    with pytest.raises(Misconfigured, match="settings must be a LayerSettings"):
        R2Bucket.from_url("memory://", settings={"retries": 1})  # type: ignore[arg-type]
