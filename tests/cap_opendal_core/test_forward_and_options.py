"""``Forward`` and the ``**options`` checks: what the capabilities' wrappers, constructors and
``Unpack`` signatures share."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.errors import Misconfigured
from cap_opendal_core.forward import Forward

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


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


async def test_run_and_fetch_options_refuse_unknown_keywords(tmp_path: Path) -> None:
    """``**options: Unpack[…]`` signatures check their keywords as Python checks a listed signature."""
    from cap_cloudflare_do import DurableObject, DurableObjectNamespace
    from cap_cloudflare_queue import QueueConsumer

    class Echo(DurableObject):
        pass

    async with QueueConsumer.local(tmp_path / "q", "jobs") as consumer:

        async def handler(batch: object) -> None:
            raise AssertionError("never called")

        with pytest.raises(
            TypeError, match=r"QueueConsumer\.run\(\) got an unexpected keyword argument 'grace'"
        ):
            await consumer.run(handler, grace=1.0)  # type: ignore[call-arg]
    async with DurableObjectNamespace.local(":memory:", Echo) as ns:
        stub = ns.get_by_name("a")
        with pytest.raises(TypeError, match=r"fetch\(\) got an unexpected keyword argument 'verb'"):
            await stub.fetch("https://do/x", verb="POST")  # type: ignore[call-arg]
