"""Group commit (:mod:`cap_opendal_core.embedded.grouping`): transactions queued on a store's write
lock share one commit, and each caller still gets exactly its own outcome.

Deterministic: the test holds the write lock itself until every caller is queued, so the batch is
known — no sleeps decide what is grouped.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from cap_opendal_core.embedded import Store, Txn, acquire

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA = "CREATE TABLE IF NOT EXISTS t (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = acquire(str(tmp_path.resolve()), kind="test", schema=SCHEMA, capability="test")
    s.hold()
    s.open()
    yield s
    s.let_go()


def _create(key: str, value: str, ran_on: list[int]) -> Any:
    def fn(txn: Txn) -> bool:
        ran_on.append(threading.get_ident())
        if txn.execute("SELECT 1 FROM t WHERE key = ?", (key,)).fetchone() is not None:
            return False
        txn.execute("INSERT INTO t VALUES (?, ?)", (key, value))
        return True

    return fn


def _queued_together(store: Store, fns: list[Any], durability: Any = "full") -> list[Any]:
    """Run every ``fn`` in its own thread, all queued before the write lock is free; their outcomes."""
    outcomes: list[Any] = [None] * len(fns)

    def call(i: int) -> None:
        try:
            outcomes[i] = ("ok", store.transact(fns[i], durability))
        except Exception as exc:
            outcomes[i] = ("error", exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    with store._write_lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(store._queue) < len(fns):
            assert time.monotonic() < deadline, "the callers never queued"
            time.sleep(0.001)
    for thread in threads:
        thread.join(30)
    return outcomes


def _rows(store: Store) -> dict[str, str]:
    with store.reading() as conn:
        return dict(conn.execute("SELECT key, value FROM t"))


def test_queued_transactions_commit_together_each_with_its_own_result(store: Store) -> None:
    ran_on: list[int] = []
    fns = [_create(f"k{i}", f"v{i}", ran_on) for i in range(6)] + [_create("k0", "late", ran_on)]
    outcomes = _queued_together(store, fns)
    assert len(set(ran_on)) == 1, "the queued transactions did not run as one batch"
    assert [o[1] for o in outcomes[:6]] == [True] * 6
    assert outcomes[6] == ("ok", False), "a condition must see the batch's earlier members"
    assert _rows(store) == {f"k{i}": f"v{i}" for i in range(6)}


def test_one_failing_member_fails_only_its_own_caller(store: Store) -> None:
    ran_on: list[int] = []

    def failing(txn: Txn) -> None:
        txn.execute("INSERT INTO t VALUES ('bad', 'x')")
        raise ValueError("condition failed")

    fns = [_create("a", "1", ran_on), failing, _create("b", "2", ran_on)]
    outcomes = _queued_together(store, fns)
    assert outcomes[0] == ("ok", True)
    assert outcomes[1][0] == "error"
    assert isinstance(outcomes[1][1], ValueError)
    assert outcomes[2] == ("ok", True)
    assert _rows(store) == {"a": "1", "b": "2"}, "the failing member's changes must be rolled back alone"


def test_a_member_that_ends_the_transaction_makes_the_others_run_again(store: Store) -> None:
    """SQLite ends the whole transaction on some errors (a full disk); the others must not be lost."""
    ran_on: list[int] = []

    def ends_it(txn: Txn) -> None:
        txn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    fns = [_create("a", "1", ran_on), ends_it, _create("b", "2", ran_on)]
    outcomes = _queued_together(store, fns)
    assert outcomes[0] == ("ok", True)
    assert outcomes[1][0] == "error"
    assert outcomes[2] == ("ok", True)
    assert _rows(store) == {"a": "1", "b": "2"}


def test_a_batch_of_one_behaves_as_a_plain_transaction(store: Store) -> None:
    def failing(txn: Txn) -> None:
        txn.execute("INSERT INTO t VALUES ('x', 'y')")
        raise KeyError("no")

    with pytest.raises(KeyError):
        store.transact(failing, "process")
    assert store.transact(_create("x", "z", []), "process") is True
    assert _rows(store) == {"x": "z"}


def test_callers_queued_on_a_closed_store_are_refused(store: Store) -> None:
    from cap_opendal_core.errors import Misconfigured

    outcomes: list[Any] = []

    def call() -> None:
        try:
            store.transact(_create("a", "1", []), "full")
        except Exception as exc:
            outcomes.append(exc)

    thread = threading.Thread(target=call)
    with store._write_lock:
        thread.start()
        deadline = time.monotonic() + 30
        while not store._queue:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        store.is_open = False  # close() needs the lock: close the connections by hand, as it would
        store._closed = True
        store._res.close()
    thread.join(30)
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], Misconfigured)


# --- one event loop's tasks: one worker-thread hop per group (async_group) -----------------------


@pytest.mark.anyio
async def test_tasks_of_one_loop_commit_in_groups_each_with_its_own_outcome(store: Store) -> None:
    import anyio

    from cap_opendal_core.embedded.async_group import transact_grouped

    ran_on: list[int] = []
    outcomes: dict[int, Any] = {}

    def failing(txn: Txn) -> None:
        txn.execute("INSERT INTO t VALUES ('bad', 'x')")
        raise ValueError("no")

    async def call(i: int) -> None:
        fn = failing if i == 5 else _create(f"k{i % 10}", f"v{i}", ran_on)
        try:
            outcomes[i] = ("ok", await transact_grouped(store, fn, "full"))
        except ValueError as exc:
            outcomes[i] = ("error", exc)

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(call, i)
    assert outcomes[5][0] == "error"
    created = [i for i, o in outcomes.items() if o == ("ok", True)]
    assert sorted(i % 10 for i in created) == list(range(10)), "each key created once (k5 by task 15)"
    assert all(o == ("ok", False) for i, o in outcomes.items() if i != 5 and i not in created)
    assert "bad" not in _rows(store)
    assert len(_rows(store)) == 10
    assert store.loop_queues == {}, "a drained loop queue is forgotten"
