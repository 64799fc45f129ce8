"""The local Durable Object runtime takes the embedded engine's ``durability`` flag."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObjectNamespace
from cap_opendal_core.errors import Misconfigured
from tests.cap_cloudflare_do.objects import Counter

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("durability", "level"), [(None, 1), ("process", 1), ("full", 2)])
async def test_durability_sets_sqlite_synchronous(tmp_path: Path, durability: Any, level: int) -> None:
    kwargs = {} if durability is None else {"durability": durability}
    async with DurableObjectNamespace.local(tmp_path / "do", Counter, **kwargs) as ns:
        runtime = ns.runtime
        assert runtime is not None
        db = runtime.store._db
        assert db.execute("PRAGMA synchronous").fetchone()[0] == level  # NORMAL = 1, FULL = 2


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Misconfigured, match="durability must be"):
        DurableObjectNamespace.local(tmp_path / "do", Counter, durability="disk")  # type: ignore[arg-type]
