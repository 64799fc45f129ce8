"""Typed stubs (``DurableObjectNamespace.get(oid, Interface)``): the runtime half of what mypy checks
in ``tests/typing`` — calls outside the interface are refused, and so is an interface a stub could
not honour."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pytest

from cap_cloudflare_do import DurableObjectNamespace
from cap_opendal_core.errors import InvalidInput
from tests.cap_cloudflare_do.objects import Counter

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


class CounterApi(Protocol):
    async def increment(self, by: int = 1) -> int: ...
    async def get_count(self) -> int: ...


class ReadOnlyCounter(Protocol):
    async def get_count(self) -> int: ...


async def test_a_typed_stub_calls_the_object(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path / "do", Counter) as ns:
        counter = ns.get(ns.id_from_name("a"), CounterApi)
        assert await counter.increment(2) == 2
        assert await counter.get_count() == 2
        reader = ns.get_by_name("a", ReadOnlyCounter)
        assert await reader.get_count() == 2
        with pytest.raises(AttributeError, match="'increment' is not an RPC method of ReadOnlyCounter"):
            reader.increment  # type: ignore[attr-defined]  # noqa: B018
        # the untyped stub reaches every method, as before
        assert await ns.get_by_name("a").echo("x") == "x"


class SyncApi:
    def increment(self, by: int) -> int:
        return by


async def test_an_interface_a_stub_cannot_honour_is_refused(tmp_path: Path) -> None:
    async with DurableObjectNamespace.local(tmp_path / "do", Counter) as ns:
        oid = ns.id_from_name("a")
        with pytest.raises(InvalidInput, match=r"SyncApi.increment must be 'async def'") as err:
            ns.get(oid, SyncApi)
        assert err.value.field == "interface"
        with pytest.raises(InvalidInput, match="interface must be a class"):
            ns.get_by_name("a", len)
        with pytest.raises(InvalidInput, match="interface must be a class"):
            ns.get(oid, SyncApi())  # type: ignore[call-overload]
