"""Group commit: write transactions queued on one store commit together, with one ``fsync``.

Why: under ``durability="full"`` every commit ``fsync``'s the WAL, and the disk's flush — not
SQLite — bounds how many commits a second one process makes. Callers that arrive while another
commit holds the write lock wait in a queue; the next caller to take the lock runs the whole queue
in one ``BEGIN IMMEDIATE … COMMIT`` (:func:`run_batch`), so eight waiting puts cost one flush.

What each caller still gets, exactly as if its transaction had run alone:

* its function runs inside the shared transaction, in arrival order, and sees the effects of those
  before it — a condition (create-if-absent, an etag) is evaluated against every earlier commit;
* each runs in its own ``SAVEPOINT``: if it raises, only its own changes are rolled back and only
  its caller gets the error — the others commit;
* every caller returns only after the shared ``COMMIT`` (and under ``"full"`` its ``fsync``): an
  acknowledged write is as durable as one committed on its own. If the commit itself fails, every
  caller whose function succeeded gets that error and nothing of the batch is applied.

A batch of one runs without savepoints: the single-transaction path, unchanged.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Any, Final

from . import faults

if TYPE_CHECKING:
    from collections.abc import Callable

    from .durability import Durability

__all__ = ["BATCH_MAX", "Pending", "run_batch"]

BATCH_MAX: Final = 64
"""At most this many transactions share one commit (bounds the time one commit holds the lock)."""


class Pending:
    """One caller's transaction: queued, then run (``done``) with its result or error."""

    __slots__ = ("done", "durability", "error", "fn", "released", "result")

    def __init__(self, fn: Callable[[Any], Any], durability: Durability) -> None:
        self.fn = fn
        self.durability: Durability = durability
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.released: list[str] = []


def run_batch(conn: sqlite3.Connection, batch: list[Pending], make_txn: Callable[[], Any]) -> list[Pending]:
    """Run ``batch`` in one transaction on ``conn`` (``BEGIN`` already issued); commit it.

    Marks every entry ``done`` and returns the entries that must run again: those whose changes
    were lost because another entry's error ended the whole transaction (SQLite does that on a
    full disk or an I/O error) — they ran against a transaction that no longer exists.
    """
    grouped = len(batch) > 1
    succeeded: list[Pending] = []
    again: list[Pending] = []
    for index, entry in enumerate(batch):
        txn = make_txn()
        if grouped:
            conn.execute("SAVEPOINT member")
        try:
            entry.result = entry.fn(txn)
        except BaseException as exc:
            entry.error = exc
            entry.done = True
            if not conn.in_transaction:  # the whole transaction is gone, not just this member
                again.extend(succeeded)
                again.extend(batch[index + 1 :])
                for lost in again:
                    lost.result, lost.error, lost.released = None, None, []
                return again
            if grouped:
                conn.execute("ROLLBACK TO member")
                conn.execute("RELEASE member")
            else:
                _rollback(conn)
                return again
            continue
        if grouped:
            conn.execute("RELEASE member")
            faults.reached("commit.grouped")
        entry.released = txn.released
        succeeded.append(entry)
    try:
        faults.reached("commit.before")
        conn.execute("COMMIT")
    except BaseException as exc:
        _rollback(conn)
        for entry in succeeded:
            entry.result, entry.error, entry.released = None, exc, []
    for entry in batch:
        entry.done = True
    return again


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
