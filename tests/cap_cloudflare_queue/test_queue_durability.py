"""The local queue takes the embedded engine's ``durability="process" | "full"`` flag; the earlier
``synchronous="normal" | "full"`` still works, with a ``DeprecationWarning``, and means the same."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_queue import Queue, QueueConsumer
from cap_cloudflare_queue.backends.local import LocalStore
from cap_opendal_core.errors import Misconfigured

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


def _pragma(store: LocalStore) -> int:
    return int(store._connection().execute("PRAGMA synchronous").fetchone()[0])


@pytest.mark.parametrize(("durability", "level"), [(None, 1), ("process", 1), ("full", 2)])
async def test_durability_sets_sqlite_synchronous(tmp_path: Path, durability: Any, level: int) -> None:
    store = LocalStore(tmp_path, durability=durability)
    assert _pragma(store) == level  # NORMAL = 1, FULL = 2
    assert store.synchronous == ("full" if level == 2 else "normal")
    await store.aclose()


@pytest.mark.parametrize(("synchronous", "durability"), [("normal", "process"), ("full", "full")])
async def test_synchronous_is_a_deprecated_alias(tmp_path: Path, synchronous: Any, durability: str) -> None:
    with pytest.warns(DeprecationWarning, match="durability="):
        queue = Queue.local(tmp_path, "jobs", synchronous=synchronous)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        consumer = QueueConsumer.local(tmp_path, "jobs", synchronous=synchronous)
    backends: list[Any] = [queue._backend, consumer._backend]
    for backend in backends:
        assert backend.store.durability == durability
    await queue.aclose()
    await consumer.aclose()


def test_bad_or_conflicting_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(Misconfigured, match="durability must be"):
        LocalStore(tmp_path, durability="disk")  # type: ignore[arg-type]
    with pytest.raises(Misconfigured, match="synchronous must be"):
        LocalStore(tmp_path, synchronous="extra")  # type: ignore[arg-type]
    with pytest.warns(DeprecationWarning, match="deprecated"), pytest.raises(Misconfigured, match="disagree"):
        LocalStore(tmp_path, durability="full", synchronous="normal")


async def test_queue_local_takes_durability(tmp_path: Path) -> None:
    async with Queue.local(tmp_path, "jobs", durability="full") as queue:
        await queue.send({"n": 1})
    async with QueueConsumer.local(tmp_path, "jobs", durability="full") as consumer:
        batch = await consumer.pull()
        assert [m.body for m in batch.messages] == [{"n": 1}]
